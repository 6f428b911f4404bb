// What the telemetry commands report (dpdk_app/inspect_views.hpp, inspect_mailbox.hpp),
// against what the real data path does.
// Test addresses (see harness.hpp): client 10.50.0.100; "multi" 10.96.0.30:80 ->
// 10.50.0.11-13:8080; "web" 10.96.0.10:80 -> 10.50.0.11:8080; "empty" 10.96.0.20:80 (no
// endpoints); 10.96.0.99 no service; "new" 10.97.9.9:80 -> 10.50.0.12:8080 (added later).
//   Inspect.TracePredictsTheBackendTheWorkerPicks
//   Inspect.TraceReportsNoFrontendAndReject
//   Inspect.ServicesAgreeAfterASyncAndDisagreeBeforeIt
//   Inspect.WorkerAnswersAFlowQueryInBoundedSlices
#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "dpdk_app/inspect_mailbox.hpp"
#include "dpdk_app/inspect_views.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/services.hpp"

namespace nicproxy::testing {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TraceRequest request(uint32_t source, uint16_t sourcePort, uint32_t vip, uint16_t port) {
  TraceRequest r;
  r.source = source;
  r.sourcePort = sourcePort;
  r.destination = vip;
  r.port = port;
  r.protocol = Protocol::Tcp;
  return r;
}

TEST(Inspect, TracePredictsTheBackendTheWorkerPicks) {
  Harness h;
  for (uint16_t clientPort = 40000; clientPort < 40064; ++clientPort) {
    const auto sent = h.run(clientTcp(kMultiVip, 80, clientPort).build());
    ASSERT_EQ(sent.size(), 1u);
    const uint32_t picked = destinationIpOf(sent[0].frame);
    const TraceView view = traceFrontend(request(kClientIp, clientPort, kMultiVip, 80), h.provider().writer());
    EXPECT_TRUE(contains(view.frontend, "10.96.0.30:80/TCP of default/multi")) << view.frontend;
    EXPECT_EQ(view.backend, formatIpv4(picked) + ":8080 (Maglev)") << "client port " << clientPort;
    EXPECT_EQ(view.candidates.size(), 3u);  // the not-ready endpoint is no candidate
  }
  const TraceView noPort = traceFrontend(request(kClientIp, 0, kMultiVip, 80), h.provider().writer());
  EXPECT_TRUE(contains(noPort.backend, "depends on the source port")) << noPort.backend;
}

TEST(Inspect, TraceReportsNoFrontendAndReject) {
  Harness h;
  const TraceView none = traceFrontend(request(kClientIp, 40000, kUnknownVip, 80), h.provider().writer());
  EXPECT_EQ(none.frontend, "none: no service port has 10.96.0.99:80/TCP");
  const TraceView empty = traceFrontend(request(kClientIp, 40000, kEmptyVip, 80), h.provider().writer());
  EXPECT_TRUE(contains(empty.verdict, "rejected: no endpoints")) << empty.verdict;
  EXPECT_EQ(empty.backend, "");
}

TEST(Inspect, ServicesAgreeAfterASyncAndDisagreeBeforeIt) {
  Harness h;
  const ServiceTable published = standardServices();
  const ServicesView agreed = compareServices(&published, h.provider().writer(), "");
  EXPECT_TRUE(agreed.disagreements.empty()) << agreed.disagreements.front();
  EXPECT_EQ(agreed.lines.size(), published.size());
  for (const std::string& line : agreed.lines) EXPECT_TRUE(line.ends_with(": ok")) << line;

  // The control view moves on (an endpoint more for "multi", a new port) before a sync.
  ServicePort multi = *published.find(ServicePortName{"default", "multi", "tcp", Protocol::Tcp});
  multi.endpoints.push_back(makeEndpoint(ipv4(10, 50, 0, 15), 8080));
  const ServiceTable moved =
      withPorts(published, {multi, makePort("new", ipv4(10, 97, 9, 9), 80, {makeEndpoint(kBackend2Ip, 8080)})});
  const ServicesView before = compareServices(&moved, h.provider().writer(), "multi");
  std::string all;
  for (const std::string& d : before.disagreements) all += d + "\n";
  EXPECT_TRUE(contains(all, "default/new:tcp: not in the workers' index")) << all;
  EXPECT_TRUE(contains(all, "default/multi:tcp: frontend 10.96.0.30:80/TCP holds "
                            "10.50.0.11:8080,10.50.0.12:8080,10.50.0.13:8080, the control view says "
                            "10.50.0.11:8080,10.50.0.12:8080,10.50.0.13:8080,10.50.0.15:8080"))
      << all;
  ASSERT_EQ(before.lines.size(), 1u);  // the filter
  EXPECT_TRUE(before.lines[0].ends_with("DISAGREE")) << before.lines[0];

  h.sync(moved);
  const ServicesView after = compareServices(&moved, h.provider().writer(), "");
  EXPECT_TRUE(after.disagreements.empty()) << after.disagreements.front();
}

TEST(Inspect, WorkerAnswersAFlowQueryInBoundedSlices) {
  Harness::Options options;
  options.flowCapacity = 3 * kInspectSlice;
  Harness h(options);
  for (uint16_t clientPort = 41000; clientPort < 41003; ++clientPort) {
    ASSERT_EQ(h.run(clientTcp(kWebVip, 80, clientPort).build()).size(), 1u);
  }
  ASSERT_EQ(h.run(clientTcp(kMultiVip, 80, 42000).build()).size(), 1u);
  InspectMailbox box;
  h.context().inspect = &box;
  box.query.listFlows = true;
  box.query.filter.frontend = rte_cpu_to_be_32(kWebVip);
  box.asked.store(1, std::memory_order_release);
  const uint32_t capacity = h.flows().capacity();
  const uint32_t loops = (capacity + kInspectSlice - 1) / kInspectSlice;
  ASSERT_GT(loops, 1u);
  for (uint32_t i = 0; i + 1 < loops; ++i) {
    serveInspection(h.context());
    EXPECT_EQ(box.answered.load(std::memory_order_acquire), 0u) << "answered before the scan ended, loop " << i;
  }
  serveInspection(h.context());
  ASSERT_EQ(box.answered.load(std::memory_order_acquire), 1u);
  EXPECT_EQ(box.answer.matched, 3u);
  ASSERT_EQ(box.answer.rowCount, 3u);
  for (uint32_t r = 0; r < 3; ++r) {
    EXPECT_EQ(box.answer.rows[r].forward.destinationAddress, rte_cpu_to_be_32(kWebVip));
    EXPECT_EQ(box.answer.rows[r].reverse.sourceAddress, rte_cpu_to_be_32(kBackendIp));
  }
  EXPECT_EQ(box.answer.flows, 4u);
  EXPECT_EQ(box.answer.rxPackets, 4u);

  // Nothing asked: nothing done. A counters-only query is answered in one loop.
  serveInspection(h.context());
  EXPECT_EQ(box.answered.load(std::memory_order_acquire), 1u);
  box.query = InspectQuery{};
  box.asked.store(2, std::memory_order_release);
  serveInspection(h.context());
  EXPECT_EQ(box.answered.load(std::memory_order_acquire), 2u);
  EXPECT_EQ(box.answer.matched, 0u);
  EXPECT_EQ(box.answer.flows, 4u);
  h.context().inspect = nullptr;
}

}  // namespace
}  // namespace nicproxy::testing
