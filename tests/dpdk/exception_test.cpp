// The workers' half of the exception path (dpdk_app/exception_path.hpp): with a kernel
// interface behind port 0 (its rings made here, as ExceptionPath makes them), what
// nicproxy does not handle goes to the kernel unchanged, service traffic never does;
// connections to endpoints on this node go through the kernel and their replies come
// back translated; the kernel's own frames leave by the port unchanged.
// Test addresses (see harness.hpp): client 10.50.0.100 (02:..:64), port 0 10.50.0.1
// (02:..:01), extra SNAT address 10.50.0.5; "loc" ClusterIP 10.96.0.90:80 and NodePort
// 30090 (externalTrafficPolicy Local) -> the local pod 10.244.1.5:8080, behind the kernel.
#include <set>
#include <vector>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_ring.h>

#include "dpdk_app/exception_path.hpp"
#include "dpdk_app/inspect_views.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/services.hpp"

namespace nicproxy::testing {
namespace {

constexpr uint32_t kLocalVip = ipv4(10, 96, 0, 90);
constexpr uint16_t kLocalNodePort = 30090;
constexpr uint32_t kPodIp = ipv4(10, 244, 1, 5);
constexpr uint16_t kPodPort = 8080;
constexpr uint32_t kOtherHost = ipv4(10, 50, 0, 77);
constexpr uint16_t kIpv6 = 0x86dd;
constexpr uint16_t kVlan = 0x8100;

/// Port 0's exception path as ExceptionPath sets it up: its toKernel ring, one fromKernel
/// ring per worker, and port 0 as the port that reaches local endpoints. Declared after
/// the Harness, so that it is gone (its mbufs freed) before the harness's pool.
class KernelRings {
 public:
  explicit KernelRings(Harness& h, unsigned toKernelSize = 256, uint16_t workers = 1) : h_(h) {
    toKernel_ = rte_ring_create(uniqueName("to_kernel").c_str(), toKernelSize, SOCKET_ID_ANY, RING_F_SC_DEQ);
    if (toKernel_ == nullptr) throw std::runtime_error("rte_ring_create failed");
    for (uint16_t w = 0; w < workers; ++w) {
      fromKernel_.push_back(rte_ring_create(uniqueName("from_kernel").c_str(), 256, SOCKET_ID_ANY, RING_F_SC_DEQ));
      if (fromKernel_.back() == nullptr) throw std::runtime_error("rte_ring_create failed");
    }
    h.plane().ports[0].toKernel = toKernel_;
    h.plane().fromKernel = fromKernel_;
    h.plane().kernelPort = 0;
  }
  ~KernelRings() {
    h_.plane().ports[0].toKernel = nullptr;
    h_.plane().fromKernel.clear();
    h_.plane().kernelPort = DataPlane::kNoKernelPort;
    taken();
    for (rte_ring* ring : fromKernel_) {
      void* m = nullptr;
      while (rte_ring_dequeue(ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      rte_ring_free(ring);
    }
    rte_ring_free(toKernel_);
  }
  KernelRings(const KernelRings&) = delete;
  KernelRings& operator=(const KernelRings&) = delete;

  /// What the workers handed to the kernel since the last call (the exception thread's
  /// side of toKernel), freed.
  std::vector<Bytes> taken() {
    std::vector<Bytes> frames;
    void* p = nullptr;
    while (rte_ring_dequeue(toKernel_, &p) == 0) {
      auto* m = static_cast<rte_mbuf*>(p);
      Bytes frame(rte_pktmbuf_pkt_len(m));
      const void* bytes = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(frame.size()), frame.data());
      if (bytes != frame.data() && !frame.empty()) std::memcpy(frame.data(), bytes, frame.size());
      frames.push_back(std::move(frame));
      rte_pktmbuf_free(m);
    }
    return frames;
  }

  /// The kernel sends `frame` out of port 0's interface; the exception thread hands it to
  /// `worker`.
  void send(const Bytes& frame, uint16_t worker = 0) {
    rte_mbuf* m = h_.mbufOf(frame);
    m->port = 0;  // port index 0, no hops yet
    if (rte_ring_mp_enqueue(fromKernel_.at(worker), m) != 0) throw std::runtime_error("fromKernel ring full");
  }

 private:
  Harness& h_;
  rte_ring* toKernel_ = nullptr;
  std::vector<rte_ring*> fromKernel_;
};

/// "loc": ClusterIP 10.96.0.90:80 and NodePort 30090 with externalTrafficPolicy Local, to
/// one endpoint on this node.
ServiceTable withLocalService() {
  ServicePort p = makePort("loc", kLocalVip, 80, {makeEndpoint(kPodIp, kPodPort, true, false, true)});
  p.type = ServiceType::NodePort;
  p.nodePort = kLocalNodePort;
  p.externalTrafficPolicy = TrafficPolicy::Local;
  return withPorts(standardServices(), {p});
}

/// A frame of `etherType` to `destination` from the client, with some payload.
Bytes otherEtherType(const Mac& destination, uint16_t etherType) {
  return ethernetFrame(EthSpec{destination, kClientMac}, etherType, Bytes(46, 0x5a));
}

IcmpFrame echoRequest(uint32_t destination) {
  IcmpFrame f;
  f.eth = EthSpec{kPort0Mac, kClientMac};
  f.ip.source = kClientIp;
  f.ip.destination = destination;
  f.type = 8;
  f.rest = 0x0bad0001;
  f.data = {'p', 'i', 'n', 'g'};
  return f;
}

/// What the pod sends back through the kernel: from the pod to `to`:`toPort`, flags
/// SYN+ACK acknowledging the client's SYN (seq 0x11223344, packets.hpp's clientTcp).
TcpFrame podReply(uint32_t to, uint16_t toPort, const Mac& destinationMac) {
  TcpFrame f;
  f.eth = EthSpec{destinationMac, kPort0Mac};
  f.ip.source = kPodIp;
  f.ip.destination = to;
  f.ip.ttl = 63;
  f.tcp.sourcePort = kPodPort;
  f.tcp.destinationPort = toPort;
  f.tcp.seq = 0x55667788;
  f.tcp.ack = 0x11223345;
  f.tcp.flags = kTcpSyn | kTcpAck;
  return f;
}

TEST(ExceptionPath, TrafficToThePortAddressNobodyTakesGoesToTheKernelUnchanged) {
  Harness h;
  KernelRings k(h);
  const Bytes ssh = build(clientTcp(kPort0Ip, 22));
  const Bytes udp = build(clientUdp(kPort0Ip, 12345));
  // A segment of one of the node's own connections: to a port in the SNAT range.
  const Bytes ownReply = build(clientTcp(kPort0Ip, 45000, 443, kTcpAck));
  EXPECT_TRUE(h.run({ssh, udp, ownReply}).empty()) << "nothing answered, nothing sent";
  EXPECT_EQ(k.taken(), (std::vector<Bytes>{ssh, udp, ownReply}));
  EXPECT_EQ(h.counters().ports[0].toKernelPackets, 3u);
  EXPECT_EQ(h.counters().totalDrops(), 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ExceptionPath, WhatTheKernelRoutesOrServesGoesThereTooExtraSnatAddressesStayOurs) {
  Harness h;
  KernelRings k(h);
  h.addSnatAddress(0, kPort0SnatIp);
  // A pod's address, routed to this node by the segment's router.
  const Bytes toPod = build(clientTcp(kPodIp, 8080));
  const Bytes pingPod = echoRequest(kPodIp).build();
  // A protocol nicproxy does not parse (GRE) to the port address.
  Ipv4Spec gre;
  gre.source = kClientIp;
  gre.destination = kPort0Ip;
  gre.protocol = 47;
  const Bytes greFrame = ethernetFrame(EthSpec{kPort0Mac, kClientMac}, 0x0800, ipv4Packet(gre, Bytes(24, 0x11)));
  // The first fragment of a large ping to the port address.
  Ipv4Spec fragment = gre;
  fragment.protocol = 1;
  fragment.fragment = 0x2000;  // more fragments, offset 0
  const Bytes pingFragment =
      ethernetFrame(EthSpec{kPort0Mac, kClientMac}, 0x0800, ipv4Packet(fragment, Bytes(64, 0x22)));
  EXPECT_TRUE(h.run({toPod, pingPod, greFrame, pingFragment}).empty());
  // TCP and UDP leave the burst's first pass for the flow lookup: they come last.
  EXPECT_EQ(k.taken(), (std::vector<Bytes>{pingPod, greFrame, pingFragment, toPod}));
  EXPECT_EQ(h.counters().totalDrops(), 0u);

  // The extra SNAT address is nicproxy's alone: answered, or dropped as before.
  EXPECT_EQ(h.run(echoRequest(kPort0SnatIp).build()).size(), 1u);
  EXPECT_EQ(h.run(arpRequest(kPort0SnatIp).build()).size(), 1u);
  EXPECT_TRUE(h.run(build(clientTcp(kPort0SnatIp, 22))).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoService), 1u);
  EXPECT_TRUE(k.taken().empty());
}

TEST(ExceptionPath, ServiceTrafficIsTranslatedAndNeverReachesTheKernel) {
  Harness h;
  KernelRings k(h);
  const std::vector<Sent> vip = h.run(build(clientTcp(kWebVip, 80)));
  ASSERT_EQ(vip.size(), 1u);
  EXPECT_EQ(destinationIpOf(vip[0].frame), kBackendIp);
  const std::vector<Sent> nodePort = h.run(build(clientTcp(kPort0Ip, kWebNodePort, 40001)));
  ASSERT_EQ(nodePort.size(), 1u);
  EXPECT_EQ(destinationIpOf(nodePort[0].frame), kBackendIp);
  // A service address without that port: nicproxy's address, not the kernel's.
  EXPECT_TRUE(h.run(build(clientTcp(kWebVip, 81))).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoService), 1u);
  EXPECT_TRUE(k.taken().empty());
  EXPECT_EQ(h.counters().ports[0].toKernelPackets, 0u);
}

TEST(ExceptionPath, ArpForThePortAddressIsTheKernelsOthersStillAnswered) {
  Harness h;
  KernelRings k(h);
  const Bytes forPort = arpRequest(kPort0Ip).build();
  EXPECT_TRUE(h.run(forPort).empty()) << "the kernel interface answers for the port address";
  const Bytes forOther = arpRequest(kOtherHost).build();
  EXPECT_TRUE(h.run(forOther).empty());
  EXPECT_EQ(k.taken(), (std::vector<Bytes>{forPort, forOther}));
  // An external IP in the port's subnet: nicproxy's, answered as before.
  const std::vector<Sent> external = h.run(arpRequest(kExternalInSubnet).build());
  ASSERT_EQ(external.size(), 1u);
  EXPECT_EQ(read16(external[0].frame, kEthLength + 6), 2) << "an ARP reply";
  EXPECT_TRUE(k.taken().empty());
  // Malformed ARP stays a drop.
  Bytes malformed = arpRequest(kPort0Ip).build();
  malformed[kEthLength + 4] = 8;  // hardware address length 8
  EXPECT_TRUE(h.run(malformed).empty());
  EXPECT_TRUE(k.taken().empty());
  EXPECT_EQ(h.dropCount(DropReason::ArpIgnored), 1u);
}

TEST(ExceptionPath, PingToThePortAddressIsTheKernelsToAServiceStillAnswered) {
  Harness h;
  KernelRings k(h);
  const Bytes toPort = echoRequest(kPort0Ip).build();
  EXPECT_TRUE(h.run(toPort).empty());
  EXPECT_EQ(k.taken(), std::vector<Bytes>{toPort});
  const std::vector<Sent> toVip = h.run(echoRequest(kWebVip).build());
  ASSERT_EQ(toVip.size(), 1u);
  EXPECT_EQ(h.counters().icmpEchoReplies, 1u);
  EXPECT_TRUE(k.taken().empty());
}

TEST(ExceptionPath, OtherProtocolsToOurMacOrToAGroupGoToTheKernelUnicastToOthersDoesNot) {
  Harness h;
  KernelRings k(h);
  const Bytes ipv6 = otherEtherType(kPort0Mac, kIpv6);
  const Bytes vlan = otherEtherType(kPort0Mac, kVlan);
  const Bytes ipv6Multicast = otherEtherType(Mac{0x33, 0x33, 0, 0, 0, 1}, kIpv6);
  // A DHCP client's broadcast: source 0.0.0.0, which the ingress checks would call a martian.
  UdpFrame dhcp = clientUdp(ipv4(255, 255, 255, 255), 67, 68);
  dhcp.eth.destination = kBroadcast;
  dhcp.ip.source = 0;
  const Bytes dhcpFrame = build(dhcp);
  EXPECT_TRUE(h.run({ipv6, vlan, ipv6Multicast, dhcpFrame}).empty());
  EXPECT_EQ(k.taken(), (std::vector<Bytes>{ipv6, vlan, ipv6Multicast, dhcpFrame}));

  const Bytes ipv6ToOther = otherEtherType(Mac{0x02, 0, 0, 0, 0, 0x77}, kIpv6);
  TcpFrame ipv4ToOther = clientTcp(kPort0Ip, 22);
  ipv4ToOther.eth.destination = Mac{0x02, 0, 0, 0, 0, 0x77};
  EXPECT_TRUE(h.run({ipv6ToOther, build(ipv4ToOther)}).empty());
  EXPECT_TRUE(k.taken().empty()) << "unicast frames for another station are nobody's here";
  EXPECT_EQ(h.dropCount(DropReason::UnsupportedL2), 1u);
  EXPECT_EQ(h.dropCount(DropReason::NotForUs), 1u);
}

TEST(ExceptionPath, TokenBucketLimitsWhatGoesToTheKernel) {
  Harness h;
  KernelRings k(h);
  h.context().exceptionLimiter = ReplyLimiter(h.hz(), 1000, 3);
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 5; ++i) frames.push_back(build(clientTcp(kPort0Ip, 22, static_cast<uint16_t>(50000 + i))));
  EXPECT_TRUE(h.run(frames).empty());
  EXPECT_EQ(k.taken().size(), 3u);
  EXPECT_EQ(h.dropCount(DropReason::ExceptionRateLimited), 2u);
  EXPECT_EQ(h.counters().ports[0].toKernelPackets, 3u);
  h.setNow(h.now() + h.hz() / 500);  // two tokens' worth later
  EXPECT_TRUE(h.run(frames).empty());
  EXPECT_EQ(k.taken().size(), 2u);
  EXPECT_EQ(h.dropCount(DropReason::ExceptionRateLimited), 5u);
}

TEST(ExceptionPath, ADrainedBucketDoesNotStopConnectionsToLocalEndpoints) {
  Harness h;
  KernelRings k(h);
  h.sync(withLocalService());
  h.context().exceptionLimiter = ReplyLimiter(h.hz(), 1, 1);  // one token, the next in a second
  const std::vector<Bytes> flood{build(clientTcp(kPort0Ip, 22, 50000)), build(clientTcp(kPort0Ip, 22, 50001))};
  EXPECT_TRUE(h.run(flood).empty());
  EXPECT_EQ(h.dropCount(DropReason::ExceptionRateLimited), 1u);
  EXPECT_EQ(k.taken().size(), 1u);
  for (uint16_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, kLocalNodePort, static_cast<uint16_t>(40000 + i)))).empty());
  }
  EXPECT_EQ(k.taken().size(), 3u) << "service traffic to a local endpoint takes no token";
  EXPECT_EQ(h.dropCount(DropReason::ExceptionRateLimited), 1u);
}

