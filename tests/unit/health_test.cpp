// Tests: control/proxier_health (kube-proxy's health semantics, with the clock handed in)
// and daemon/health_server (/healthz and /livez over real HTTP on 127.0.0.1, a free port,
// with cpp-httplib's client; kube-proxy's bodies, headers and metrics).
//   ProxierHealth.HealthyUntilAQueuedUpdateIsLate   kube-proxy's isHealthy: start-up, queued, late, updated
//   ProxierHealth.OldestQueuedUpdateCounts          a stream of changes does not keep it young
//   ProxierHealth.LivenessChecksAndNodeEligibility  a failing check makes it unhealthy; the Node does not
//   ProxierHealth.TimeoutIsTwiceTheModesSyncPeriod  iptables/nftables/ipvs/dpdk syncPeriod
//   HealthServer.GoTimeFormat                       Go's time.String() as kube-proxy prints it
//   HealthServer.AnswersAsKubeProxy                 exact bodies for 200 and 503
//   HealthServer.ServesHealthzAndLivez              real HTTP: codes, headers, 404, kubeproxy_proxy_*_total
//   HealthServer.PortInUseIsRetried                 bind failure logged, served once the port is free
//   HealthServer.StopWhileRetryingReturnsAtOnce     stop() does not wait out the 5 s retry
//   HealthServer.SecondServerDoesNotSharePort       no SO_REUSEPORT: a second nicproxy cannot take probes
#include <gtest/gtest.h>

#include <httplib.h>
#include <prometheus/registry.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <sstream>
#include <thread>

#include "control/config.hpp"
#include "control/proxier_health.hpp"
#include "control/proxy_metrics.hpp"
#include "daemon/health_server.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;
using Clock = ProxierHealth::Clock;

// 2024-05-01 10:00:00 UTC.
const Clock::time_point kT0 = Clock::time_point(std::chrono::seconds(1714557600));

TEST(ProxierHealth, HealthyUntilAQueuedUpdateIsLate) {
  ProxierHealth health(4s);
  EXPECT_TRUE(health.healthy(kT0));  // starting up
  health.updated(kT0);
  health.queuedUpdate(kT0 + 1s);
  EXPECT_TRUE(health.healthy(kT0 + 4999ms));  // queued, not late yet
  const ProxierHealth::Status late = health.status(kT0 + 5s);
  EXPECT_FALSE(late.healthy);
  EXPECT_EQ(late.lastUpdated, kT0);
  ASSERT_EQ(late.problems.size(), 1u);
  EXPECT_EQ(late.problems[0], "changes queued at 2024-05-01 10:00:01 UTC are not programmed after the health timeout (4 s)");
  EXPECT_EQ(health.status(kT0 + 9s).problems, late.problems);  // one text per incident: logged once
  health.updated(kT0 + 6s);
  EXPECT_TRUE(health.healthy(kT0 + 60s));  // nothing owed: healthy however long
  EXPECT_EQ(health.status(kT0 + 60s).lastUpdated, kT0 + 6s);
}

TEST(ProxierHealth, OldestQueuedUpdateCounts) {
  ProxierHealth health(2s);
  health.queuedUpdate(kT0);
  health.queuedUpdate(kT0 + 1500ms);
  EXPECT_FALSE(health.healthy(kT0 + 2s));
}

TEST(ProxierHealth, LivenessChecksAndNodeEligibility) {
  ProxierHealth health(2s);
  bool stuck = false;
  health.addLivenessCheck([&]() -> std::optional<std::string> {
    if (stuck) return "worker lcore 3 made no progress for 5 s";
    return std::nullopt;
  });
  EXPECT_TRUE(health.healthy(kT0));
  stuck = true;
  const ProxierHealth::Status status = health.status(kT0);
  EXPECT_FALSE(status.healthy);
  EXPECT_EQ(status.problems, std::vector<std::string>{"worker lcore 3 made no progress for 5 s"});
  stuck = false;
  health.setNodeEligible(false);  // /healthz's business, not healthy()'s
  EXPECT_TRUE(health.healthy(kT0));
  EXPECT_FALSE(health.nodeEligible());
}

TEST(ProxierHealth, TimeoutIsTwiceTheModesSyncPeriod) {
  Config config;
  config.iptables.syncPeriod = 3s;
  config.nftables.syncPeriod = 5s;
  config.ipvs.syncPeriod = 7s;
  config.syncPeriod = 11s;
  config.mode = ProxyMode::Iptables;
  EXPECT_EQ(healthTimeoutFor(config), 6s);
  config.mode = ProxyMode::Nftables;
  EXPECT_EQ(healthTimeoutFor(config), 10s);
  config.mode = ProxyMode::Ipvs;
  EXPECT_EQ(healthTimeoutFor(config), 14s);
  config.mode = ProxyMode::Dpdk;
  EXPECT_EQ(healthTimeoutFor(config), 22s);
  EXPECT_EQ(healthTimeoutFor(Config{}), 60s);  // kube-proxy's default syncPeriod 30 s
}

TEST(HealthServer, GoTimeFormat) {
  EXPECT_EQ(goTimeString(kT0), "2024-05-01 10:00:00 +0000 UTC");
  EXPECT_EQ(goTimeString(kT0 + 500ms), "2024-05-01 10:00:00.5 +0000 UTC");
  EXPECT_EQ(goTimeString(kT0 + std::chrono::nanoseconds(123456789)), "2024-05-01 10:00:00.123456789 +0000 UTC");
  EXPECT_EQ(goTimeString(Clock::time_point{}), "0001-01-01 00:00:00 +0000 UTC");
}

