// kube-proxy's REJECT for a service port without endpoints: TCP gets a RST from the
// frontend, UDP gets ICMP port unreachable quoting the offending header + 8 bytes.
// Test addresses (see harness.hpp): client 10.50.0.100:40000 (02:00:00:00:00:64);
// services without endpoints at 10.96.0.20:80/TCP and 10.96.0.20:53/UDP; port 0's
// MAC 02:00:00:00:00:01.
#include <algorithm>

#include <gtest/gtest.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {
namespace {

/// The bare RST the node sends from the frontend: fresh IP header (id 0, no DF, TTL 64).
TcpFrame rst(uint32_t seq, uint32_t ack, uint8_t flags) {
  TcpFrame f;
  f.eth = EthSpec{kClientMac, kPort0Mac};
  f.ip.source = kEmptyVip;
  f.ip.destination = kClientIp;
  f.ip.id = 0;
  f.ip.fragment = 0;
  f.ip.ttl = 64;
  f.tcp.sourcePort = 80;
  f.tcp.destinationPort = 40000;
  f.tcp.seq = seq;
  f.tcp.ack = ack;
  f.tcp.flags = flags;
  f.tcp.window = 0;
  return f;
}

struct RejectCase {
  std::string description;
  TcpFrame input;
  TcpFrame expected;
};

TEST(Reject, TcpToAServiceWithoutEndpointsGetsARst) {
  std::vector<RejectCase> cases;
  {
    TcpFrame in = clientTcp(kEmptyVip, 80);
    cases.push_back({"bare SYN: RST+ACK, ack = seq + 1", in, rst(0, in.tcp.seq + 1, kTcpRst | kTcpAck)});
  }
  {
    TcpFrame in = clientTcp(kEmptyVip, 80);
    in.tcp.options = {0x02, 0x04, 0x05, 0xb4};
    in.tcp.payload = {'h', 'e', 'l', 'l', 'o'};
    cases.push_back({"SYN with options and 5 bytes of data: ack = seq + 1 + 5", in,
                     rst(0, in.tcp.seq + 6, kTcpRst | kTcpAck)});
  }
  {
    TcpFrame in = clientTcp(kEmptyVip, 80);
    in.tcp.seq = 0xffffffff;
    cases.push_back({"SYN at sequence 0xffffffff: the ack wraps to 0", in, rst(0, 0, kTcpRst | kTcpAck)});
  }
  {
    TcpFrame in = clientTcp(kEmptyVip, 80, 40000, kTcpAck | kTcpPsh);
    in.tcp.ack = 0xa0b0c0d0;
    in.tcp.payload = {'d', 'a', 't', 'a'};
    cases.push_back({"ACK with data: RST with seq = their ack", in, rst(0xa0b0c0d0, 0, kTcpRst)});
  }
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    const std::vector<Sent> sent = h.run(c.input.build());
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].port, 0u);
    const Bytes expected = c.expected.build();
    EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
    EXPECT_EQ(h.counters().rejected, 1u);
    EXPECT_EQ(h.counters().flowsCreated, 0u);
    EXPECT_EQ(h.counters().totalDrops(), 0u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(Reject, RstIsNeverAnsweredWithRst) {
  Harness h;
  EXPECT_TRUE(h.run(build(clientTcp(kEmptyVip, 80, 40000, kTcpRst))).empty());
  EXPECT_EQ(h.counters().rejected, 0u);
  EXPECT_EQ(h.dropCount(DropReason::NoService), 1u);
}

TEST(Reject, UdpToAServiceWithoutEndpointsGetsPortUnreachable) {
  Harness h;
  const UdpFrame in = clientUdp(kEmptyVip, 53);
  const Bytes input = in.build();
  const std::vector<Sent> sent = h.run(input);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].port, 0u);

  IcmpFrame expected;
  expected.eth = EthSpec{kClientMac, kPort0Mac};
  expected.ip.source = kEmptyVip;
  expected.ip.destination = kClientIp;
  expected.ip.id = 0;
  expected.ip.fragment = 0;
  expected.ip.ttl = 64;
  expected.type = 3;  // destination unreachable
  expected.code = 3;  // port unreachable
  expected.rest = 0;
  // RFC 792: the original IP header (as received) and the first 8 bytes of its data.
  expected.data.assign(input.begin() + kEthLength, input.begin() + kEthLength + kIpv4Length + 8);
  const Bytes want = expected.build();
  EXPECT_EQ(sent[0].frame, want) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(want);
  EXPECT_EQ(h.counters().rejected, 1u);
  EXPECT_EQ(h.counters().totalDrops(), 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Reject, PortUnreachableQuotesIpOptions) {
  Harness h;
  UdpFrame in = clientUdp(kEmptyVip, 53);
  in.ip.options = {0x94, 0x04, 0x00, 0x00};
  const Bytes input = in.build();
  const std::vector<Sent> sent = h.run(input);
  ASSERT_EQ(sent.size(), 1u);
  const Bytes& out = sent[0].frame;
  ASSERT_EQ(out.size(), kEthLength + kIpv4Length + 8 + 24 + 8);
  EXPECT_TRUE(std::equal(out.begin() + kEthLength + kIpv4Length + 8, out.end(), input.begin() + kEthLength));
  EXPECT_EQ(internetChecksum(out.data() + kEthLength, kIpv4Length), 0) << "IP checksum";
  EXPECT_EQ(internetChecksum(out.data() + kEthLength + kIpv4Length, out.size() - kEthLength - kIpv4Length), 0)
      << "ICMP checksum";
}

}  // namespace
}  // namespace nicproxy::testing