TEST(ExceptionPath, WithExtraSnatAddressesRemoteBackendsLeaveThePortAddressToTheKernel) {
  Harness h;
  KernelRings k(h);
  h.addSnatAddress(0, kPort0SnatIp);
  for (uint16_t i = 0; i < 16; ++i) {
    const std::vector<Sent> sent = h.run(build(clientTcp(kWebVip, 80, static_cast<uint16_t>(42000 + i))));
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(read32(sent[0].frame, kEthLength + 12), kPort0SnatIp)
        << "the kernel picks its own connections' ports on the port address";
  }
}

TEST(ExceptionPath, WithoutAnExceptionPathBothSnatAddressesServe) {
  Harness h;
  h.addSnatAddress(0, kPort0SnatIp);
  std::set<uint32_t> sources;
  for (uint16_t i = 0; i < 32; ++i) {
    const std::vector<Sent> sent = h.run(build(clientTcp(kWebVip, 80, static_cast<uint16_t>(42000 + i))));
    ASSERT_EQ(sent.size(), 1u);
    sources.insert(read32(sent[0].frame, kEthLength + 12));
  }
  EXPECT_EQ(sources, (std::set<uint32_t>{kPort0Ip, kPort0SnatIp}));
}

TEST(ExceptionPath, MoreThanABatchForTheKernelArrivesWholeAndInOrder) {
  Harness h;
  KernelRings k(h);
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 75; ++i) frames.push_back(build(clientUdp(kPort0Ip, 9999, static_cast<uint16_t>(50000 + i))));
  EXPECT_TRUE(h.run(frames).empty());
  EXPECT_EQ(k.taken(), frames);
  EXPECT_EQ(h.counters().ports[0].toKernelPackets, 75u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ExceptionPath, AFullRingDropsAndCounts) {
  Harness h;
  KernelRings k(h, 4);  // holds 3
  std::vector<Bytes> frames;
  for (uint16_t i = 0; i < 5; ++i) frames.push_back(build(clientUdp(kPort0Ip, 9999, static_cast<uint16_t>(50000 + i))));
  EXPECT_TRUE(h.run(frames).empty());
  EXPECT_EQ(h.dropCount(DropReason::ExceptionRingFull), 2u);
  EXPECT_EQ(k.taken().size(), 3u);
  EXPECT_EQ(h.counters().ports[0].toKernelPackets, 3u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ExceptionPath, WithoutOneEverythingIsDroppedOrAnsweredAsBefore) {
  Harness h;
  EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, 22))).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoService), 1u);
  EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, 45000, 443, kTcpAck))).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoFlow), 1u);
  EXPECT_TRUE(h.run(otherEtherType(kPort0Mac, kIpv6)).empty());
  EXPECT_EQ(h.dropCount(DropReason::UnsupportedL2), 1u);
  EXPECT_EQ(h.run(arpRequest(kPort0Ip).build()).size(), 1u) << "nicproxy answers for the port address";
  EXPECT_EQ(h.run(echoRequest(kPort0Ip).build()).size(), 1u) << "and pings to it";
  // A local endpoint without a kernel port is routed like any other: the pod's address is
  // on no port's subnet and the ports have no gateway here.
  h.sync(withLocalService());
  EXPECT_TRUE(h.run(build(clientTcp(kLocalVip, 80))).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoRoute), 1u);
  EXPECT_EQ(h.counters().ports[0].toKernelPackets, 0u);
}

