// The metrics server (daemon/metrics_server.hpp) and the set of scrape-time collectables
// (control/metric_sources.hpp), with a real socket on 127.0.0.1 and cpp-httplib's client.
// Test addresses: 127.0.0.1 on a port the kernel picked free.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include "control/scrape_collectables.hpp"
#include "control/proxy_metrics.hpp"
#include "daemon/metrics_server.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;

// A socket bound to 127.0.0.1 on a free port; listening when asked (then the port is taken).
struct LoopbackSocket {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  uint16_t port = 0;
  LoopbackSocket() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    socklen_t length = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    port = ntohs(address.sin_port);
  }
  ~LoopbackSocket() { release(); }
  void release() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

uint16_t freePort() { return LoopbackSocket().port; }

bool waitBound(const MetricsServer& server, std::chrono::milliseconds limit = 5s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!server.bound() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(10ms);
  return server.bound();
}

TEST(MetricsServer, ServesTheRegistryInTextFormat) {
  prometheus::Registry registry;
  ProxyMetrics metrics(registry);
  metrics.serviceChangesTotal.Increment(3);
  metrics.syncProxyRulesDuration.Observe(0.003);
  const uint16_t port = freePort();
  const MetricsServer server({"127.0.0.1", port}, {&registry}, "nftables");
  ASSERT_TRUE(waitBound(server));

  httplib::Client client("127.0.0.1", port);
  const auto response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(response->body.find("# TYPE kubeproxy_sync_proxy_rules_service_changes_total counter\n"
                                "kubeproxy_sync_proxy_rules_service_changes_total 3"),
            std::string::npos)
      << response->body;
  EXPECT_NE(response->body.find("kubeproxy_sync_proxy_rules_duration_seconds_bucket{le=\"0.004\"} 1"),
            std::string::npos);
  EXPECT_NE(response->body.find("kubeproxy_sync_proxy_rules_duration_seconds_count 1"), std::string::npos);

  const auto mode = client.Get("/proxyMode");
  ASSERT_TRUE(mode);
  EXPECT_EQ(mode->body, "nftables");
  const auto other = client.Get("/healthz");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 404);
}

// kube-proxy's behaviour: an address in use is retried, never fatal.
TEST(MetricsServer, RetriesWhileTheAddressIsInUse) {
  prometheus::Registry registry;
  LoopbackSocket taken;
  ASSERT_EQ(listen(taken.fd, 1), 0);
  const MetricsServer server({"127.0.0.1", taken.port}, {&registry}, "iptables", 50ms);
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(server.bound());
  taken.release();
  EXPECT_TRUE(waitBound(server));
  httplib::Client client("127.0.0.1", taken.port);
  const auto response = client.Get("/metrics");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(MetricsServer, StopsCleanlyWhileRetrying) {
  prometheus::Registry registry;
  LoopbackSocket taken;
  ASSERT_EQ(listen(taken.fd, 1), 0);
  const auto start = std::chrono::steady_clock::now();
  { const MetricsServer server({"127.0.0.1", taken.port}, {&registry}, "iptables"); }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);  // not the 5 s retry wait
}

// A second server on the same address:port (a second nicproxy on the node) must fail to
// bind, not share the port: the kernel would hand it half the scrapes.
TEST(MetricsServer, SecondServerDoesNotSharePort) {
  prometheus::Registry registry;
  const uint16_t port = freePort();
  const MetricsServer first({"127.0.0.1", port}, {&registry}, "nftables");
  ASSERT_TRUE(waitBound(first));
  const MetricsServer second({"127.0.0.1", port}, {&registry}, "iptables", 50ms);
  std::this_thread::sleep_for(200ms);  // a few attempts
  EXPECT_FALSE(second.bound());
  for (int i = 0; i < 20; ++i) {
    httplib::Client client("127.0.0.1", port);  // a new connection each time
    const auto response = client.Get("/proxyMode");
    ASSERT_TRUE(response) << "scrape " << i;
    ASSERT_EQ(response->body, "nftables") << "scrape " << i;
  }
}

struct FixedFamily : prometheus::Collectable {
  std::string name;
  explicit FixedFamily(std::string n) : name(std::move(n)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = name;
    family.help = "test";
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric metric;
    metric.gauge.value = 1;
    family.metric.push_back(metric);
    return {family};
  }
};

// The registry first, then what the modes added to the daemon's ScrapeCollectables.
TEST(MetricsServer, RendersTheRegistryThenTheCollectables) {
  prometheus::Registry registry;
  prometheus::BuildCounter().Name("first_total").Help("test").Register(registry).Add({}).Increment();
  ScrapeCollectables collectables;
  FixedFamily second("second");
  collectables.add(&second);
  const std::string text = renderMetrics({&registry, &collectables});
  EXPECT_LT(text.find("first_total 1"), text.find("second 1")) << text;
  collectables.remove(&second);
  EXPECT_EQ(renderMetrics({&registry, &collectables}).find("second"), std::string::npos);
}

}  // namespace
}  // namespace nicproxy
