// IPv4 fragments through processBurst(): a datagram that arrives in fragments is
// reassembled, translated like any other, and leaves in fragments that fit the egress
// port's MTU; fragments that cannot make a datagram are dropped and counted by reason, and
// no mbuf stays behind. Each expected datagram is built from scratch (frames.cpp) and
// compared byte for byte, checksums included, with what the worker's fragments reassemble
// to (fragment_frames.hpp, RFC 791 in the test itself).
// Test addresses (see harness.hpp): client 10.50.0.100:40000; UDP 10.96.0.10:53 ->
// backend 10.50.0.11:5353, TCP 10.96.0.10:80 -> 10.50.0.11:8080, TCP 10.96.0.50:80 ->
// 10.60.0.21:9090 behind port 1; node address 10.50.0.1. Both ports have MTU 1500 unless
// a test says otherwise.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/dpdk/fragment_frames.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {
namespace {

constexpr size_t kMtu = 1500;

/// A UDP datagram from the client to the dns service with a `payload`-byte body and DF
/// clear, as a client's kernel fragments it.
UdpFrame bigQuery(size_t payload) {
  UdpFrame f = clientUdp(kWebVip, 53);
  f.ip.fragment = 0;
  f.ip.id = 0x5151;
  f.udp.payload = patternPayload(payload);
  return f;
}

/// The backend's answer to SNAT port `snat`.
UdpFrame bigAnswer(uint16_t snat, size_t payload) {
  UdpFrame f;
  f.eth = EthSpec{kPort0Mac, kBackendMac};
  f.ip.source = kBackendIp;
  f.ip.destination = kPort0Ip;
  f.ip.fragment = 0;
  f.ip.id = 0x6161;
  f.udp.sourcePort = 5353;
  f.udp.destinationPort = snat;
  f.udp.payload = patternPayload(payload);
  for (uint8_t& b : f.udp.payload) b = static_cast<uint8_t>(b ^ 0x5a);
  return f;
}

/// What a receiver on `port` makes of `sent`: every frame must leave on that port, fit its
/// MTU and carry a valid IP header checksum.
Bytes receive(const std::vector<Sent>& sent, uint16_t port, size_t mtu = kMtu) {
  std::vector<Bytes> frames;
  for (const Sent& s : sent) {
    EXPECT_EQ(s.port, port);
    EXPECT_LE(s.frame.size(), kEthLength + mtu);
    EXPECT_TRUE(ipChecksumValid(s.frame)) << hexDump(s.frame);
    frames.push_back(s.frame);
  }
  return reassembleFrames(frames);
}

/// `frame` with its IP flags and offset field replaced (checksum rewritten).
Bytes withFragmentField(Bytes frame, uint16_t field) {
  frame.at(kEthLength + 6) = static_cast<uint8_t>(field >> 8);
  frame.at(kEthLength + 7) = static_cast<uint8_t>(field);
  fragment_detail::rewriteIpChecksum(frame);
  return frame;
}

std::vector<Bytes> inOrder(const std::vector<Bytes>& frames, const std::vector<size_t>& order) {
  std::vector<Bytes> out;
  for (size_t i : order) out.push_back(frames.at(i));
  return out;
}

/// Moves the harness clock past the reassembly timeout (5 s) and runs housekeeping.
void expireAll(Harness& h) {
  h.setNow(h.now() + 6 * h.hz());
  EXPECT_TRUE(h.housekeeping().empty());
}

TEST(Fragments, UdpDatagramInThreeFragmentsReachesTheBackendWhole) {
  const UdpFrame query = bigQuery(3000);  // IP payload 3008: fragments of 1024, 1024, 960
  const std::vector<Bytes> fragments = splitFrame(query.build(), 1024);
  ASSERT_EQ(fragments.size(), 3u);
  const struct {
    std::string description;
    std::vector<size_t> order;
    bool oneBurst;
  } cases[] = {
      {"in order, one burst", {0, 1, 2}, true},
      {"in order, one per burst", {0, 1, 2}, false},
      {"last first, one per burst", {2, 0, 1}, false},
      {"middle, last, first in one burst", {1, 2, 0}, true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    std::vector<Sent> sent;
    if (c.oneBurst) {
      sent = h.run(inOrder(fragments, c.order));
    } else {
      for (size_t n = 0; n + 1 < c.order.size(); ++n) {
        EXPECT_TRUE(h.run(fragments[c.order[n]]).empty()) << "nothing leaves before the datagram is whole";
        EXPECT_EQ(h.mbufsInUse(), n + 1) << "the fragments wait in the reassembly table";
      }
      sent = h.run(fragments[c.order.back()]);
    }
    // 3008 bytes of IP payload at MTU 1500: 1480 + 1480 + 48.
    ASSERT_EQ(sent.size(), 3u);
    const Bytes whole = receive(sent, 0);
    const uint16_t snat = sourcePortOf(whole);
    EXPECT_GE(snat, kSnatPortMin);
    const Bytes expected =
        build(translated(query, EthSpec{kBackendMac, kPort0Mac}, kPort0Ip, kBackendIp, snat, 5353));
    EXPECT_EQ(whole, expected) << "got\n" << hexDump(whole) << "\nwant\n" << hexDump(expected);
    const WorkerCounters& k = h.counters();
    EXPECT_EQ(k.datagramsReassembled, 1u);
    EXPECT_EQ(k.fragmentsReassembled, 3u);
    EXPECT_EQ(k.datagramsFragmented, 1u);
    EXPECT_EQ(k.fragmentsSent, 3u);
    EXPECT_EQ(k.flowsCreated, 1u);
    EXPECT_EQ(k.natForward, 1u);
    EXPECT_EQ(k.totalDrops(), 0u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(Fragments, ReplyInFragmentsIsTranslatedBack) {
  Harness h;
  const UdpFrame query = bigQuery(3000);
  const std::vector<Sent> out = h.run(splitFrame(query.build(), 1024));
  ASSERT_EQ(out.size(), 3u);
  const uint16_t snat = sourcePortOf(receive(out, 0));

  // The backend's kernel fragments its 4000-byte answer at MTU 1500.
  const UdpFrame answer = bigAnswer(snat, 4000);
  const std::vector<Sent> back = h.run(splitFrame(answer.build(), 1480));
  ASSERT_EQ(back.size(), 3u);
  const Bytes whole = receive(back, 0);
  const Bytes expected = build(translated(answer, EthSpec{kClientMac, kPort0Mac}, kWebVip, kClientIp, 53, 40000));
  EXPECT_EQ(whole, expected) << "got\n" << hexDump(whole) << "\nwant\n" << hexDump(expected);
  EXPECT_EQ(h.counters().natReverse, 1u);
  EXPECT_EQ(h.counters().datagramsReassembled, 2u);
  EXPECT_EQ(h.counters().totalDrops(), 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// A reply in fragments to one of the port's extra SNAT addresses (dpdk.ports[].snatAddresses)
// is the node's too: reassembled and translated back like one to the port address.
TEST(Fragments, ReplyToAnExtraSnatAddressIsReassembled) {
  constexpr uint32_t kExtraSnat = ipv4(10, 50, 0, 2);
  Harness h;
  h.addSnatAddress(0, kExtraSnat);
  uint16_t clientPort = 0;
  uint16_t snat = 0;
  for (uint16_t p = 41000; p < 41064 && clientPort == 0; ++p) {
    UdpFrame query = bigQuery(100);
    query.udp.sourcePort = p;
    const std::vector<Sent> out = h.run(query.build());
    ASSERT_EQ(out.size(), 1u);
    if (read32(out[0].frame, kEthLength + 12) == kExtraSnat) {
      clientPort = p;
      snat = sourcePortOf(out[0].frame);
    }
  }
  ASSERT_NE(clientPort, 0) << "no connection used the extra SNAT address";
  UdpFrame answer = bigAnswer(snat, 4000);
  answer.ip.destination = kExtraSnat;
  const std::vector<Sent> back = h.run(splitFrame(answer.build(), 1480));
  ASSERT_EQ(back.size(), 3u);
  const Bytes whole = receive(back, 0);
  const Bytes expected =
      build(translated(answer, EthSpec{kClientMac, kPort0Mac}, kWebVip, kClientIp, 53, clientPort));
  EXPECT_EQ(whole, expected) << "got\n" << hexDump(whole) << "\nwant\n" << hexDump(expected);
  EXPECT_EQ(h.dropCount(DropReason::NotForUs), 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Fragments, SmallDatagramInFragmentsLeavesInOneFrame) {
  for (const bool linearize : {false, true}) {
    SCOPED_TRACE(linearize ? "device without chained transmit" : "device with chained transmit");
    Harness h;
    h.plane().ports[0].linearizeTx = linearize;
    const UdpFrame query = bigQuery(600);  // IP payload 608: two fragments of 304
    const std::vector<Sent> sent = h.run(splitFrame(query.build(), 304));
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].segments, linearize ? 1u : 2u) << "the chain is copied into one mbuf only when needed";
    const uint16_t snat = sourcePortOf(sent[0].frame);
    const Bytes expected =
        build(translated(query, EthSpec{kBackendMac, kPort0Mac}, kPort0Ip, kBackendIp, snat, 5353));
    EXPECT_EQ(sent[0].frame, expected) << "got\n" << hexDump(sent[0].frame) << "\nwant\n" << hexDump(expected);
    EXPECT_EQ(h.counters().datagramsFragmented, 0u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(Fragments, TcpSegmentInFragments) {
  Harness h;
  TcpFrame syn = clientTcp(kWebVip, 80);
  syn.ip.fragment = 0;
  syn.tcp.payload = patternPayload(2000);  // a SYN with data, as TCP Fast Open sends
  const std::vector<Sent> sent = h.run(splitFrame(syn.build(), 1200));
  ASSERT_EQ(sent.size(), 2u);
  const Bytes whole = receive(sent, 0);
  const Bytes expected =
      build(translated(syn, EthSpec{kBackendMac, kPort0Mac}, kPort0Ip, kBackendIp, sourcePortOf(whole), 8080));
  EXPECT_EQ(whole, expected) << "got\n" << hexDump(whole) << "\nwant\n" << hexDump(expected);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// REJECT answers a reassembled datagram like any other: one bare RST (not the datagram's
// length of garbage), or one ICMP port unreachable.
TEST(Fragments, RejectAnswersOnceForAWholeDatagram) {
  Harness h;
  TcpFrame syn = clientTcp(kEmptyVip, 80);
  syn.ip.fragment = 0;
  syn.tcp.payload = patternPayload(2000);
  std::vector<Sent> sent = h.run(splitFrame(syn.build(), 1200));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].segments, 1u);
  EXPECT_EQ(sent[0].frame.size(), kEthLength + 40) << "a bare RST";
  EXPECT_EQ(sent[0].frame.at(l4Offset(sent[0].frame) + 13), kTcpRst | kTcpAck);
  EXPECT_EQ(read32(sent[0].frame, l4Offset(sent[0].frame) + 8), syn.tcp.seq + 1 + 2000);

  UdpFrame query = bigQuery(3000);
  query.ip.destination = kEmptyVip;
  sent = h.run(splitFrame(query.build(), 1024));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame.at(l4Offset(sent[0].frame)), 3) << "ICMP destination unreachable";
  EXPECT_EQ(h.counters().rejected, 2u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Port 1 has a smaller MTU than port 0: a whole frame from port 0 leaves port 1 in
// fragments, unless Don't Fragment forbids it.
TEST(Fragments, EgressPortMtu) {
  Harness h;
  h.plane().ports[1].mtu = 1000;
  TcpFrame syn = clientTcp(kFarVip, 80);
  syn.ip.fragment = 0;
  syn.tcp.payload = patternPayload(1400);
  const std::vector<Sent> sent = h.run(syn.build());
  ASSERT_EQ(sent.size(), 2u);
  const Bytes whole = receive(sent, 1, 1000);
  const Bytes expected =
      build(translated(syn, EthSpec{kFarBackendMac, kPort1Mac}, kPort1Ip, kFarBackendIp, sourcePortOf(whole), 9090));
  EXPECT_EQ(whole, expected) << "got\n" << hexDump(whole) << "\nwant\n" << hexDump(expected);
  EXPECT_EQ(h.counters().datagramsFragmented, 1u);

  TcpFrame withDf = clientTcp(kFarVip, 80, 40001);
  withDf.tcp.payload = patternPayload(1400);
  EXPECT_TRUE(h.run(withDf.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::FragmentationNeeded), 1u);
  EXPECT_EQ(h.counters().totalDrops(), 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// RSS hashes fragments on their addresses only, so a reply's fragments may meet on a
// worker that does not own the reply's flow: the whole datagram goes to the owner.
TEST(Fragments, ReassembledReplyGoesToTheWorkerThatOwnsItsFlow) {
  Harness::Options options;
  options.workerCount = 2;
  options.allWorkers = true;
  Harness h(options);
  const std::vector<Sent> out = h.run(splitFrame(bigQuery(3000).build(), 1024), 0, 0);
  ASSERT_EQ(out.size(), 3u);
  const uint16_t snat = sourcePortOf(receive(out, 0));
  ASSERT_EQ(snat % 2, 0) << "worker 0 owns its SNAT ports";

  const UdpFrame answer = bigAnswer(snat, 4000);
  EXPECT_TRUE(h.run(splitFrame(answer.build(), 1480), 0, 1).empty());
  EXPECT_EQ(h.counters(1).datagramsReassembled, 1u);
  EXPECT_EQ(h.counters(1).redirected, 1u);
  EXPECT_EQ(h.counters(1).totalDrops(), 0u);
  const std::vector<Sent> back = h.drainRedirect(0);
  ASSERT_EQ(back.size(), 3u);
  const Bytes expected = build(translated(answer, EthSpec{kClientMac, kPort0Mac}, kWebVip, kClientIp, 53, 40000));
  EXPECT_EQ(receive(back, 0), expected);
  EXPECT_EQ(h.counters(0).natReverse, 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Fragments, EightFragmentsMakeADatagram) {
  Harness h;
  const UdpFrame query = bigQuery(2040);  // IP payload 2048: 8 fragments of 256
  const std::vector<Bytes> fragments = splitFrame(query.build(), 256);
  ASSERT_EQ(fragments.size(), 8u);
  const std::vector<Sent> sent = h.run(fragments);
  ASSERT_EQ(sent.size(), 2u);
  const Bytes whole = receive(sent, 0);
  EXPECT_EQ(whole, build(translated(query, EthSpec{kBackendMac, kPort0Mac}, kPort0Ip, kBackendIp,
                                    sourcePortOf(whole), 5353)));
  EXPECT_EQ(h.counters().fragmentsReassembled, 8u);
}

struct DropCase {
  std::string description;
  std::vector<Bytes> frames;
  DropReason reason;
  uint64_t dropped;        // fragments counted under `reason` at once
  uint64_t timedOut = 0;   // fragments left waiting, counted as fragment_timeout later
};

std::vector<DropCase> dropCases() {
  std::vector<DropCase> cases;
  const Bytes query = bigQuery(3000).build();  // IP payload 3008
  {
    // Bytes 1016..1023 arrive twice: the lengths add up past the end.
    cases.push_back({"overlapping fragments",
                     fragmentFrame(query, {{0, 1024, true}, {1016, 1024, true}, {2040, 968, false}}),
                     DropReason::FragmentRejected, 3});
    // The lengths add up to the end, but 1016..1023 twice and 2040..2047 never.
    cases.push_back({"overlap and a hole of the same size",
                     fragmentFrame(query, {{0, 1024, true}, {1016, 1024, true}, {2048, 960, false}}),
                     DropReason::FragmentRejected, 3});
  }
  {
    const std::vector<Bytes> f = splitFrame(query, 1024);
    cases.push_back({"a middle fragment twice", {f[0], f[1], f[1], f[2]}, DropReason::FragmentRejected, 4});
    cases.push_back({"the first fragment twice", {f[0], f[0]}, DropReason::FragmentRejected, 2});
  }
  {
    // IP payload 2304 in 9 fragments of 256: the 8th arrival finds no slot, and the
    // datagram is dropped with the 7 held; the 9th starts a datagram that never completes.
    const std::vector<Bytes> f = splitFrame(bigQuery(2296).build(), 256);
    cases.push_back({"more than 8 fragments", f, DropReason::FragmentRejected, 8, 1});
  }
  {
    TcpFrame syn = clientTcp(kWebVip, 80);
    syn.ip.fragment = 0;
    syn.tcp.payload = patternPayload(100);
    const Bytes segment = syn.build();
    cases.push_back({"first TCP fragment of 16 bytes (RFC 1858 tiny)", fragmentFrame(segment, {{0, 16, true}}),
                     DropReason::FragmentTiny, 1});
    cases.push_back({"TCP fragment at offset 8 (RFC 1858 overlap)", fragmentFrame(segment, {{8, 112, false}}),
                     DropReason::FragmentHeaderOverlap, 1});
    cases.push_back({"TCP fragment at offset 16 (inside the 20-byte header)", fragmentFrame(segment, {{16, 104, false}}),
                     DropReason::FragmentHeaderOverlap, 1});
    syn.tcp.options = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40};  // 32-byte header
    cases.push_back({"first TCP fragment of 24 bytes, header of 32", fragmentFrame(syn.build(), {{0, 24, true}}),
                     DropReason::FragmentTiny, 1});
  }
  {
    cases.push_back({"fragment without payload", fragmentFrame(query, {{0, 0, true}}), DropReason::FragmentMalformed, 1});
    cases.push_back({"non-last fragment of 12 bytes", fragmentFrame(query, {{0, 12, true}}),
                     DropReason::FragmentMalformed, 1});
    const Bytes small = fragmentFrame(query, {{1024, 40, false}}).front();
    cases.push_back({"last fragment ending past 65535 bytes", {withFragmentField(small, 8189)},
                     DropReason::FragmentMalformed, 1});
  }
  {
    UdpFrame elsewhere = bigQuery(3000);
    elsewhere.ip.destination = kUnknownVip;
    cases.push_back({"fragments to an address that is no service's", splitFrame(elsewhere.build(), 1024),
                     DropReason::NotForUs, 3});
  }
  {
    IcmpFrame ping;
    ping.eth = EthSpec{kPort0Mac, kClientMac};
    ping.ip.source = kClientIp;
    ping.ip.destination = kPort0Ip;
    ping.ip.fragment = 0;
    ping.data = patternPayload(2000);
    cases.push_back({"ICMP in fragments", splitFrame(ping.build(), 1024), DropReason::IpFragment, 2});
  }
  return cases;
}

TEST(Fragments, DroppedAndCounted) {
  for (const DropCase& c : dropCases()) {
    SCOPED_TRACE(c.description);
    Harness h;
    EXPECT_TRUE(h.run(c.frames).empty());
    EXPECT_EQ(h.dropCount(c.reason), c.dropped) << "expected " << dropReasonName(c.reason);
    EXPECT_EQ(h.counters().totalDrops(), c.dropped);
    EXPECT_EQ(h.counters().datagramsReassembled, 0u);
    EXPECT_EQ(h.flows().size(), 0u);
    EXPECT_EQ(h.mbufsInUse(), c.timedOut);
    expireAll(h);
    EXPECT_EQ(h.dropCount(DropReason::FragmentTimeout), c.timedOut);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(Fragments, DatagramThatNeverCompletesIsFreedAfterTheTimeout) {
  Harness h;
  const std::vector<Bytes> f = splitFrame(bigQuery(3000).build(), 1024);
  EXPECT_TRUE(h.run({f[0], f[2]}).empty());
  EXPECT_EQ(h.mbufsInUse(), 2u);
  const uint64_t start = h.now();
  h.setNow(start + 4 * h.hz());
  EXPECT_TRUE(h.housekeeping().empty());
  EXPECT_EQ(h.mbufsInUse(), 2u) << "still within the 5 s timeout";
  EXPECT_EQ(h.counters().totalDrops(), 0u);
  h.setNow(start + 5 * h.hz() + h.hz() / 100);
  EXPECT_TRUE(h.housekeeping().empty());
  EXPECT_EQ(h.dropCount(DropReason::FragmentTimeout), 2u);
  EXPECT_EQ(h.counters().totalDrops(), 2u);
  EXPECT_EQ(h.mbufsInUse(), 0u);

  // The missing fragment, too late: it starts a datagram of its own, which expires too.
  EXPECT_TRUE(h.run(f[1]).empty());
  EXPECT_EQ(h.mbufsInUse(), 1u);
  expireAll(h);
  EXPECT_EQ(h.dropCount(DropReason::FragmentTimeout), 3u);
  EXPECT_EQ(h.counters().datagramsReassembled, 0u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Fragments, ExpiredDatagramsAreFreedWhenFragmentsArriveToo) {
  // No housekeeping in between: the next fragment's arrival frees the expired datagram,
  // and is counted apart from it.
  Harness h;
  const std::vector<Bytes> f = splitFrame(bigQuery(3000).build(), 1024);
  EXPECT_TRUE(h.run(f[0]).empty());
  h.setNow(h.now() + 6 * h.hz());
  EXPECT_TRUE(h.run(f[1]).empty());
  EXPECT_EQ(h.dropCount(DropReason::FragmentTimeout), 1u);
  EXPECT_EQ(h.counters().totalDrops(), 1u);
  EXPECT_EQ(h.mbufsInUse(), 1u);
  expireAll(h);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Fragments, FullTableDropsNewDatagramsOnly) {
  Harness::Options options;
  options.fragmentDatagrams = 4;
  Harness h(options);
  std::vector<std::vector<Bytes>> datagrams;
  for (uint16_t n = 0; n < 5; ++n) {
    UdpFrame q = bigQuery(3000);
    q.ip.id = static_cast<uint16_t>(0x7000 + n);
    datagrams.push_back(splitFrame(q.build(), 1024));
    EXPECT_TRUE(h.run(datagrams.back()[0]).empty());
  }
  EXPECT_EQ(h.dropCount(DropReason::FragmentTableFull), 1u) << "the fifth datagram finds no room";
  EXPECT_EQ(h.counters().totalDrops(), 1u);
  EXPECT_EQ(h.mbufsInUse(), 4u);
  // The datagrams already in the table still complete.
  EXPECT_EQ(h.run({datagrams[0][1], datagrams[0][2]}).size(), 3u);
  EXPECT_EQ(h.counters().datagramsReassembled, 1u);
  expireAll(h);
  EXPECT_EQ(h.dropCount(DropReason::FragmentTimeout), 3u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Fragments, ReassemblyOffDropsFragments) {
  Harness::Options options;
  options.fragmentDatagrams = 0;
  Harness h(options);
  EXPECT_TRUE(h.run(splitFrame(bigQuery(3000).build(), 1024)).empty());
  EXPECT_EQ(h.dropCount(DropReason::IpFragment), 3u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

}  // namespace
}  // namespace nicproxy::testing