TEST(ExceptionPath, EtpLocalEndpointKeepsTheClientAddressThroughTheKernel) {
  Harness h;
  KernelRings k(h);
  h.sync(withLocalService());
  const TcpFrame syn = clientTcp(kPort0Ip, kLocalNodePort, 40000);
  EXPECT_TRUE(h.run(build(syn)).empty()) << "not on the wire";
  const std::vector<Bytes> toKernel = k.taken();
  ASSERT_EQ(toKernel.size(), 1u);
  EXPECT_EQ(toKernel[0], build(translated(syn, EthSpec{kPort0Mac, kPort0Mac}, kClientIp, kPodIp, 40000, kPodPort)))
      << hexDump(toKernel[0]);
  EXPECT_EQ(h.counters().natForward, 1u);

  // The pod answers; the kernel learnt the client's MAC by ARP and sends it out.
  k.send(build(podReply(kClientIp, 40000, kClientMac)));
  const std::vector<Sent> sent = h.drainFromKernel();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].port, 0);
  EXPECT_EQ(sent[0].frame, build(translated(podReply(kClientIp, 40000, kClientMac), EthSpec{kClientMac, kPort0Mac},
                                            kPort0Ip, kClientIp, kLocalNodePort, 40000)))
      << hexDump(sent[0].frame);
  EXPECT_EQ(h.counters().natReverse, 1u);
  EXPECT_EQ(h.counters().ports[0].fromKernelPackets, 1u);
  EXPECT_TRUE(k.taken().empty());
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ExceptionPath, AnIcmpErrorAboutAReplyReachesTheLocalEndpointThroughTheKernel) {
  Harness h;
  KernelRings k(h);
  h.sync(withLocalService());
  EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, kLocalNodePort, 40000))).empty());
  k.taken();
  k.send(build(podReply(kClientIp, 40000, kClientMac)));
  const std::vector<Sent> reply = h.drainFromKernel();
  ASSERT_EQ(reply.size(), 1u);
  // A router on the client's path cannot pass the reply on: fragmentation needed.
  Ipv4Spec router;
  router.source = ipv4(10, 50, 0, 254);
  router.destination = kPort0Ip;
  router.protocol = 1;
  const Bytes error = icmpError(EthSpec{kPort0Mac, kClientMac}, router, 3, 4, 1400, reply[0].frame, 28).build();
  EXPECT_TRUE(h.run(error).empty()) << "not on the wire";
  const std::vector<Bytes> toKernel = k.taken();
  ASSERT_EQ(toKernel.size(), 1u);
  EXPECT_EQ(destinationIpOf(toKernel[0]), kPodIp) << "to the pod, which sent the packet";
  EXPECT_EQ(read32(toKernel[0], kEthLength + 12), kClientIp) << "from the client's address the pod talks to";
  EXPECT_EQ(h.counters().icmpErrorsToBackend, 1u);
}