TEST(HealthServer, AnswersAsKubeProxy) {
  ProxierHealth::Status good;
  good.lastUpdated = kT0;
  const auto now = kT0 + 2s;
  HealthAnswer a = healthzAnswer(good, true, now);
  EXPECT_EQ(a.status, 200);
  // Healthy: lastUpdated is currentTime, as kube-proxy answers.
  EXPECT_EQ(a.body, R"({"lastUpdated": "2024-05-01 10:00:02 +0000 UTC","currentTime": "2024-05-01 10:00:02 +0000 UTC", "nodeEligible": true})");
  a = healthzAnswer(good, false, now);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.body, R"({"lastUpdated": "2024-05-01 10:00:00 +0000 UTC","currentTime": "2024-05-01 10:00:02 +0000 UTC", "nodeEligible": false})");
  a = livezAnswer(good, now);
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, R"({"lastUpdated": "2024-05-01 10:00:02 +0000 UTC","currentTime": "2024-05-01 10:00:02 +0000 UTC"})");
  ProxierHealth::Status late = good;
  late.healthy = false;
  a = livezAnswer(late, now);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.body, R"({"lastUpdated": "2024-05-01 10:00:00 +0000 UTC","currentTime": "2024-05-01 10:00:02 +0000 UTC"})");
}

// Waits (at most 10 s: a bound for a broken build, not a timing assertion) for the
// server's port.
int waitForPort(const HealthServer& server) {
  for (int i = 0; i < 1000 && server.port() == 0; ++i) std::this_thread::sleep_for(10ms);
  return server.port();
}

double counterValue(prometheus::Registry& registry, const std::string& name, const std::string& code) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "code" && label.value == code) return metric.counter.value;
      }
    }
  }
  return 0;
}

TEST(HealthServer, ServesHealthzAndLivez) {
  prometheus::Registry registry;
  ProxyMetrics metrics(registry);
  ProxierHealth health(1h);
  health.updated(Clock::now());
  HealthServer server({"127.0.0.1", 0}, health, &metrics);
  server.start();
  const int port = waitForPort(server);
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);

  auto res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(res->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(res->body.find(R"(, "nodeEligible": true})"), std::string::npos) << res->body;

  health.setNodeEligible(false);  // the ToBeDeletedByClusterAutoscaler taint
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_NE(res->body.find(R"(, "nodeEligible": false})"), std::string::npos) << res->body;
  res = client.Get("/livez");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body.find("nodeEligible"), std::string::npos) << res->body;

  health.queuedUpdate(Clock::now() - 2h);  // an owed sync, late
  res = client.Get("/livez");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);

  res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(res->body, "404 page not found\n");

  server.stop();
  EXPECT_FALSE(client.Get("/healthz"));  // closed
  EXPECT_EQ(counterValue(registry, "kubeproxy_proxy_healthz_total", "200"), 1);
  EXPECT_EQ(counterValue(registry, "kubeproxy_proxy_healthz_total", "503"), 1);
  EXPECT_EQ(counterValue(registry, "kubeproxy_proxy_livez_total", "200"), 1);
  EXPECT_EQ(counterValue(registry, "kubeproxy_proxy_livez_total", "503"), 1);
}

// A TCP socket listening on 127.0.0.1, any port (another program holding it); closed
// when it goes.
class PortHolder {
 public:
  PortHolder() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), length) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("cannot hold a port");
    }
    port_ = ntohs(address.sin_port);
  }
  ~PortHolder() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_ = 0;
};

TEST(HealthServer, PortInUseIsRetried) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  auto holder = std::make_unique<PortHolder>();
  const int port = holder->port();
  ProxierHealth health(1h);
  HealthServer server({"127.0.0.1", static_cast<uint16_t>(port)}, health, nullptr);
  server.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(server.port(), 0);
  const std::string expected = "/healthz and /livez server cannot listen on 127.0.0.1:" + std::to_string(port) +
                               ": Address already in use; retrying every 5 s";
  EXPECT_NE(log.str().find(expected), std::string::npos) << log.str();
  holder.reset();  // the port is free: served within the next retry
  EXPECT_EQ(waitForPort(server), port);
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/livez");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  spdlog::default_logger()->sinks().pop_back();
}

TEST(HealthServer, StopWhileRetryingReturnsAtOnce) {
  PortHolder holder;
  ProxierHealth health(1h);
  HealthServer server({"127.0.0.1", static_cast<uint16_t>(holder.port())}, health, nullptr);
  server.start();
  std::this_thread::sleep_for(100ms);
  const auto before = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
}

// A second server on the same address:port (a second nicproxy on the node) must fail to
// bind, not share the port: the kernel would hand it half the probes, here answered 503.
TEST(HealthServer, SecondServerDoesNotSharePort) {
  ProxierHealth health(1h);
  HealthServer first({"127.0.0.1", 0}, health, nullptr);
  first.start();
  const int port = waitForPort(first);
  ASSERT_GT(port, 0);
  ProxierHealth ineligible(1h);
  ineligible.setNodeEligible(false);
  HealthServer second({"127.0.0.1", static_cast<uint16_t>(port)}, ineligible, nullptr, 50ms);
  second.start();
  std::this_thread::sleep_for(200ms);  // a few attempts
  EXPECT_EQ(second.port(), 0);
  for (int i = 0; i < 20; ++i) {
    httplib::Client client("127.0.0.1", port);  // a new connection each time
    const auto res = client.Get("/healthz");
    ASSERT_TRUE(res) << "probe " << i;
    ASSERT_EQ(res->status, 200) << "probe " << i;
  }
}

}  // namespace
}  // namespace nicproxy
