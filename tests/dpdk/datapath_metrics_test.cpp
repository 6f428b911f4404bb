// The data path's metrics as a scrape sees them (DatapathMetrics::Collect, then the
// Prometheus text format), after frames went through the real worker functions; and the
// worker liveness check (WorkerProgress).
// Test addresses (see harness.hpp): client 10.50.0.100:40000 -> web 10.96.0.10:80/TCP
// (backend 10.50.0.11:8080); 10.96.0.99 is no service. The tx test sends on a net_ring
// port ("net_ring_metrics...") whose ring holds 7 frames.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "dpdk_app/datapath_metrics.hpp"
#include "dpdk_app/worker_progress.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/tcp_session.hpp"

namespace nicproxy::testing {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using Labels = std::vector<ClientMetric::Label>;

/// The sample of `name` whose labels include all of `labels`; fails the test when none.
const ClientMetric* sample(const std::vector<MetricFamily>& families, const std::string& name, const Labels& labels) {
  for (const MetricFamily& f : families) {
    if (f.name != name) continue;
    for (const ClientMetric& m : f.metric) {
      bool all = true;
      for (const auto& wanted : labels) {
        all = all && std::find(m.label.begin(), m.label.end(), wanted) != m.label.end();
      }
      if (all) return &m;
    }
  }
  ADD_FAILURE() << "no sample " << name << " with the labels asked for";
  return nullptr;
}

double counter(const std::vector<MetricFamily>& f, const std::string& name, const Labels& labels) {
  const ClientMetric* m = sample(f, name, labels);
  return m != nullptr ? m->counter.value : -1;
}
double gauge(const std::vector<MetricFamily>& f, const std::string& name, const Labels& labels) {
  const ClientMetric* m = sample(f, name, labels);
  return m != nullptr ? m->gauge.value : -1;
}

DatapathSources sourcesOf(Harness& h) {
  DatapathSources s;
  s.workers.push_back({0, 7, &h.counters(0), h.flows(0).capacity(), nullptr});
  s.ports.push_back({0, 0, "p0"});
  s.ports.push_back({1, 1, "p1"});
  s.provider = &h.provider();
  s.tscHz = h.hz();
  s.xstats = false;  // the harness's ports are not ethdevs
  return s;
}

TEST(DatapathMetrics, FramesThroughTheWorkerShowInTheScrape) {
  Harness h;
  const Bytes syn = build(clientTcp(kWebVip, 80));
  const Bytes stray = build(clientTcp(kUnknownVip, 80));
  ASSERT_EQ(h.run({syn, stray}).size(), 1u);  // the SYN to web is forwarded, the other dropped
  h.housekeeping();                            // sets the flows gauge, as every worker loop does
  const DatapathMetrics metrics(sourcesOf(h));
  const std::vector<MetricFamily> f = metrics.Collect();

  const Labels worker0port0{{"worker", "0"}, {"port", "p0"}};
  EXPECT_EQ(counter(f, "nicproxy_port_rx_packets_total", worker0port0), 2);
  EXPECT_EQ(counter(f, "nicproxy_port_rx_bytes_total", worker0port0), static_cast<double>(syn.size() + stray.size()));
  EXPECT_EQ(counter(f, "nicproxy_port_rx_packets_total", {{"worker", "0"}, {"port", "p1"}}), 0);
  EXPECT_EQ(counter(f, "nicproxy_drops_total", {{"worker", "0"}, {"reason", "not_for_us"}}), 1);
  EXPECT_EQ(counter(f, "nicproxy_drops_total", {{"worker", "0"}, {"reason", "flow_table_full"}}), 0);
  EXPECT_EQ(counter(f, "nicproxy_flows_created_total", {{"worker", "0"}}), 1);
  EXPECT_EQ(gauge(f, "nicproxy_flows", {{"worker", "0"}}), 1);
  EXPECT_EQ(gauge(f, "nicproxy_flows_capacity", {{"worker", "0"}}), h.flows(0).capacity());
  EXPECT_EQ(gauge(f, "nicproxy_worker_info", {{"worker", "0"}, {"lcore", "7"}}), 1);
  // The standard services' frontends are in the index, which has room to spare.
  const double frontends = gauge(f, "nicproxy_frontend_index_slots", {{"table", "frontends"}});
  EXPECT_GE(frontends, 8);
  EXPECT_GT(gauge(f, "nicproxy_frontend_index_capacity", {{"table", "frontends"}}), frontends);

  // What Prometheus reads: the text format, one line per sample.
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, f);
  EXPECT_NE(text.str().find("nicproxy_port_rx_packets_total{worker=\"0\",port=\"p0\"} 2\n"), std::string::npos)
      << text.str();
  EXPECT_NE(text.str().find("# TYPE nicproxy_drops_total counter\n"), std::string::npos);
}