TEST(ExceptionPath, TheLocalEndpointsIcmpErrorReachesTheClientTranslated) {
  Harness h;
  KernelRings k(h);
  h.sync(withLocalService());
  EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, kLocalNodePort, 40000))).empty());
  const std::vector<Bytes> toKernel = k.taken();
  ASSERT_EQ(toKernel.size(), 1u);
  // The pod's kernel has nothing on that port: port unreachable, to the client's address.
  Ipv4Spec pod;
  pod.source = kPodIp;
  pod.destination = kClientIp;
  pod.protocol = 1;
  k.send(icmpError(EthSpec{kClientMac, kPort0Mac}, pod, 3, 3, 0, toKernel[0], 28).build());
  const std::vector<Sent> sent = h.drainFromKernel();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(read32(sent[0].frame, kEthLength + 12), kPort0Ip) << "from the frontend, not the pod";
  EXPECT_EQ(destinationIpOf(sent[0].frame), kClientIp);
  EXPECT_EQ(h.counters().icmpErrorsToClient, 1u);
}

TEST(ExceptionPath, ClusterIpToALocalEndpointTakesAnExtraSnatAddress) {
  Harness h;
  KernelRings k(h);
  h.addSnatAddress(0, kPort0SnatIp);
  h.sync(withLocalService());
  for (uint16_t i = 0; i < 8; ++i) {
    const TcpFrame syn = clientTcp(kLocalVip, 80, static_cast<uint16_t>(41000 + i));
    EXPECT_TRUE(h.run(build(syn)).empty());
  }
  const std::vector<Bytes> toKernel = k.taken();
  ASSERT_EQ(toKernel.size(), 8u);
  for (const Bytes& frame : toKernel) {
    EXPECT_EQ(read32(frame, kEthLength + 12), kPort0SnatIp) << "never the port address: the kernel owns it";
    EXPECT_EQ(destinationIpOf(frame), kPodIp);
  }
  const uint16_t snatPort = sourcePortOf(toKernel[0]);

  // The kernel asks for the SNAT address before it can send the reply: answered into the kernel.
  const Bytes who = arpRequest(kPort0SnatIp, kPort0Ip, kPort0Mac).build();
  k.send(who);
  EXPECT_TRUE(h.drainFromKernel().empty());
  const std::vector<Bytes> answer = k.taken();
  ASSERT_EQ(answer.size(), 1u);
  EXPECT_EQ(read16(answer[0], kEthLength + 6), 2) << "an ARP reply";
  EXPECT_EQ(read32(answer[0], kEthLength + 14), kPort0SnatIp) << "sender: the SNAT address";

  k.send(build(podReply(kPort0SnatIp, snatPort, kPort0Mac)));
  const std::vector<Sent> sent = h.drainFromKernel();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, build(translated(podReply(kPort0SnatIp, snatPort, kPort0Mac), EthSpec{kClientMac, kPort0Mac},
                                            kLocalVip, kClientIp, 80, 41000)))
      << hexDump(sent[0].frame);
}

