// ARP and ICMP echo answered by the worker for the node's own addresses.
// Test addresses (see harness.hpp): port 0 is 10.50.0.1 (02:00:00:00:00:01); requester
// 10.50.0.100 (02:00:00:00:00:64); external IPs 10.50.0.200 (in port 0's subnet, answered)
// and 192.0.2.10 (outside, not answered); ClusterIP 10.96.0.10 (never answered);
// unrelated 10.50.0.77; port 1's 10.60.0.1 asked on port 0. Learning and the answering
// rules for addresses other hosts own: neighbor_test.cpp.
#include <cstring>
#include <optional>

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {
namespace {

/// The reply the node owes for `request`, claiming `address` for port 0's MAC.
ArpFrame arpReply(const ArpFrame& request) {
  ArpFrame f;
  f.eth = EthSpec{request.senderMac, kPort0Mac};
  f.opcode = 2;
  f.senderMac = kPort0Mac;
  f.senderIp = request.targetIp;
  f.targetMac = request.senderMac;
  f.targetIp = request.senderIp;
  f.padTo = 60;  // answered in place: the request's padding stays
  return f;
}



struct ArpCase {
  std::string description;
  ArpFrame request;
  bool answered;
};

TEST(Arp, RequestsForOurAddressesAreAnsweredByteExact) {
  const std::vector<ArpCase> cases = {
      {"port address", arpRequest(kPort0Ip), true},
      {"external IP inside the port subnet", arpRequest(kExternalInSubnet), true},
      {"external IP outside every port subnet", arpRequest(kExternalOutside), false},
      {"ClusterIP", arpRequest(kWebVip), false},
      {"unrelated host on the segment", arpRequest(ipv4(10, 50, 0, 77)), false},
      {"port 1's address asked on port 0", arpRequest(kPort1Ip), false},
  };
  for (const ArpCase& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    const std::vector<Sent> sent = h.run(c.request.build());
    if (c.answered) {
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_EQ(sent[0].port, 0u);
      const Bytes expected = arpReply(c.request).build();
      EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
      EXPECT_EQ(h.counters().arpReplies, 1u);
      EXPECT_EQ(h.counters().totalDrops(), 0u);
      EXPECT_EQ(neighborMac(h, kClientIp), std::nullopt) << "nicproxy did not ask for the requester: not learnt";
      EXPECT_EQ(h.plane().neighbors.size(), 4u) << "the four backends the harness resolved, nothing more";
    } else {
      EXPECT_TRUE(sent.empty());
      EXPECT_EQ(h.dropCount(DropReason::ArpIgnored), 1u);
      EXPECT_EQ(h.counters().arpReplies, 0u);
      EXPECT_EQ(neighborMac(h, kClientIp), std::nullopt) << "ARP not for us must not fill the table";
    }
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(Arp, MalformedArpIsIgnored) {
  Harness h;
  Bytes frame = arpRequest(kPort0Ip).build();
  frame[kEthLength + 4] = 8;  // hardware address length 8
  EXPECT_TRUE(h.run(frame).empty());
  EXPECT_EQ(h.dropCount(DropReason::ArpIgnored), 1u);
}

IcmpFrame echoRequest(uint32_t destination) {
  IcmpFrame f;
  f.eth = EthSpec{kPort0Mac, kClientMac};
  f.ip.source = kClientIp;
  f.ip.destination = destination;
  f.ip.ttl = 61;
  f.ip.id = 0x2222;
  f.type = 8;
  f.rest = 0x0bad0001;  // identifier, sequence
  f.data = {'p', 'i', 'n', 'g', 0, 1, 2, 3, 4, 5, 6};
  return f;
}

TEST(Icmp, EchoToALocalAddressIsAnswered) {
  for (uint32_t local : {kPort0Ip, kWebVip}) {
    SCOPED_TRACE(local);
    Harness h;
    const IcmpFrame request = echoRequest(local);
    const std::vector<Sent> sent = h.run(request.build());
    ASSERT_EQ(sent.size(), 1u);
    IcmpFrame reply = request;
    reply.eth = EthSpec{kClientMac, kPort0Mac};
    reply.ip.source = local;
    reply.ip.destination = kClientIp;
    reply.ip.ttl = 64;
    reply.type = 0;
    const Bytes expected = reply.build();
    EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
    EXPECT_EQ(h.counters().icmpEchoReplies, 1u);
  }
}

TEST(Icmp, OtherIcmpIsDropped) {
  Harness h;
  EXPECT_TRUE(h.run(echoRequest(kUnknownVip).build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::NotForUs), 1u);
  IcmpFrame timestamp = echoRequest(kPort0Ip);
  timestamp.type = 13;  // timestamp request
  EXPECT_TRUE(h.run(timestamp.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::IcmpIgnored), 1u);
  IcmpFrame reply = echoRequest(kWebVip);
  reply.type = 0;  // an echo reply nobody asked for
  EXPECT_TRUE(h.run(reply.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::IcmpIgnored), 2u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

}  // namespace
}  // namespace nicproxy::testing
