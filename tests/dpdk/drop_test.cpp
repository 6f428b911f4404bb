// Frames the worker must drop, each with the one drop reason that names why, and a
// fuzz-ish loop of garbage and mutated frames (fixed seed) that checks that every
// frame is accounted for and no mbuf leaks.
// Test addresses (see harness.hpp): client 10.50.0.100:40000; services 10.96.0.10:80/TCP,
// :53/UDP; no service at 10.96.0.99 or 10.50.0.1:80; backend 10.50.0.11:8080 replying to
// 10.50.0.1:40001 without a flow; another host's MAC 02:00:00:00:00:77.
#include <random>

#include <gtest/gtest.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {
namespace {

struct DropCase {
  std::string description;
  Bytes frame;
  DropReason reason;
};

Bytes syn() { return build(clientTcp(kWebVip, 80)); }

Bytes withByte(Bytes frame, size_t offset, uint8_t value) {
  frame.at(offset) = value;
  return frame;
}

std::vector<DropCase> malformedCases() {
  std::vector<DropCase> cases;
  cases.push_back({"empty frame", Bytes{}, DropReason::TooShort});
  cases.push_back({"10-byte frame", Bytes(10, 0xab), DropReason::TooShort});
  {
    Bytes f = syn();
    f.resize(kEthLength);
    cases.push_back({"Ethernet header only", f, DropReason::TooShort});
    f = syn();
    f.resize(kEthLength + 19);
    cases.push_back({"IPv4 header cut at 19 bytes", f, DropReason::TooShort});
  }
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.ip.ihl = 4;
    cases.push_back({"IHL 4", f.build(), DropReason::BadIpHeader});
    f.ip.ihl = 15;  // 60-byte header in a 40-byte datagram
    cases.push_back({"IHL larger than the total length", f.build(), DropReason::BadIpHeader});
  }
  cases.push_back({"IP version 6 in an IPv4 EtherType", withByte(syn(), kEthLength, 0x65), DropReason::BadIpHeader});
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.ip.totalLength = 19;
    cases.push_back({"total length below the header length", f.build(), DropReason::BadIpHeader});
    f.ip.totalLength = 41;
    cases.push_back({"total length one byte past the frame", f.build(), DropReason::TooShort});
    f.ip.totalLength = 1500;
    cases.push_back({"total length far past the frame", f.build(), DropReason::TooShort});
  }
  {
    ArpFrame a;
    a.eth = EthSpec{kBroadcast, kClientMac};
    Bytes f = a.build();
    f.resize(kEthLength + 27);
    cases.push_back({"ARP cut at 27 bytes", f, DropReason::TooShort});
  }
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.tcp.dataOffset = 4;
    cases.push_back({"TCP data offset 4", f.build(), DropReason::BadL4Header});
    f.tcp.dataOffset = 15;
    cases.push_back({"TCP data offset past the segment", f.build(), DropReason::BadL4Header});
    f = clientTcp(kWebVip, 80);
    f.ip.totalLength = 20 + 12;
    Bytes cut = f.build();
    cut.resize(kEthLength + 32);
    cases.push_back({"TCP header of 12 bytes", cut, DropReason::BadL4Header});
  }
  {
    UdpFrame f = clientUdp(kWebVip, 53);
    f.udp.length = static_cast<uint16_t>(8 + f.udp.payload.size() + 1);
    cases.push_back({"UDP length one past the IP payload", f.build(), DropReason::BadL4Header});
    f.udp.length = 7;
    cases.push_back({"UDP length below 8", f.build(), DropReason::BadL4Header});
    f = clientUdp(kWebVip, 53);
    f.udp.payload.clear();
    f.ip.totalLength = 20 + 4;
    Bytes cut = f.build();
    cut.resize(kEthLength + 24);
    cases.push_back({"UDP header of 4 bytes", cut, DropReason::BadL4Header});
  }
  {
    // More in fragment_test.cpp; fragments that pass these checks wait for reassembly.
    TcpFrame f = clientTcp(kWebVip, 80);
    f.ip.fragment = 0x2000;  // MF
    cases.push_back({"first fragment (MF) of 20 bytes, not a multiple of 8", f.build(), DropReason::FragmentMalformed});
    IcmpFrame ping;
    ping.eth = EthSpec{kPort0Mac, kClientMac};
    ping.ip.source = kClientIp;
    ping.ip.destination = kPort0Ip;
    ping.ip.fragment = 0x00b9;  // offset 185 * 8, last fragment
    cases.push_back({"last fragment (offset) of an ICMP message", ping.build(), DropReason::IpFragment});
  }
  {
    Bytes v6 = syn();
    v6[12] = 0x86;
    v6[13] = 0xdd;
    cases.push_back({"IPv6 EtherType", v6, DropReason::UnsupportedL2});
    Bytes vlan = syn();
    vlan[12] = 0x81;
    vlan[13] = 0x00;
    cases.push_back({"VLAN tag", vlan, DropReason::UnsupportedL2});
  }
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    Bytes gre = f.build();
    gre[kEthLength + 9] = kProtoGre;  // checksum now stale too: protocol is judged first
    cases.push_back({"GRE (protocol 47)", gre, DropReason::UnsupportedL4});
  }
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.eth.destination = Mac{0x02, 0, 0, 0, 0, 0x77};
    cases.push_back({"IPv4 to another host's MAC", f.build(), DropReason::NotForUs});
    f.eth.destination = kBroadcast;
    cases.push_back({"IPv4 to the broadcast MAC", f.build(), DropReason::NotForUs});
  }
  return cases;
}