TEST(ExceptionPath, ClusterIpToALocalEndpointWithoutExtraAddressesKeepsTheClient) {
  Harness h;
  KernelRings k(h);
  h.sync(withLocalService());
  EXPECT_TRUE(h.run(build(clientTcp(kLocalVip, 80))).empty());
  const std::vector<Bytes> toKernel = k.taken();
  ASSERT_EQ(toKernel.size(), 1u);
  EXPECT_EQ(read32(toKernel[0], kEthLength + 12), kClientIp);
  EXPECT_EQ(sourcePortOf(toKernel[0]), 40000);
}

TEST(ExceptionPath, TheKernelsOwnFramesLeaveThePortUnchanged) {
  Harness h;
  KernelRings k(h);
  TcpFrame ssh;
  ssh.eth = EthSpec{kClientMac, kPort0Mac};
  ssh.ip.source = kPort0Ip;
  ssh.ip.destination = kClientIp;
  ssh.tcp.sourcePort = 22;
  ssh.tcp.destinationPort = 50000;
  ssh.tcp.flags = kTcpSyn | kTcpAck;
  const Bytes arp = arpRequest(kOtherHost, kPort0Ip, kPort0Mac).build();
  k.send(build(ssh));
  k.send(arp);
  const std::vector<Sent> sent = h.drainFromKernel();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].port, 0);
  EXPECT_EQ(sent[0].frame, build(ssh));
  EXPECT_EQ(sent[1].frame, arp);
  EXPECT_EQ(h.counters().ports[0].fromKernelPackets, 2u);
  EXPECT_TRUE(k.taken().empty());
}

