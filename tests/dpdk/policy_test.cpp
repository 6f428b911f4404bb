// Kubernetes traffic semantics in the data path: externalTrafficPolicy and
// internalTrafficPolicy Local, loadBalancerSourceRanges, terminating endpoints, removed
// endpoints (TCP reset, UDP purge), and replies that reach another worker (redirect).
// Test addresses (see harness.hpp): client 10.50.0.100 (and 10.50.0.150, outside the
// source range 10.50.0.96/28); endpoints 10.50.0.11 (local), 10.50.0.12 and .13 (other
// nodes); "pol" ClusterIP 10.96.0.70:80 + NodePort 30070; "lb" LoadBalancer IP
// 10.50.0.210:80 + NodePort 30071; "term"/"gone" 10.96.0.80:80 and UDP 10.96.0.80:53.
//   TrafficPolicy.ExternalLocalUsesOnlyLocalEndpoints
//   TrafficPolicy.ExternalLocalWithoutLocalEndpointsDrops
//   TrafficPolicy.InternalLocalForClusterIps
//   TrafficPolicy.NoEndpointsAnywhereStillRejects
//   SourceRanges.OnlyListedSourcesReachTheLbIpNotNodePorts
//   Terminating.OldFlowsGoOnNewFlowsAvoidThem
//   Removed.TcpFlowsGetAResetUdpFlowsAreDeleted
//   Redirect.ReplyOnAnotherWorkerReachesTheOwner
#include <set>

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/services.hpp"
#include "tests/dpdk/tcp_session.hpp"

namespace nicproxy::testing {
namespace {

constexpr uint32_t kPolicyVip = ipv4(10, 96, 0, 70);
constexpr uint16_t kPolicyNodePort = 30070;
constexpr uint32_t kLbIp = ipv4(10, 50, 0, 210);
constexpr uint16_t kLbNodePort = 30071;
constexpr uint32_t kOutsider = ipv4(10, 50, 0, 150);
constexpr uint32_t kTermVip = ipv4(10, 96, 0, 80);

/// One SYN each from client ports first.. to dst:dport from `client`; the backends chosen
/// (one per SYN that was forwarded).
std::vector<uint32_t> syns(Harness& h, uint32_t dst, uint16_t dport, uint16_t first, uint16_t count,
                           uint32_t client = kClientIp) {
  std::vector<uint32_t> result;
  for (uint16_t i = 0; i < count; ++i) {
    TcpFrame f = clientTcp(dst, dport, static_cast<uint16_t>(first + i));
    f.ip.source = client;
    for (const Sent& s : h.run(f.build())) result.push_back(destinationIpOf(s.frame));
  }
  return result;
}

std::set<uint32_t> distinct(const std::vector<uint32_t>& v) { return {v.begin(), v.end()}; }

ServicePort policyPort(std::vector<Endpoint> endpoints) {
  ServicePort p = makePort("pol", kPolicyVip, 80, std::move(endpoints));
  p.type = ServiceType::NodePort;
  p.nodePort = kPolicyNodePort;
  p.externalTrafficPolicy = TrafficPolicy::Local;
  return p;
}

TEST(TrafficPolicy, ExternalLocalUsesOnlyLocalEndpoints) {
  Harness h;
  h.sync(withPorts(standardServices(), {policyPort({makeEndpoint(kBackendIp, 8080, true, false, true),
                                                    makeEndpoint(kBackend2Ip, 8080)})}));
  EXPECT_EQ(distinct(syns(h, kPort0Ip, kPolicyNodePort, 10000, 60)), std::set<uint32_t>{kBackendIp});
  EXPECT_EQ(distinct(syns(h, kPolicyVip, 80, 20000, 60)), (std::set<uint32_t>{kBackendIp, kBackend2Ip}))
      << "cluster IPs follow internalTrafficPolicy (Cluster)";
}

TEST(TrafficPolicy, ExternalLocalWithoutLocalEndpointsDrops) {
  Harness h;
  h.sync(withPorts(standardServices(), {policyPort({makeEndpoint(kBackend2Ip, 8080)})}));
  EXPECT_TRUE(syns(h, kPort0Ip, kPolicyNodePort, 10000, 5).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoLocalEndpoints), 5u) << "dropped, not rejected: endpoints exist elsewhere";
  EXPECT_EQ(h.counters().rejected, 0u);
  EXPECT_EQ(syns(h, kPolicyVip, 80, 20000, 1), std::vector<uint32_t>{kBackend2Ip});
}

TEST(TrafficPolicy, InternalLocalForClusterIps) {
  Harness h;
  ServicePort p = makePort("pol", kPolicyVip, 80, {makeEndpoint(kBackend2Ip, 8080)});
  p.internalTrafficPolicy = TrafficPolicy::Local;
  h.sync(withPorts(standardServices(), {p}));
  EXPECT_TRUE(syns(h, kPolicyVip, 80, 10000, 3).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoLocalEndpoints), 3u);