std::vector<DropCase> policyCases() {
  std::vector<DropCase> cases;
  cases.push_back({"SYN to an address that is no service", build(clientTcp(kUnknownVip, 80)), DropReason::NotForUs});
  cases.push_back({"SYN to the node address without a service", build(clientTcp(kPort0Ip, 80)), DropReason::NoService});
  cases.push_back({"SYN to a ClusterIP on a port it does not serve", build(clientTcp(kWebVip, 81)), DropReason::NoService});
  cases.push_back({"UDP to a TCP-only service port", build(clientUdp(kMultiVip, 80)), DropReason::NoService});
  {
    TcpFrame reply;
    reply.eth = EthSpec{kPort0Mac, kBackendMac};
    reply.ip.source = kBackendIp;
    reply.ip.destination = kPort0Ip;
    reply.tcp.sourcePort = 8080;
    reply.tcp.destinationPort = 40001;
    reply.tcp.flags = kTcpSyn | kTcpAck;
    cases.push_back({"reply to a SNAT port without a flow", reply.build(), DropReason::NoFlow});
  }
  cases.push_back({"ACK to a VIP without a flow", build(clientTcp(kWebVip, 80, 40000, kTcpAck)), DropReason::TcpNotSyn});
  cases.push_back({"SYN-ACK to a VIP without a flow", build(clientTcp(kWebVip, 80, 40000, kTcpSyn | kTcpAck)),
                   DropReason::TcpNotSyn});
  cases.push_back({"RST to a VIP without a flow", build(clientTcp(kWebVip, 80, 40000, kTcpRst)), DropReason::TcpNotSyn});
  for (uint8_t ttl : {1, 0}) {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.ip.ttl = ttl;
    cases.push_back({"SYN with TTL " + std::to_string(ttl), f.build(), DropReason::TtlExceeded});
  }
  return cases;
}

void expectDropped(const DropCase& c) {
  SCOPED_TRACE(c.description);
  Harness h;
  EXPECT_TRUE(h.run(c.frame).empty());
  EXPECT_EQ(h.dropCount(c.reason), 1u) << "expected " << dropReasonName(c.reason);
  EXPECT_EQ(h.counters().totalDrops(), 1u);
  EXPECT_EQ(h.counters().rxPackets, 1u);
  EXPECT_EQ(h.counters().flowsCreated, 0u);
  EXPECT_EQ(h.flows().size(), 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Drop, MalformedFrames) {
  for (const DropCase& c : malformedCases()) expectDropped(c);
}

TEST(Drop, NotAServiceOrNotAllowed) {
  for (const DropCase& c : policyCases()) expectDropped(c);
}

TEST(Drop, BeforeTheFirstSyncNothingIsAService) {
  Harness::Options options;
  options.withServices = false;
  Harness h(options);
  EXPECT_TRUE(h.run(syn()).empty());
  EXPECT_EQ(h.dropCount(DropReason::NotForUs), 1u);
  EXPECT_TRUE(h.run(build(clientTcp(kPort0Ip, 80))).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoService), 1u);
}

// Random bytes and single-field mutations of valid frames, in bursts: nothing crashes,
// every frame is transmitted or dropped with a reason (answers such as ARP requests the
// worker makes itself are the only extra frames), and every mbuf comes back.
TEST(Drop, GarbageNeverCrashesAndEveryFrameIsAccountedFor) {
  Harness h;
  std::mt19937 rng(20240611);
  const std::vector<Bytes> seeds = {syn(), build(clientUdp(kWebVip, 53)), build(clientTcp(kPort0Ip, kWebNodePort)),
                                    build(clientTcp(kEmptyVip, 80)), build(clientUdp(kEmptyVip, 53)),
                                    build(clientTcp(kDarkVip, 80))};
  uint64_t sent = 0;
  for (int burst = 0; burst < 250; ++burst) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 32; ++i) {
      Bytes f;
      switch (rng() % 3) {
        case 0: {  // pure garbage of any length up to a full frame
          f.resize(rng() % 1515);
          for (uint8_t& b : f) b = static_cast<uint8_t>(rng());
          break;
        }
        case 1: {  // garbage behind a valid Ethernet header to us
          f.resize(kEthLength + rng() % 200);
          for (uint8_t& b : f) b = static_cast<uint8_t>(rng());
          std::copy(kPort0Mac.begin(), kPort0Mac.end(), f.begin());
          f[12] = 0x08;
          f[13] = 0x00;
          break;
        }
        default: {  // a valid frame with a few bytes changed and maybe cut short
          f = seeds[rng() % seeds.size()];
          for (unsigned n = 1 + rng() % 3; n > 0; --n) f[kEthLength + rng() % (f.size() - kEthLength)] = static_cast<uint8_t>(rng());
          if (rng() % 4 == 0) f.resize(rng() % f.size());
          break;
        }
      }
      frames.push_back(std::move(f));
    }
    sent += h.run(frames).size();
  }
  // Mutated fragments wait for the rest of their datagram until the reassembly timeout.
  h.setNow(h.now() + 60 * h.hz());
  sent += h.housekeeping().size();
  const WorkerCounters& c = h.counters();
  EXPECT_EQ(c.rxPackets, 250u * 32u);
  // Every frame is sent, dropped with a reason, an ARP reply consumed by learning, or a
  // fragment that went into a datagram (which is then sent or dropped in its turn, maybe
  // in fragments).
  EXPECT_EQ(c.rxPackets + c.arpRequests + c.datagramsReassembled + c.fragmentsSent,
            sent + c.totalDrops() + c.arpLearned + c.fragmentsReassembled + c.datagramsFragmented);
  EXPECT_GT(c.totalDrops(), 0u);
  EXPECT_GT(sent, 0u) << "the mutations should let some frames through";
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

}  // namespace
}  // namespace nicproxy::testing