TEST(ExceptionPath, AReplyThatNamesNoWorkerVisitsTheOthers) {
  Harness::Options o;
  o.workerCount = 2;
  o.allWorkers = true;
  Harness h(o);
  KernelRings k(h, 256, 2);
  h.sync(withLocalService());
  EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, kLocalNodePort, 40000)), 0, 1).empty()) << "worker 1's connection";
  ASSERT_EQ(k.taken().size(), 1u);

  // The exception thread gives a reply to a client to worker 0.
  k.send(build(podReply(kClientIp, 40000, kClientMac)), 0);
  EXPECT_TRUE(h.drainFromKernel(0).empty()) << "worker 0 has no such connection: passed on";
  const std::vector<Sent> sent = h.drainFromKernel(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(read32(sent[0].frame, kEthLength + 12), kPort0Ip);
  EXPECT_EQ(h.counters(1).natReverse, 1u);
  EXPECT_EQ(h.counters(0).ports[0].fromKernelPackets + h.counters(1).ports[0].fromKernelPackets, 1u)
      << "counted once";

  // A pod's own traffic to the world: every worker looks, the last one sends it as it is.
  TcpFrame egress = podReply(ipv4(192, 0, 2, 99), 443, kClientMac);
  egress.tcp.flags = kTcpSyn;
  k.send(build(egress), 0);
  EXPECT_TRUE(h.drainFromKernel(0).empty());
  const std::vector<Sent> out = h.drainFromKernel(1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].frame, build(egress));
  // The node's own traffic is nobody's connection: out from the first worker.
  TcpFrame own = egress;
  own.ip.source = kPort0Ip;
  k.send(build(own), 0);
  EXPECT_EQ(h.drainFromKernel(0).size(), 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ExceptionPath, AReplyToThePortAddressRedirectedToItsSnatOwnerReachesTheKernel) {
  Harness::Options o;
  o.workerCount = 2;
  o.allWorkers = true;
  Harness h(o);
  KernelRings k(h, 256, 2);
  const Bytes ownReply = build(clientTcp(kPort0Ip, 45001, 443, kTcpAck));  // 45001 % 2: worker 1's SNAT port
  EXPECT_TRUE(h.run(ownReply, 0, 0).empty());
  EXPECT_TRUE(k.taken().empty()) << "worker 0 hands it to the SNAT port's owner first";
  EXPECT_TRUE(h.drainRedirect(1).empty());
  EXPECT_EQ(k.taken(), std::vector<Bytes>{ownReply}) << "no connection of nicproxy's: the node's own";
  EXPECT_EQ(h.counters(1).ports[0].toKernelPackets, 1u);
}

TEST(ExceptionPath, TraceSaysWhichEndpointsAreOnThisNode) {
  Harness h;
  h.sync(withLocalService());
  TraceRequest r;
  r.source = kClientIp;
  r.sourcePort = 40000;
  r.destination = kPort0Ip;
  r.port = kLocalNodePort;
  r.protocol = Protocol::Tcp;
  const TraceView view = traceFrontend(r, h.provider().writer());
  ASSERT_EQ(view.candidates.size(), 1u);
  EXPECT_NE(view.candidates[0].find("10.244.1.5:8080 (on this node"), std::string::npos) << view.candidates[0];
  EXPECT_NE(view.verdict.find("keeps the client's address"), std::string::npos) << view.verdict;
}

}  // namespace
}  // namespace nicproxy::testing