  p.endpoints.push_back(makeEndpoint(kBackend3Ip, 8080, true, false, true));
  h.sync(withPorts(standardServices(), {p}));
  EXPECT_EQ(distinct(syns(h, kPolicyVip, 80, 20000, 40)), std::set<uint32_t>{kBackend3Ip});
}

TEST(TrafficPolicy, NoEndpointsAnywhereStillRejects) {
  Harness h;
  h.sync(withPorts(standardServices(), {policyPort({makeEndpoint(kBackend2Ip, 8080, false)})}));
  const std::vector<Sent> sent = h.run(build(clientTcp(kPort0Ip, kPolicyNodePort)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame[l4Offset(sent[0].frame) + 13] & kTcpRst, kTcpRst) << "a RST, as kube-proxy's REJECT";
  EXPECT_EQ(h.dropCount(DropReason::NoLocalEndpoints), 0u);
}

TEST(SourceRanges, OnlyListedSourcesReachTheLbIpNotNodePorts) {
  Harness h;
  ServicePort lb = makePort("lb", ipv4(10, 96, 0, 71), 80, {makeEndpoint(kBackendIp, 8080)});
  lb.type = ServiceType::LoadBalancer;
  lb.nodePort = kLbNodePort;
  lb.loadBalancerIPs = {kLbIp};
  lb.loadBalancerSourceRanges = {Ipv4Cidr{ipv4(10, 50, 0, 96), 28}};
  h.sync(withPorts(standardServices(), {lb}));
  EXPECT_EQ(syns(h, kLbIp, 80, 10000, 2), (std::vector<uint32_t>{kBackendIp, kBackendIp}));
  EXPECT_TRUE(syns(h, kLbIp, 80, 10000, 2, kOutsider).empty());
  EXPECT_EQ(h.dropCount(DropReason::SourceRange), 2u);
  EXPECT_EQ(syns(h, kPort0Ip, kLbNodePort, 11000, 1, kOutsider), std::vector<uint32_t>{kBackendIp})
      << "NodePorts are not filtered";
  EXPECT_EQ(syns(h, ipv4(10, 96, 0, 71), 80, 12000, 1, kOutsider), std::vector<uint32_t>{kBackendIp})
      << "nor cluster IPs";
}

TEST(Terminating, OldFlowsGoOnNewFlowsAvoidThem) {
  Harness h;
  ServicePort term = makePort("term", kTermVip, 80, {makeEndpoint(kBackendIp, 8080), makeEndpoint(kBackend2Ip, 8080)});
  h.sync(withPorts(standardServices(), {term}));
  // Find a connection that landed on 10.50.0.12.
  uint16_t clientPort = 0;
  for (uint16_t p = 40000; p < 40100 && clientPort == 0; ++p) {
    if (syns(h, kTermVip, 80, p, 1) == std::vector<uint32_t>{kBackend2Ip}) clientPort = p;
  }
  ASSERT_NE(clientPort, 0);
  TcpSession session(h, kTermVip, 80, clientPort);
  session.open();  // the SYN again (a retransmission on its flow), the SYN-ACK, the ACK
  ASSERT_EQ(session.backendIp(), kBackend2Ip);

  term.endpoints[1] = makeEndpoint(kBackend2Ip, 8080, false, true);  // serving, terminating
  h.sync(withPorts(standardServices(), {term}));
  const std::vector<Sent> sent = session.sendClient(kTcpAck | kTcpPsh, Bytes{'m', 'o', 'r', 'e'});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationIpOf(sent[0].frame), kBackend2Ip) << "the existing connection stays on its endpoint";
  EXPECT_EQ(distinct(syns(h, kTermVip, 80, 50000, 50)), std::set<uint32_t>{kBackendIp});

  term.endpoints[0] = makeEndpoint(kBackendIp, 8080, false);  // not ready, not terminating
  h.sync(withPorts(standardServices(), {term}));
  EXPECT_EQ(distinct(syns(h, kTermVip, 80, 51000, 20)), std::set<uint32_t>{kBackend2Ip})
      << "serving terminating endpoints when nothing else is left";
}