TEST(DatapathMetrics, FlowTableFullCountsRefusedConnections) {
  Harness::Options options;
  options.flowCapacity = 4;
  Harness h(options);
  std::vector<TcpSession> sessions;  // established: nothing to evict for a new one
  for (uint16_t i = 0; i < 4; ++i) {
    sessions.emplace_back(h, kWebVip, 80, static_cast<uint16_t>(40000 + i));
    sessions.back().open();
  }
  h.run({build(clientTcp(kWebVip, 80, 41000)), build(clientTcp(kWebVip, 80, 41001))});
  h.housekeeping();
  const std::vector<MetricFamily> f = DatapathMetrics(sourcesOf(h)).Collect();
  EXPECT_EQ(counter(f, "nicproxy_flows_refused_total", {{"worker", "0"}}), 2);
  EXPECT_EQ(gauge(f, "nicproxy_flows", {{"worker", "0"}}), 4);
  EXPECT_EQ(gauge(f, "nicproxy_flows_capacity", {{"worker", "0"}}), 4);
}

TEST(DatapathMetrics, LoopHistogramIsCumulativeWithInf) {
  WorkerCounters c;
  c.loopBuckets[0] = 10;                 // <= 5 us
  c.loopBuckets[3] = 2;                  // (25, 50] us
  c.loopBuckets[kLoopBuckets - 1] = 1;   // past the last bound
  c.loopCycles = 3'000'000'000;          // 1.5 s at 2 GHz
  DatapathSources s;
  s.workers.push_back({0, 1, &c, 16, nullptr});
  s.tscHz = 2'000'000'000;
  s.xstats = false;
  const std::vector<MetricFamily> f = DatapathMetrics(s).Collect();
  const ClientMetric* h = sample(f, "nicproxy_worker_loop_duration_seconds", {{"worker", "0"}});
  ASSERT_NE(h, nullptr);
  ASSERT_EQ(h->histogram.bucket.size(), kLoopBuckets);
  EXPECT_EQ(h->histogram.bucket[0].cumulative_count, 10u);
  EXPECT_DOUBLE_EQ(h->histogram.bucket[0].upper_bound, 5e-6);
  EXPECT_EQ(h->histogram.bucket[2].cumulative_count, 10u);
  EXPECT_EQ(h->histogram.bucket[3].cumulative_count, 12u);
  EXPECT_EQ(h->histogram.bucket[kLoopBuckets - 2].cumulative_count, 12u);
  EXPECT_EQ(h->histogram.bucket.back().cumulative_count, 13u);
  EXPECT_TRUE(std::isinf(h->histogram.bucket.back().upper_bound));
  EXPECT_EQ(h->histogram.sample_count, 13u);
  EXPECT_DOUBLE_EQ(h->histogram.sample_sum, 1.5);
}

/// What `promtool check metrics` says about `families` in the text format (empty: all
/// good); nullopt when promtool is not installed.
std::optional<std::string> promtoolComplaints(const std::vector<MetricFamily>& families) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
  const std::string path = "/tmp/" + uniqueName("nicproxy_metrics") + ".txt";
  {
    std::ofstream out(path);
    prometheus::TextSerializer().Serialize(out, families);
  }
  std::string complaints;
  FILE* p = popen(("promtool check metrics < " + path + " 2>&1").c_str(), "r");
  char buffer[512];
  while (p != nullptr && std::fgets(buffer, sizeof buffer, p) != nullptr) complaints += buffer;
  const int status = p != nullptr ? pclose(p) : -1;
  std::remove(path.c_str());
  if (status != 0 && complaints.empty()) complaints = "promtool exited with " + std::to_string(status);
  return complaints;
}

