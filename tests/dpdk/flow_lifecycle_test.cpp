// A connection's life in the flow table: created while the backend's MAC is still
// unknown, expired by its protocol's timeout (TCP's states: tcp_tracking_test.cpp), refused
// when the table is full of established connections, and replaced when a client reuses a
// closed connection's tuple.
// Test addresses (see harness.hpp): client 10.50.0.100:40000 and up; ClusterIP
// 10.96.0.10:80/TCP and :53/UDP -> 10.50.0.11; 10.96.0.40:80 -> 10.50.0.44:8080 whose
// MAC (02:00:00:00:00:2c) is not known until the test learns it; SNAT address 10.50.0.1.
// The conntrack.* test sets timeouts of 5 s (UDP) and 50 s (UDP stream) through
// Timeouts::applyConntrack, as the daemon does from the configuration.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_byteorder.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/tcp_session.hpp"

namespace nicproxy::testing {
namespace {

/// The SNAT port the flow table holds for the client's connection from `clientPort`.
uint16_t snatPortOfFlow(Harness& h, uint32_t vip, uint16_t vport, uint16_t clientPort, uint8_t protocol) {
  const FlowKey forward{rte_cpu_to_be_32(kClientIp), rte_cpu_to_be_32(vip), rte_cpu_to_be_16(clientPort),
                        rte_cpu_to_be_16(vport), protocol, {0, 0, 0}};
  uint64_t value = 0;
  if (!h.flows().lookup(forward, value)) return 0;
  return rte_be_to_cpu_16(h.flows().entry(FlowTable::entryIndex(value)).reverse.destinationPort);
}

TEST(FlowLifecycle, UnresolvedBackendSendsArpAndKeepsTheFlow) {
  Harness h;
  const Bytes synFrame = build(clientTcp(kDarkVip, 80));
  std::vector<Sent> sent = h.run(synFrame);
  EXPECT_EQ(h.dropCount(DropReason::NeighborUnresolved), 1u);
  ASSERT_EQ(sent.size(), 1u) << "an ARP request for the backend";
  EXPECT_EQ(sent[0].port, 0u);
  ArpFrame request;
  request.eth = EthSpec{kBroadcast, kPort0Mac};
  request.opcode = 1;
  request.senderMac = kPort0Mac;
  request.senderIp = kPort0Ip;
  request.targetMac = kZeroMac;
  request.targetIp = kDarkBackendIp;
  const Bytes expectedArp = request.build();
  EXPECT_EQ(sent[0].frame, expectedArp) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expectedArp);
  EXPECT_EQ(h.counters().arpRequests, 1u);
  EXPECT_EQ(h.counters().flowsCreated, 1u);
  const uint16_t snatPort = snatPortOfFlow(h, kDarkVip, 80, 40000, IPPROTO_TCP);
  ASSERT_GE(snatPort, kSnatPortMin);

  // A retransmission inside the ARP retry interval asks nobody again.
  EXPECT_TRUE(h.run(synFrame).empty());
  EXPECT_EQ(h.dropCount(DropReason::NeighborUnresolved), 2u);
  EXPECT_EQ(h.counters().arpRequests, 1u);