TEST(Removed, TcpFlowsGetAResetUdpFlowsAreDeleted) {
  Harness h;
  // 10.50.0.12:8080 also serves "multi": its connections there must live on.
  ServicePort tcp = makePort("gone", kTermVip, 80, {makeEndpoint(kBackendIp, 8080), makeEndpoint(kBackend2Ip, 8080)});
  ServicePort udp =
      makePort("gone", kTermVip, 53, {makeEndpoint(kBackendIp, 5353), makeEndpoint(kBackend2Ip, 5353)}, Protocol::Udp);
  h.sync(withPorts(standardServices(), {tcp, udp}));

  // One TCP connection on each endpoint, answered (SYN-ACK) and established.
  std::map<uint32_t, uint16_t> tcpPorts;  // endpoint -> client port
  std::map<uint32_t, uint16_t> snatOf;    // endpoint -> SNAT port
  for (uint16_t p = 40000; p < 40100 && tcpPorts.size() < 2; ++p) {
    const std::vector<Sent> sent = h.run(build(clientTcp(kTermVip, 80, p)));
    ASSERT_EQ(sent.size(), 1u);
    const uint32_t backend = destinationIpOf(sent[0].frame);
    if (tcpPorts.count(backend) != 0) continue;
    tcpPorts[backend] = p;
    snatOf[backend] = sourcePortOf(sent[0].frame);
  }
  ASSERT_EQ(tcpPorts.size(), 2u);
  TcpFrame synAck;
  synAck.eth = EthSpec{kPort0Mac, kBackend2Mac};
  synAck.ip.source = kBackend2Ip;
  synAck.ip.destination = kPort0Ip;
  synAck.tcp.sourcePort = 8080;
  synAck.tcp.destinationPort = snatOf[kBackend2Ip];
  synAck.tcp.seq = 0x55667788;
  synAck.tcp.ack = 0x11223345;
  synAck.tcp.flags = kTcpSyn | kTcpAck;
  ASSERT_EQ(h.run(synAck.build()).size(), 1u);
  // And UDP flows on each endpoint.
  std::map<uint32_t, uint16_t> udpPorts;
  for (uint16_t p = 41000; p < 41100 && udpPorts.size() < 2; ++p) {
    const std::vector<Sent> sent = h.run(build(clientUdp(kTermVip, 53, p)));
    ASSERT_EQ(sent.size(), 1u);
    udpPorts.emplace(destinationIpOf(sent[0].frame), p);
  }
  ASSERT_EQ(udpPorts.size(), 2u);
  // A connection to 10.50.0.12:8080 through "multi", which keeps that endpoint.
  uint16_t multiPort = 0;
  for (uint16_t p = 42000; p < 42100 && multiPort == 0; ++p) {
    const std::vector<Sent> sent = h.run(build(clientTcp(kMultiVip, 80, p)));
    ASSERT_EQ(sent.size(), 1u);
    if (destinationIpOf(sent[0].frame) == kBackend2Ip) multiPort = p;
  }
  ASSERT_NE(multiPort, 0);
  const uint32_t flowsBefore = h.flows().size();
  // Ephemeral flows made while searching stay; only the ones to 10.50.0.12 go.

  tcp.endpoints.pop_back();
  udp.endpoints.pop_back();
  h.sync(withPorts(standardServices(), {tcp, udp}));
  ASSERT_TRUE(h.services()->hasRemovedBackends());
  const std::vector<Sent> sent = h.purge();

  // Exactly one RST, to the client of the answered TCP connection, from the VIP, with
  // the sequence number the client expects (the SYN-ACK's seq + 1).
  ASSERT_EQ(sent.size(), 1u);
  TcpFrame rst;
  rst.eth = EthSpec{kClientMac, kPort0Mac};
  rst.ip.source = kTermVip;
  rst.ip.destination = kClientIp;
  rst.ip.ttl = 64;
  rst.ip.id = 0;
  rst.ip.fragment = 0;
  rst.tcp.sourcePort = 80;
  rst.tcp.destinationPort = tcpPorts[kBackend2Ip];
  rst.tcp.seq = 0x55667789;
  rst.tcp.flags = kTcpRst;
  rst.tcp.window = 0;
  EXPECT_EQ(hexDump(sent[0].frame), hexDump(rst.build()));
  EXPECT_EQ(h.counters().flowsPurged + h.counters().flowsReset, flowsBefore - h.flows().size());
  // The search above may have left unanswered connections to 10.50.0.12 too: they are
  // torn down without a RST (the client could not match one).
  EXPECT_GE(h.counters().flowsPurged, 1u);
  EXPECT_GE(h.counters().flowsReset, 1u);
  EXPECT_EQ(h.services()->removedBackends().size(), 2u);

  // Connections to 10.50.0.11 carry on, and so does "multi"'s to 10.50.0.12; the others
  // to 10.50.0.12 are gone.
  // (The TCP ones are still half-open: their SYN again is forwarded on the same flow.)
  const uint64_t createdBefore = h.counters().flowsCreated;
  EXPECT_EQ(h.run(build(clientTcp(kMultiVip, 80, multiPort))).size(), 1u);
  EXPECT_EQ(h.run(build(clientTcp(kTermVip, 80, tcpPorts[kBackendIp]))).size(), 1u);
  EXPECT_EQ(h.run(build(clientUdp(kTermVip, 53, udpPorts[kBackendIp]))).size(), 1u);
  const uint64_t created = h.counters().flowsCreated;
  EXPECT_EQ(created, createdBefore) << "those connections kept their flows";
  const std::vector<Sent> again = h.run(build(clientUdp(kTermVip, 53, udpPorts[kBackend2Ip])));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(destinationIpOf(again[0].frame), kBackendIp) << "the next datagram makes a new flow to a live endpoint";
  EXPECT_EQ(h.counters().flowsCreated, created + 1);
}