struct RingPort {
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  int port = -1;
  ~RingPort() {
    if (port >= 0) {
      rte_eth_dev_stop(static_cast<uint16_t>(port));
      rte_eth_dev_close(static_cast<uint16_t>(port));
    }
    rte_mbuf* m = nullptr;
    while (tx != nullptr && rte_ring_dequeue(tx, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    rte_ring_free(rx);
    rte_ring_free(tx);
  }
};

TEST(DatapathMetrics, TxCountsWhatTheQueueTookAndXstatsAreRead) {
  Harness h;
  // A real ethdev for port index 0: net_ring, whose tx ring takes 7 frames.
  RingPort ring;
  ring.rx = rte_ring_create(uniqueName("mrx").c_str(), 8, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  ring.tx = rte_ring_create(uniqueName("mtx").c_str(), 8, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  ASSERT_NE(ring.rx, nullptr);
  ASSERT_NE(ring.tx, nullptr);
  ring.port = rte_eth_from_rings(uniqueName("net_ring_metrics").c_str(), &ring.rx, 1, &ring.tx, 1, SOCKET_ID_ANY);
  ASSERT_GE(ring.port, 0);
  const auto portId = static_cast<uint16_t>(ring.port);
  WorkerContext& ctx = h.context();
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(portId, 1, 1, &conf), 0);
  ASSERT_EQ(rte_eth_rx_queue_setup(portId, 0, 8, SOCKET_ID_ANY, nullptr, ctx.pool), 0);
  ASSERT_EQ(rte_eth_tx_queue_setup(portId, 0, 8, SOCKET_ID_ANY, nullptr), 0);
  ASSERT_EQ(rte_eth_dev_start(portId), 0);
  h.plane().ports[0].portId = portId;

  // Ten frames in port 0's tx batch, of which the ring takes 7: the other 3 are dropped
  // as tx_full and not counted as sent.
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 10; ++i) frames.push_back(build(clientTcp(kWebVip, 80, static_cast<uint16_t>(41000 + i))));
  for (const Bytes& frame : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
    ASSERT_NE(m, nullptr);
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size())), frame.data(), frame.size());
    enqueueFrame(ctx, 0, m);
  }
  flushTx(ctx);

  DatapathSources s = sourcesOf(h);
  s.ports[0].portId = portId;
  s.xstats = true;
  s.ports.resize(1);  // port index 1 is not an ethdev here
  const std::vector<MetricFamily> f = DatapathMetrics(s).Collect();
  const Labels worker0port0{{"worker", "0"}, {"port", "p0"}};
  EXPECT_EQ(counter(f, "nicproxy_port_tx_packets_total", worker0port0), 7);
  EXPECT_EQ(counter(f, "nicproxy_port_tx_bytes_total", worker0port0), static_cast<double>(7 * frames[0].size()));
  EXPECT_EQ(counter(f, "nicproxy_drops_total", {{"worker", "0"}, {"reason", "tx_full"}}), 3);
  // The ethdev's own view: net_ring counts what it sent in its basic xstats.
  EXPECT_EQ(counter(f, "nicproxy_port_xstats_total", {{"port", "p0"}, {"stat", "tx_good_packets"}}), 7);

  // Every family, the xstats included, passes Prometheus's own lint.
  const std::optional<std::string> complaints = promtoolComplaints(f);
  if (!complaints) GTEST_SKIP() << "promtool is not installed (Debian package prometheus)";
  EXPECT_EQ(*complaints, "");
}

TEST(WorkerProgress, FailsNamingTheStalledWorkerAndPassesAfterForget) {
  using namespace std::chrono_literals;
  Counter moving, stuck;
  WorkerProgress progress(5s);
  const auto t0 = WorkerProgress::Clock::time_point{} + 1h;
  progress.watch({{0, 1, &moving}, {1, 2, &stuck}}, t0);
  ++moving;
  EXPECT_EQ(progress.check(t0 + 3s), std::nullopt);  // nobody stalled for 5 s yet
  ++moving;
  const std::optional<std::string> verdict = progress.check(t0 + 6s);
  ASSERT_TRUE(verdict.has_value());
  EXPECT_NE(verdict->find("worker 1 on lcore 2"), std::string::npos) << *verdict;
  EXPECT_EQ(verdict->find("worker 0"), std::string::npos) << *verdict;
  ++stuck;  // it moves again: healthy at once
  EXPECT_EQ(progress.check(t0 + 7s), std::nullopt);
  // The moving one stops: counted from the last probe that saw it move.
  EXPECT_EQ(progress.check(t0 + 11s), std::nullopt);
  EXPECT_TRUE(progress.check(t0 + 13s).has_value());
  progress.forget();
  EXPECT_EQ(progress.check(t0 + 60s), std::nullopt);
}

}  // namespace
}  // namespace nicproxy::testing
