// Ingress filtering (dpdk_app/ingress_filter.hpp): frames no one may send us are dropped
// with the reason that names them, before they are answered, learnt from or make a flow;
// frames next to them on the boundary, and IPv4 options other than source routes, go
// through unchanged.
// Test addresses (see harness.hpp): client 10.50.0.100 (02:00:00:00:00:64) on port 0
// (10.50.0.1/24, broadcast 10.50.0.255) with a second SNAT address 10.50.0.5; port 1 is
// 10.60.0.1/24 (broadcast 10.60.0.255); service 10.96.0.10:80/TCP and :53/UDP -> backend
// 10.50.0.11:8080 and :5353 (02:00:00:00:00:0b).
#include <cstring>
#include <optional>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {
namespace {

constexpr size_t kIpChecksumOffset = kEthLength + 10;

/// A harness whose port 0 has the second SNAT address, so that it is an own address too.
struct IngressHarness : Harness {
  IngressHarness() { addSnatAddress(0, kPort0SnatIp); }
};

struct DropCase {
  std::string description;
  Bytes frame;
  DropReason reason;
};

/// The frame must be dropped for `reason` alone, send nothing and leave no flow behind.
void expectDropped(Harness& h, const DropCase& c) {
  SCOPED_TRACE(c.description);
  const WorkerCounters before = h.counters();
  EXPECT_TRUE(h.run(c.frame).empty());
  EXPECT_EQ(h.dropCount(c.reason) - before.dropCount(c.reason), 1u) << "expected " << dropReasonName(c.reason);
  EXPECT_EQ(h.counters().totalDrops() - before.totalDrops(), 1u);
  EXPECT_EQ(h.counters().flowsCreated, 0u);
  EXPECT_EQ(h.counters().arpReplies + h.counters().icmpEchoReplies + h.counters().rejected, 0u);
  EXPECT_EQ(h.flows().size(), 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

std::string firstDropReason(const Harness& h) {
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    if (h.counters().drops[r] != 0) return dropReasonName(static_cast<DropReason>(r));
  }
  return "nothing";
}

/// The SYN `f` must be forwarded to the web backend from one of port 0's SNAT addresses,
/// byte for byte as the NAT step makes it from the same spec (IP options included,
/// checksums computed from scratch).
void expectForwarded(Harness& h, const TcpFrame& f) {
  const std::vector<Sent> sent = h.run(f.build());
  ASSERT_EQ(sent.size(), 1u) << "dropped as " << firstDropReason(h);
  const uint32_t snatIp = read32(sent[0].frame, kEthLength + 12);
  EXPECT_TRUE(snatIp == kPort0Ip || snatIp == kPort0SnatIp) << std::hex << snatIp;
  const Bytes expected =
      build(translated(f, EthSpec{kBackendMac, kPort0Mac}, snatIp, kBackendIp, sourcePortOf(sent[0].frame), 8080));
  EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
  EXPECT_EQ(h.counters().totalDrops(), 0u);
}

TcpFrame synFrom(uint32_t source) {
  TcpFrame f = clientTcp(kWebVip, 80);
  f.ip.source = source;
  return f;
}

std::vector<DropCase> martianCases() {
  std::vector<DropCase> cases;
  const std::pair<const char*, uint32_t> sources[] = {
      {"0.0.0.0", ipv4(0, 0, 0, 0)},
      {"0.1.2.3 (this network, 0/8)", ipv4(0, 1, 2, 3)},
      {"127.0.0.1 (loopback)", ipv4(127, 0, 0, 1)},
      {"127.255.255.254 (loopback)", ipv4(127, 255, 255, 254)},
      {"224.0.0.1 (multicast)", ipv4(224, 0, 0, 1)},
      {"239.255.255.250 (multicast)", ipv4(239, 255, 255, 250)},
      {"240.0.0.1 (class E)", ipv4(240, 0, 0, 1)},
      {"255.255.255.255 (limited broadcast)", ipv4(255, 255, 255, 255)},
      {"10.50.0.255 (port 0's subnet broadcast)", ipv4(10, 50, 0, 255)},
      {"10.60.0.255 (port 1's subnet broadcast, arriving on port 0)", ipv4(10, 60, 0, 255)},
      {"10.50.0.1 (port 0's own address)", kPort0Ip},
      {"10.60.0.1 (port 1's own address)", kPort1Ip},
      {"10.50.0.5 (port 0's second SNAT address)", kPort0SnatIp},
  };
  for (const auto& [name, source] : sources) {
    cases.push_back({std::string("TCP SYN from ") + name, synFrom(source).build(), DropReason::MartianSource});
  }
  UdpFrame udp = clientUdp(kWebVip, 53);
  udp.ip.source = ipv4(127, 0, 0, 1);
  cases.push_back({"UDP from 127.0.0.1", udp.build(), DropReason::MartianSource});
  IcmpFrame echo;
  echo.eth = EthSpec{kPort0Mac, kClientMac};
  echo.ip.source = ipv4(10, 50, 0, 255);
  echo.ip.destination = kPort0Ip;
  echo.rest = 0x00010001;
  cases.push_back({"ICMP echo from the subnet broadcast (a smurf's reflection)", echo.build(),
                   DropReason::MartianSource});
  return cases;
}

TEST(Ingress, MartianSourcesAreDroppedAndMakeNoFlow) {
  for (const DropCase& c : martianCases()) {
    IngressHarness h;
    expectDropped(h, c);
  }
}

TEST(Ingress, SourcesNextToTheMartiansAreForwarded) {
  const std::pair<const char*, uint32_t> sources[] = {
      {"1.0.0.1", ipv4(1, 0, 0, 1)},
      {"126.255.255.254", ipv4(126, 255, 255, 254)},
      {"128.0.0.1", ipv4(128, 0, 0, 1)},
      {"223.255.255.254", ipv4(223, 255, 255, 254)},
      {"10.50.0.254 (a host on port 0's subnet)", ipv4(10, 50, 0, 254)},
      {"10.50.0.4 (next to the SNAT address)", ipv4(10, 50, 0, 4)},
      {"10.50.1.255 (a broadcast-looking address outside every subnet)", ipv4(10, 50, 1, 255)},
  };
  for (const auto& [name, source] : sources) {
    SCOPED_TRACE(name);
    IngressHarness h;
    expectForwarded(h, synFrom(source));
  }
}

TEST(Ingress, OnAPointToPointSubnetThePeerIsNoBroadcast) {
  // RFC 3021: a /31 has no broadcast address; both addresses are hosts.
  IngressHarness h;
  PortInfo& p1 = h.plane().ports[1];
  p1.address = rte_cpu_to_be_32(ipv4(10, 60, 0, 0));
  p1.mask = rte_cpu_to_be_32(0xfffffffe);
  TcpFrame f = synFrom(ipv4(10, 60, 0, 1));
  f.eth = EthSpec{kPort1Mac, kFarBackendMac};
  const std::vector<Sent> sent = h.run(f.build(), 1);
  EXPECT_EQ(sent.size(), 1u);
  EXPECT_EQ(h.counters().totalDrops(), 0u) << firstDropReason(h);
}



TEST(Ingress, ArpFromAMartianSenderIsNeitherAnsweredNorLearnt) {
  const std::pair<const char*, uint32_t> senders[] = {
      {"127.0.0.1", ipv4(127, 0, 0, 1)},
      {"224.0.0.5", ipv4(224, 0, 0, 5)},
      {"10.50.0.255 (subnet broadcast)", ipv4(10, 50, 0, 255)},
      {"10.50.0.1 (our own address: a conflict or a spoof)", kPort0Ip},
      {"10.50.0.5 (our SNAT address)", kPort0SnatIp},
  };
  for (const auto& [name, sender] : senders) {
    IngressHarness h;
    expectDropped(h, {std::string("ARP request from ") + name, arpRequest(kPort0Ip, sender).build(),
                      DropReason::MartianSource});
    EXPECT_EQ(neighborMac(h, sender), std::nullopt);
  }
}

TEST(Ingress, ArpProbeFromZeroIsStillAnswered) {
  // RFC 5227: a host checking that an address is free asks with sender 0.0.0.0.
  IngressHarness h;
  const std::vector<Sent> sent = h.run(arpRequest(kPort0Ip, 0).build());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(h.counters().arpReplies, 1u);
  EXPECT_EQ(h.counters().totalDrops(), 0u);
}

TEST(Ingress, BroadcastOrMulticastSourceMacIsDroppedWithoutAReply) {
  const std::pair<const char*, Mac> macs[] = {
      {"broadcast", kBroadcast},
      {"IPv4 multicast 01:00:5e:00:00:01", Mac{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}},
      {"IPv6 multicast 33:33:00:00:00:01", Mac{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}},
      {"any address with the group bit, 03:00:00:00:00:64", Mac{0x03, 0, 0, 0, 0, 0x64}},
      {"all zeros", kZeroMac},
  };
  for (const auto& [name, mac] : macs) {
    std::vector<DropCase> cases;
    TcpFrame syn = clientTcp(kWebVip, 80);
    syn.eth.source = mac;
    cases.push_back({std::string("TCP SYN from ") + name, syn.build(), DropReason::BadSourceMac});
    IcmpFrame echo;
    echo.eth = EthSpec{kPort0Mac, mac};
    echo.ip.source = kClientIp;
    echo.ip.destination = kPort0Ip;
    cases.push_back({std::string("ICMP echo from ") + name, echo.build(), DropReason::BadSourceMac});
    ArpFrame arp = arpRequest(kPort0Ip, kClientIp);
    arp.eth.source = mac;
    cases.push_back({std::string("ARP request from ") + name, arp.build(), DropReason::BadSourceMac});
    TcpFrame empty = clientTcp(kEmptyVip, 80);  // would be answered with a RST
    empty.eth.source = mac;
    cases.push_back({std::string("SYN to a service without endpoints from ") + name, empty.build(),
                     DropReason::BadSourceMac});
    for (const DropCase& c : cases) {
      Harness h;
      expectDropped(h, c);
      EXPECT_EQ(neighborMac(h, kClientIp), std::nullopt);
    }
  }
}

TEST(Ingress, FramesToAnotherMacAreNotForUsRatherThanMartians) {
  // A DHCP discover on the segment: from 0.0.0.0 to the broadcast MAC. Not an attack on
  // us; counted as what it is.
  UdpFrame dhcp;
  dhcp.eth = EthSpec{kBroadcast, kClientMac};
  dhcp.ip.source = 0;
  dhcp.ip.destination = ipv4(255, 255, 255, 255);
  dhcp.udp.sourcePort = 68;
  dhcp.udp.destinationPort = 67;
  Harness h;
  expectDropped(h, {"DHCP discover", dhcp.build(), DropReason::NotForUs});
}

/// A SYN whose stored header checksum is `stored` instead of the right one.
Bytes withIpChecksum(Bytes frame, uint16_t stored) {
  frame[kIpChecksumOffset] = static_cast<uint8_t>(stored >> 8);
  frame[kIpChecksumOffset + 1] = static_cast<uint8_t>(stored);
  return frame;
}

TEST(Ingress, BadIpChecksumIsDropped) {
  const Bytes good = clientTcp(kWebVip, 80).build();
  const uint16_t right = read16(good, kIpChecksumOffset);
  TcpFrame withOptions = clientTcp(kWebVip, 80);
  withOptions.ip.options = {0x94, 0x04, 0x00, 0x00};  // router alert
  Bytes optionFlipped = withOptions.build();
  optionFlipped[kEthLength + 22] ^= 0x01;  // an option byte: the checksum covers the options too
  const std::vector<DropCase> cases = {
      {"checksum off by one", withIpChecksum(good, static_cast<uint16_t>(right + 1)), DropReason::BadIpChecksum},
      {"checksum zero", withIpChecksum(good, 0), DropReason::BadIpChecksum},
      {"a flipped option byte", optionFlipped, DropReason::BadIpChecksum},
      {"a flipped source address bit (would be martian 138.50.0.100 otherwise: integrity first)",
       [&] {
         Bytes f = good;
         f[kEthLength + 12] ^= 0x80;
         return f;
       }(),
       DropReason::BadIpChecksum},
  };
  for (const DropCase& c : cases) {
    Harness h;
    expectDropped(h, c);
  }
}

TEST(Ingress, EitherFormOfAZeroChecksumIsRight) {
  // One's complement has two zeros: a header whose checksum computes to 0x0000 may carry
  // 0x0000 or 0xffff. Choose the IP id so that the header sums to 0xffff without it.
  TcpFrame f = clientTcp(kWebVip, 80);
  f.ip.id = 0;
  const Bytes base = f.build();
  const uint16_t checksumWithIdZero = read16(base, kIpChecksumOffset);
  // checksum = ~sum; adding id = checksum makes the sum 0xffff and the checksum 0.
  f.ip.id = checksumWithIdZero;
  Bytes zero = f.build();
  ASSERT_EQ(read16(zero, kIpChecksumOffset), 0u);
  for (uint16_t stored : {uint16_t{0x0000}, uint16_t{0xffff}}) {
    SCOPED_TRACE(stored);
    Harness h;
    const std::vector<Sent> sent = h.run(withIpChecksum(zero, stored));
    EXPECT_EQ(sent.size(), 1u);
    EXPECT_EQ(h.counters().totalDrops(), 0u);
  }
}

TEST(Ingress, TheNicsChecksumVerdictIsUsedWhenThePmdGivesOne) {
  const Bytes good = clientTcp(kWebVip, 80).build();
  const Bytes bad = withIpChecksum(good, static_cast<uint16_t>(read16(good, kIpChecksumOffset) ^ 0x0100));
  {
    Harness h;
    h.setRxFlags(RTE_MBUF_F_RX_IP_CKSUM_BAD);
    expectDropped(h, {"a right header the NIC calls BAD", good, DropReason::BadIpChecksum});
  }
  {
    // The NIC checked, so the worker does not: what it says goes.
    Harness h;
    h.setRxFlags(RTE_MBUF_F_RX_IP_CKSUM_GOOD);
    EXPECT_EQ(h.run(bad).size(), 1u);
    EXPECT_EQ(h.counters().totalDrops(), 0u);
  }
  {
    // NONE: the header is verified but its checksum field was not filled in. The worker
    // writes it before the NAT step updates it, so what leaves is right.
    Harness h;
    h.setRxFlags(RTE_MBUF_F_RX_IP_CKSUM_NONE);
    expectForwarded(h, clientTcp(kWebVip, 80));
    Harness h2;
    h2.setRxFlags(RTE_MBUF_F_RX_IP_CKSUM_NONE);
    const std::vector<Sent> sent = h2.run(withIpChecksum(good, 0));
    ASSERT_EQ(sent.size(), 1u);
    const size_t headerEnd = kEthLength + kIpv4Length;
    EXPECT_EQ(internetChecksum(sent[0].frame.data() + kEthLength, headerEnd - kEthLength), 0u)
        << "the forwarded header's checksum must verify";
    // The same with the check switched off (dpdk.ingress.verifyIpChecksum: false): writing
    // the missing checksum is what NAT needs, not a filter.
    Harness h3;
    h3.plane().ingress.ipChecksum = false;
    h3.setRxFlags(RTE_MBUF_F_RX_IP_CKSUM_NONE);
    const std::vector<Sent> unchecked = h3.run(withIpChecksum(good, 0));
    ASSERT_EQ(unchecked.size(), 1u);
    EXPECT_EQ(internetChecksum(unchecked[0].frame.data() + kEthLength, headerEnd - kEthLength), 0u)
        << "with verifyIpChecksum off, the forwarded header's checksum must still verify";
  }
}

TEST(Ingress, IpOptionsOtherThanSourceRoutesAreForwardedUnchanged) {
  TcpFrame f = clientTcp(kWebVip, 80);
  f.ip.options = {
      0x01,                                                // no operation
      0x94, 0x04, 0x00, 0x00,                              // router alert
      0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00,            // record route, one empty slot
      0x44, 0x0c, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,      // timestamp, two empty slots
      0x00,                                                // end of option list
      0x83, 0x03, 0x00,  // padding after the end of the list: not an option (an LSRR look-alike)
  };
  ASSERT_EQ(f.ip.options.size() % 4, 0u);
  Harness h;
  expectForwarded(h, f);
}

std::vector<DropCase> optionCases() {
  auto with = [](Bytes options) {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.ip.options = std::move(options);
    return f.build();
  };
  const Bytes lsrr = {0x83, 0x07, 0x04, 10, 50, 0, 77, 0x00};  // loose source route via 10.50.0.77
  const Bytes ssrr = {0x89, 0x07, 0x04, 10, 50, 0, 77, 0x00};  // strict
  return {
      {"loose source route (LSRR)", with(lsrr), DropReason::IpSourceRoute},
      {"strict source route (SSRR)", with(ssrr), DropReason::IpSourceRoute},
      {"LSRR after a NOP and a router alert",
       with({0x01, 0x94, 0x04, 0x00, 0x00, 0x83, 0x07, 0x04, 10, 50, 0, 77}), DropReason::IpSourceRoute},
      {"option length 0", with({0x07, 0x00, 0x00, 0x00}), DropReason::BadIpHeader},
      {"option length 1", with({0x07, 0x01, 0x00, 0x00}), DropReason::BadIpHeader},
      {"option longer than the header", with({0x07, 0x08, 0x04, 0x00}), DropReason::BadIpHeader},
      {"option type in the last byte, no room for its length", with({0x01, 0x01, 0x01, 0x07}),
       DropReason::BadIpHeader},
  };
}

TEST(Ingress, SourceRoutesAndMalformedOptionsAreDropped) {
  for (const DropCase& c : optionCases()) {
    Harness h;
    expectDropped(h, c);
  }
}

TEST(Ingress, EachCheckCanBeSwitchedOff) {
  TcpFrame fromBroadcastMac = clientTcp(kWebVip, 80);
  fromBroadcastMac.eth.source = kBroadcast;
  const Bytes good = clientTcp(kWebVip, 80).build();
  const struct {
    const char* description;
    bool IngressChecks::*check;
    Bytes frame;
  } cases[] = {
      {"sourceMac", &IngressChecks::sourceMac, fromBroadcastMac.build()},
      {"martianSource", &IngressChecks::martianSource, synFrom(ipv4(127, 0, 0, 1)).build()},
      {"ipChecksum", &IngressChecks::ipChecksum,
       withIpChecksum(good, static_cast<uint16_t>(read16(good, kIpChecksumOffset) + 1))},
      {"ipOptions", &IngressChecks::ipOptions, optionCases()[0].frame},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    h.plane().ingress.*c.check = false;
    EXPECT_EQ(h.run(c.frame).size(), 1u) << "forwarded once its check is off";
    EXPECT_EQ(h.counters().totalDrops(), 0u);
  }
}

}  // namespace
}  // namespace nicproxy::testing