TEST(Redirect, ReplyOnAnotherWorkerReachesTheOwner) {
  Harness::Options options;
  options.workerCount = 2;
  options.allWorkers = true;
  Harness h(options);
  std::vector<Sent> sent = h.run(build(clientTcp(kWebVip, 80)), 0, 0);
  ASSERT_EQ(sent.size(), 1u);
  const uint16_t snat = sourcePortOf(sent[0].frame);
  EXPECT_EQ(snat % 2, 0) << "worker 0 owns its SNAT ports";

  // The SYN-ACK arrives on worker 1's queue: handed over, not dropped.
  TcpFrame synAck;
  synAck.eth = EthSpec{kPort0Mac, kBackendMac};
  synAck.ip.source = kBackendIp;
  synAck.ip.destination = kPort0Ip;
  synAck.tcp.sourcePort = 8080;
  synAck.tcp.destinationPort = snat;
  synAck.tcp.seq = 0x55667788;
  synAck.tcp.ack = 0x11223345;
  synAck.tcp.flags = kTcpSyn | kTcpAck;
  EXPECT_TRUE(h.run(synAck.build(), 0, 1).empty());
  EXPECT_EQ(h.counters(1).redirected, 1u);
  EXPECT_EQ(h.counters(1).totalDrops(), 0u);
  sent = h.drainRedirect(0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationIpOf(sent[0].frame), kClientIp);
  EXPECT_EQ(sourcePortOf(sent[0].frame), 80u);
  EXPECT_EQ(h.counters(0).natReverse, 1u);

  // A reply to a port worker 1 owns, without a connection, stays on worker 1 and is
  // dropped there as having no flow.
  synAck.tcp.destinationPort = static_cast<uint16_t>(snat + 1);
  EXPECT_TRUE(h.run(synAck.build(), 0, 1).empty());
  EXPECT_EQ(h.counters(1).redirected, 1u);
  EXPECT_EQ(h.dropCount(DropReason::NoFlow, 1), 1u);
  EXPECT_TRUE(h.drainRedirect(0).empty());

  // NodePort traffic stays on the worker RSS gave it: worker 1 owns this connection and
  // its SNAT port; the reply to that port, arriving on worker 0, goes to worker 1.
  sent = h.run(build(clientTcp(kPort0Ip, kWebNodePort, 41000)), 0, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(h.counters(1).flowsCreated, 1u);
  const uint16_t nodePortSnat = sourcePortOf(sent[0].frame);
  EXPECT_EQ(nodePortSnat % 2, 1);
  EXPECT_FALSE(nodePortSnat >= 30000 && nodePortSnat <= 32767) << "SNAT ports avoid the NodePort range";
  synAck.tcp.destinationPort = nodePortSnat;
  EXPECT_TRUE(h.run(synAck.build(), 0, 0).empty());
  EXPECT_EQ(h.counters(0).redirected, 1u);
  sent = h.drainRedirect(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sourcePortOf(sent[0].frame), kWebNodePort);
  EXPECT_EQ(destinationIpOf(sent[0].frame), kClientIp);
}

}  // namespace
}  // namespace nicproxy::testing