  // The backend answers; the next retransmission goes out on the same flow.
  h.setNow(h.now() + h.hz());
  h.seedNeighbor(kDarkBackendIp, kDarkBackendMac);
  sent = h.run(synFrame);
  ASSERT_EQ(sent.size(), 1u);
  const Bytes expected = build(translated(clientTcp(kDarkVip, 80), EthSpec{kDarkBackendMac, kPort0Mac}, kPort0Ip,
                                          kDarkBackendIp, snatPort, 8080));
  EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
  EXPECT_EQ(h.counters().flowsCreated, 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// The worker runs flows->expire(now, ...) on every loop. A connection created for a SYN
// that waits for ARP must live at least until the retransmission, or the retransmitted
// SYN is balanced afresh (another backend, another SNAT port).
TEST(FlowLifecycle, FlowWaitingForArpSurvivesExpiry) {
  Harness h;
  EXPECT_TRUE(h.run(build(clientTcp(kDarkVip, 80))).size() == 1u);  // the ARP request
  ASSERT_EQ(h.flows().size(), 1u);
  EXPECT_EQ(h.flows().expire(h.now() + 1, 1000), 0u) << "flow removed at once: its expiry time was never set";
  EXPECT_EQ(h.flows().size(), 1u);
}

TEST(FlowLifecycle, UdpFlowExpiresAfterTheUdpTimeout) {
  Harness h;
  const uint64_t t = h.now();
  const Bytes query = build(clientUdp(kWebVip, 53));
  ASSERT_EQ(h.run(query).size(), 1u);
  EXPECT_EQ(h.flows().expire(t + h.timeouts().udp - 1, 1000), 0u);
  EXPECT_EQ(h.flows().size(), 1u);
  EXPECT_EQ(h.flows().expire(t + h.timeouts().udp + 1, 1000), 1u);
  EXPECT_EQ(h.flows().size(), 0u);

  h.setNow(t + h.timeouts().udp + 2);
  ASSERT_EQ(h.run(query).size(), 1u);
  EXPECT_EQ(h.counters().flowsCreated, 2u) << "a packet after expiry makes a new connection";
  EXPECT_EQ(h.flows().size(), 1u);
}

TEST(FlowLifecycle, SynOnAClosedTupleStartsANewConnection) {
  Harness h;
  ASSERT_EQ(h.run(build(clientTcp(kWebVip, 80))).size(), 1u);
  ASSERT_EQ(h.run(build(clientTcp(kWebVip, 80, 40000, kTcpRst | kTcpAck))).size(), 1u) << "the client aborts";
  ASSERT_EQ(h.run(build(clientTcp(kWebVip, 80))).size(), 1u);
  EXPECT_EQ(h.counters().flowsCreated, 2u);
  EXPECT_EQ(h.flows().size(), 1u) << "the closed entry is replaced, not leaked";
}

TEST(FlowLifecycle, TtlOneOnAnEstablishedFlowIsDropped) {
  Harness h;
  ASSERT_EQ(h.run(build(clientTcp(kWebVip, 80))).size(), 1u);
  TcpFrame ack = clientTcp(kWebVip, 80, 40000, kTcpAck);
  ack.ip.ttl = 1;
  EXPECT_TRUE(h.run(ack.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::TtlExceeded), 1u);
}

// A table full of established connections has nothing to evict: new connections are
// refused, and the established ones keep working both ways.
TEST(FlowLifecycle, FullTableRefusesNewConnectionsAndKeepsOldOnes) {
  Harness::Options options;
  options.flowCapacity = 64;
  Harness h(options);
  std::vector<TcpSession> sessions;
  for (uint16_t i = 0; i < 64; ++i) {
    sessions.emplace_back(h, kWebVip, 80, static_cast<uint16_t>(40000 + i));
    sessions.back().open();
  }
  EXPECT_EQ(h.flows().size(), 64u);
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 8; ++i) frames.push_back(build(clientTcp(kWebVip, 80, static_cast<uint16_t>(41000 + i))));
  EXPECT_TRUE(h.run(frames).empty());
  EXPECT_EQ(h.dropCount(DropReason::FlowTableFull), 8u);
  EXPECT_EQ(h.counters().flowsEarlyDropped, 0u) << "established connections are never evicted";
  EXPECT_EQ(h.flows().size(), 64u);

  // The first connection still works both ways.
  std::vector<Sent> sent = sessions[0].sendBackend(kTcpAck | kTcpPsh, Bytes{'h', 'i'});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sourcePortOf(sent[0].frame), 80u);
  sent = sessions[0].sendClient(kTcpAck | kTcpPsh, Bytes{'o', 'k'});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sourcePortOf(sent[0].frame), sessions[0].snatPort());
  EXPECT_EQ(h.dropCount(DropReason::FlowTableFull), 8u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(FlowLifecycle, ConntrackUdpStreamTimeoutAfterAReply) {
  Harness h;
  ConntrackConfig conntrack;
  conntrack.udpTimeout = std::chrono::seconds(5);
  conntrack.udpStreamTimeout = std::chrono::seconds(50);
  h.plane().timeouts.applyConntrack(conntrack);
  const uint64_t t = h.now();
  std::vector<Sent> sent = h.run(build(clientUdp(kWebVip, 53)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(h.flows().expire(t + 5 * h.hz() + 1, 1000), 1u) << "unanswered UDP goes after udpTimeout";

  sent = h.run(build(clientUdp(kWebVip, 53, 40001)));
  ASSERT_EQ(sent.size(), 1u);
  UdpFrame reply;
  reply.eth = EthSpec{kPort0Mac, kBackendMac};
  reply.ip.source = kBackendIp;
  reply.ip.destination = kPort0Ip;
  reply.udp.sourcePort = 5353;
  reply.udp.destinationPort = sourcePortOf(sent[0].frame);
  ASSERT_EQ(h.run(reply.build()).size(), 1u);
  EXPECT_EQ(h.flows().expire(t + 5 * h.hz() + 1, 1000), 0u) << "answered UDP follows udpStreamTimeout";
  EXPECT_EQ(h.flows().expire(t + 50 * h.hz() + 1, 1000), 1u);
}

}  // namespace
}  // namespace nicproxy::testing
