// ICMP errors about NATed connections (icmp_errors.hpp): translated in both directions
// with every checksum right, dropped and counted when they quote nothing nicproxy
// tracks or nothing it can translate, handed to the worker that has the connection; and
// the rate limit on nicproxy's own replies (reply_limiter.hpp).
//
// Test addresses (see harness.hpp): client 10.50.0.100:40000 (MAC ...:64); web
// 10.96.0.10:80/TCP -> 10.50.0.11:8080 (MAC ...:0b); dns 10.96.0.10:53/UDP ->
// 10.50.0.11:5353; SNAT address 10.50.0.1 (port 0, MAC ...:01); services without
// endpoints 10.96.0.20:80/TCP and :53/UDP. A router 10.50.0.254 (MAC ...:fe) on port 0's
// segment sends the errors, unless a case says the peer itself does. "Backend side":
// the error is about a packet nicproxy sent to the backend; "client side": about a
// reply it sent to the client.
//
//   IcmpError.TranslatedBothWays            table: type, side, protocol, quote length -> exact frame
//   IcmpError.DroppedAndCounted             table: what is not translated, and the reason counted
//   IcmpErrorWorkers.BackendSideErrorGoesToTheSnatPortsOwner
//   IcmpErrorWorkers.ClientSideErrorVisitsWorkersUntilOneHasTheConnection
//   ReplyRateLimit.BurstThenRateAndTokensComeBackWithTime
//   ReplyRateLimit.EveryKindOfReplyTakesFromOneBucket
//   ReplyRateLimit.ZeroMeansNoLimit
//   ReplyRateLimit.TheRstToAClientOfARemovedEndpointIsLimitedToo
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_byteorder.h>

#include "dpdk_app/reply_limiter.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/services.hpp"

namespace nicproxy::testing {
namespace {

constexpr uint32_t kRouterIp = ipv4(10, 50, 0, 254);
constexpr Mac kRouterMac{0x02, 0, 0, 0, 0, 0xfe};
constexpr uint16_t kClientPort = 40000;
constexpr size_t kLinuxQuote = 576 - 20 - 8;  // what Linux quotes: 576 bytes in all

enum class Side { Backend, Client };

/// Opens the connection the errors are about on `worker`: client:40000 -> web (TCP, then
/// answered with a SYN-ACK) or dns (UDP). Returns its SNAT port.
uint16_t openConnection(Harness& h, uint8_t protocol, uint16_t worker = 0, uint16_t clientPort = kClientPort) {
  if (protocol == kProtoUdp) {
    const std::vector<Sent> sent = h.run(build(clientUdp(kWebVip, 53, clientPort)), 0, worker);
    return sent.size() == 1 ? sourcePortOf(sent[0].frame) : 0;
  }
  const std::vector<Sent> sent = h.run(build(clientTcp(kWebVip, 80, clientPort)), 0, worker);
  if (sent.size() != 1) return 0;
  const uint16_t snat = sourcePortOf(sent[0].frame);
  TcpFrame synAck;
  synAck.eth = EthSpec{kPort0Mac, kBackendMac};
  synAck.ip.source = kBackendIp;
  synAck.ip.destination = kPort0Ip;
  synAck.tcp.sourcePort = 8080;
  synAck.tcp.destinationPort = snat;
  synAck.tcp.seq = 0x55667788;
  synAck.tcp.ack = 0x11223345;
  synAck.tcp.flags = kTcpSyn | kTcpAck;
  return h.run(synAck.build(), 0, worker).size() == 1 ? snat : 0;
}

Bytes payloadOf(size_t length) {
  Bytes p(length);
  for (size_t i = 0; i < length; ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
  return p;
}

/// What the quoted packet looks like.
struct QuoteSpec {
  uint8_t protocol = kProtoTcp;
  size_t payload = 0;
  bool udpNoChecksum = false;
  Bytes ipOptions;
};

QuoteSpec tcpQuote(size_t payload, Bytes ipOptions = {}) {
  return QuoteSpec{kProtoTcp, payload, false, std::move(ipOptions)};
}
QuoteSpec udpQuote(size_t payload, bool noChecksum = false) {
  return QuoteSpec{kProtoUdp, payload, noChecksum, {}};
}

/// The packet an error is about, as its sender sent it: the client's (backend side) or
/// the backend's (client side), on the connection with SNAT port `snat`.
L4Frame originalPacket(Side side, const QuoteSpec& q, uint16_t snat) {
  if (side == Side::Backend) {
    if (q.protocol == kProtoUdp) {
      UdpFrame f = clientUdp(kWebVip, 53, kClientPort);
      f.udp.payload = payloadOf(q.payload);
      f.udp.noChecksum = q.udpNoChecksum;
      f.ip.options = q.ipOptions;
      return f;
    }
    TcpFrame f = clientTcp(kWebVip, 80, kClientPort, kTcpAck | kTcpPsh);
    f.tcp.payload = payloadOf(q.payload);
    f.ip.options = q.ipOptions;
    return f;
  }
  if (q.protocol == kProtoUdp) {
    UdpFrame f;
    f.eth = EthSpec{kPort0Mac, kBackendMac};
    f.ip.source = kBackendIp;
    f.ip.destination = kPort0Ip;
    f.ip.id = 0x5151;
    f.udp.sourcePort = 5353;
    f.udp.destinationPort = snat;
    f.udp.payload = payloadOf(q.payload);
    f.udp.noChecksum = q.udpNoChecksum;
    f.ip.options = q.ipOptions;
    return f;
  }
  TcpFrame f;
  f.eth = EthSpec{kPort0Mac, kBackendMac};
  f.ip.source = kBackendIp;
  f.ip.destination = kPort0Ip;
  f.ip.id = 0x5252;
  f.tcp.sourcePort = 8080;
  f.tcp.destinationPort = snat;
  f.tcp.seq = 0x55667789;
  f.tcp.ack = 0x11223345;
  f.tcp.flags = kTcpAck | kTcpPsh;
  f.tcp.payload = payloadOf(q.payload);
  f.ip.options = q.ipOptions;
  return f;
}

/// That packet as nicproxy sent it on: what the error quotes.
L4Frame sentPacket(Side side, const L4Frame& original, uint16_t snat) {
  const bool udp = std::holds_alternative<UdpFrame>(original);
  if (side == Side::Backend) {
    return translated(original, EthSpec{kBackendMac, kPort0Mac}, kPort0Ip, kBackendIp, snat,
                      static_cast<uint16_t>(udp ? 5353 : 8080));
  }
  return translated(original, EthSpec{kClientMac, kPort0Mac}, kWebVip, kClientIp, static_cast<uint16_t>(udp ? 53 : 80),
                    kClientPort);
}

/// `original` with its TTL one lower and nothing else changed: what the receiver of the
/// translated error must find quoted (nicproxy decremented the TTL when it forwarded it).
L4Frame asForwarded(const L4Frame& original) {
  L4Frame f = original;
  std::visit([](auto& frame) { frame.ip.ttl = static_cast<uint8_t>(frame.ip.ttl - 1); }, f);
  return f;
}

struct ErrorSpec {
  uint8_t type = 3;
  uint8_t code = 4;
  uint32_t rest = 0;
  size_t quoteLength = kLinuxQuote;
  bool fromPeer = false;  // the backend (backend side) or the client (client side) sends it, not a router
};

ErrorSpec errorSpec(uint8_t type, uint8_t code, uint32_t rest, size_t quoteLength, bool fromPeer = false) {
  return ErrorSpec{type, code, rest, quoteLength, fromPeer};
}

Ipv4Spec outerHeader(uint32_t source, uint32_t destination) {
  Ipv4Spec ip;
  ip.source = source;
  ip.destination = destination;
  ip.tos = 0xc0;  // what Linux gives its ICMP errors
  ip.id = 0x7777;
  ip.fragment = 0;
  ip.ttl = 64;
  return ip;
}

/// The error as it reaches nicproxy.
IcmpFrame inputError(Side side, const ErrorSpec& e, const L4Frame& sent) {
  const Mac senderMac = e.fromPeer ? (side == Side::Backend ? kBackendMac : kClientMac) : kRouterMac;
  const uint32_t sender = e.fromPeer ? (side == Side::Backend ? kBackendIp : kClientIp) : kRouterIp;
  const uint32_t to = side == Side::Backend ? kPort0Ip : kWebVip;
  return icmpError(EthSpec{kPort0Mac, senderMac}, outerHeader(sender, to), e.type, e.code, e.rest, build(sent),
                   e.quoteLength);
}

/// The error as nicproxy must send it on, built from scratch.
IcmpFrame expectedError(Side side, const ErrorSpec& e, const L4Frame& original) {
  Ipv4Spec ip = side == Side::Backend ? outerHeader(kWebVip, kClientIp) : outerHeader(kPort0Ip, kBackendIp);
  ip.ttl = 63;
  const EthSpec eth = side == Side::Backend ? EthSpec{kClientMac, kPort0Mac} : EthSpec{kBackendMac, kPort0Mac};
  return icmpError(eth, ip, e.type, e.code, e.rest, build(asForwarded(original)), e.quoteLength);
}

/// The flow entry of the connection from client port `clientPort`.
const FlowEntry* flowOf(Harness& h, uint8_t protocol, uint16_t worker = 0, uint16_t clientPort = kClientPort) {
  const FlowKey forward{rte_cpu_to_be_32(kClientIp), rte_cpu_to_be_32(kWebVip), rte_cpu_to_be_16(clientPort),
                        rte_cpu_to_be_16(protocol == kProtoTcp ? 80 : 53), protocol, {0, 0, 0}};
  uint64_t value = 0;
  if (!h.flows(worker).lookup(forward, value)) return nullptr;
  return &h.flows(worker).entry(FlowTable::entryIndex(value));
}

struct TranslateCase {
  std::string description;
  Side side;
  QuoteSpec quote;
  ErrorSpec error;
};

TEST(IcmpError, TranslatedBothWays) {
  std::vector<TranslateCase> cases = {
      {"fragmentation needed (MTU 1400) from the backend's side, TCP, 548 bytes quoted: to the client",
       Side::Backend, tcpQuote(1000), errorSpec(3, 4, 1400, kLinuxQuote)},
      {"fragmentation needed (MTU 1200) from the client's side, TCP, 548 bytes quoted: to the backend",
       Side::Client, tcpQuote(1400), errorSpec(3, 4, 1200, kLinuxQuote)},
      {"time exceeded from the backend's side, TCP, 8 bytes quoted (no TCP checksum in them)", Side::Backend,
       tcpQuote(100), errorSpec(11, 0, 0, 20 + 8)},
      {"parameter problem (pointer 20) from the client's side, TCP, 8 bytes quoted", Side::Client,
       tcpQuote(0), errorSpec(12, 0, 20u << 24, 20 + 8)},
      {"port unreachable from the backend itself, UDP, the whole datagram quoted", Side::Backend,
       udpQuote(9), errorSpec(3, 3, 0, kLinuxQuote, true)},
      {"host unreachable from the client's side, UDP, 8 bytes quoted (the UDP checksum among them)", Side::Client,
       udpQuote(20), errorSpec(3, 1, 0, 20 + 8)},
      {"port unreachable from the client itself, UDP without a checksum (stays 0)", Side::Client,
       udpQuote(12, true), errorSpec(3, 3, 0, kLinuxQuote, true)},
      {"fragmentation needed from the client's side quoting a packet with IP options", Side::Client,
       tcpQuote(60, {0x94, 0x04, 0x00, 0x00}), errorSpec(3, 4, 1300, kLinuxQuote)},
      {"time exceeded in reassembly (code 1) from the backend's side, TCP, 20 + 18 bytes quoted (the checksum's "
       "last byte)",
       Side::Backend, tcpQuote(30), errorSpec(11, 1, 0, 20 + 18)},
  };
  for (const TranslateCase& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    const uint16_t snat = openConnection(h, c.quote.protocol);
    ASSERT_NE(snat, 0);
    const FlowEntry before = *flowOf(h, c.quote.protocol);
    h.setNow(h.now() + h.hz());  // a refreshed timer would show

    const L4Frame original = originalPacket(c.side, c.quote, snat);
    const Bytes input = inputError(c.side, c.error, sentPacket(c.side, original, snat)).build();
    const std::vector<Sent> sent = h.run(input);
    ASSERT_EQ(sent.size(), 1u) << "drops: " << formatCounters(h.counters());
    EXPECT_EQ(sent[0].port, 0u);
    const Bytes expected = expectedError(c.side, c.error, original).build();
    EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
    EXPECT_EQ(h.counters().icmpErrorsToClient, c.side == Side::Backend ? 1u : 0u);
    EXPECT_EQ(h.counters().icmpErrorsToBackend, c.side == Side::Client ? 1u : 0u);
    EXPECT_EQ(h.counters().totalDrops(), 0u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
    // Conntrack's "related" packets refresh nothing: the connection is as it was.
    const FlowEntry* after = flowOf(h, c.quote.protocol);
    ASSERT_NE(after, nullptr);
    EXPECT_EQ(after->expiresAt, before.expiresAt);
    EXPECT_EQ(after->tcpState, before.tcpState);
    EXPECT_EQ(after->sawReply, before.sawReply);
  }
}

struct DropCase {
  std::string description;
  std::function<Bytes(uint16_t snat)> frame;  // given the open TCP connection's SNAT port
  DropReason reason;
};

/// A router's error about `sent` to `to`.
Bytes routerError(uint32_t to, const Bytes& sent, size_t quoteLength = kLinuxQuote, uint8_t type = 3,
                  uint8_t code = 4) {
  return icmpError(EthSpec{kPort0Mac, kRouterMac}, outerHeader(kRouterIp, to), type, code, 1400, sent, quoteLength)
      .build();
}

/// The backend's TCP segment to the client as nicproxy sent it on.
TcpFrame replyToClient(uint16_t snat) {
  return std::get<TcpFrame>(sentPacket(Side::Client, originalPacket(Side::Client, tcpQuote(0), snat), snat));
}

Bytes backendSideQuote(uint16_t snat) {
  return build(sentPacket(Side::Backend, originalPacket(Side::Backend, tcpQuote(200), snat), snat));
}
Bytes clientSideQuote(uint16_t snat) {
  return build(sentPacket(Side::Client, originalPacket(Side::Client, tcpQuote(200), snat), snat));
}

TEST(IcmpError, DroppedAndCounted) {
  std::vector<DropCase> cases = {
      {"backend side, a SNAT port with no connection",
       [](uint16_t snat) { return routerError(kPort0Ip, backendSideQuote(static_cast<uint16_t>(snat + 2))); },
       DropReason::IcmpErrorNoFlow},
      {"client side, a client port with no connection",
       [](uint16_t) {
         TcpFrame reply = replyToClient(1);
         reply.tcp.destinationPort = kClientPort + 1;
         return routerError(kWebVip, reply.build());
       },
       DropReason::IcmpErrorNoFlow},
      {"to an address that is not ours",
       [](uint16_t snat) {
         TcpFrame reply = replyToClient(snat);
         reply.ip.source = kUnknownVip;
         return routerError(kUnknownVip, reply.build());
       },
       DropReason::NotForUs},
      {"about an ICMP packet (an echo reply from the frontend)",
       [](uint16_t) {
         IcmpFrame echoReply;
         echoReply.eth = EthSpec{kClientMac, kPort0Mac};
         echoReply.ip.source = kWebVip;
         echoReply.ip.destination = kClientIp;
         echoReply.type = 0;
         echoReply.rest = 0x00010001;
         echoReply.data = payloadOf(56);
         return routerError(kWebVip, echoReply.build());
       },
       DropReason::IcmpErrorUnsupported},
      {"about a non-first fragment (no ports in it)",
       [](uint16_t snat) {
         TcpFrame reply = replyToClient(snat);
         reply.ip.fragment = 0x2010;  // MF, offset 128
         return routerError(kWebVip, reply.build());
       },
       DropReason::IcmpErrorUnsupported},
      {"quote shorter than an IPv4 header",
       [](uint16_t snat) { return routerError(kWebVip, clientSideQuote(snat), 16); }, DropReason::IcmpErrorMalformed},
      {"quote of an IPv4 header and 4 bytes (the ports need 8)",
       [](uint16_t snat) { return routerError(kWebVip, clientSideQuote(snat), 24); }, DropReason::IcmpErrorMalformed},
      {"quoted header claims IPv6",
       [](uint16_t snat) {
         IcmpFrame e = icmpError(EthSpec{kPort0Mac, kRouterMac}, outerHeader(kRouterIp, kWebVip), 3, 4, 1400,
                                 clientSideQuote(snat), kLinuxQuote);
         e.data[0] = 0x65;
         return e.build();
       },
       DropReason::IcmpErrorMalformed},
      {"quoted total length shorter than its own header",
       [](uint16_t snat) {
         TcpFrame reply = replyToClient(snat);
         reply.ip.totalLength = 20;
         return routerError(kWebVip, reply.build());
       },
       DropReason::IcmpErrorMalformed},
      {"sent to the frontend about a packet from the SNAT address",
       [](uint16_t snat) { return routerError(kWebVip, backendSideQuote(snat)); }, DropReason::IcmpErrorMismatch},
      {"sent to the SNAT address about a packet from the frontend",
       [](uint16_t snat) { return routerError(kPort0Ip, clientSideQuote(snat)); }, DropReason::IcmpErrorMismatch},
      {"about a connection, with a wrong ICMP checksum",
       [](uint16_t snat) {
         Bytes frame = routerError(kWebVip, clientSideQuote(snat));
         frame[kEthLength + kIpv4Length + 2] ^= 0x01;
         return frame;
       },
       DropReason::IcmpErrorBadChecksum},
      {"about a connection, outer TTL 1",
       [](uint16_t snat) {
         Ipv4Spec ip = outerHeader(kRouterIp, kPort0Ip);
         ip.ttl = 1;
         return icmpError(EthSpec{kPort0Mac, kRouterMac}, ip, 11, 0, 0, backendSideQuote(snat), kLinuxQuote).build();
       },
       DropReason::TtlExceeded},
  };
  for (const DropCase& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    const uint16_t snat = openConnection(h, kProtoTcp);
    ASSERT_NE(snat, 0);
    EXPECT_TRUE(h.run(c.frame(snat)).empty());
    EXPECT_EQ(h.dropCount(c.reason), 1u) << "want " << dropReasonName(c.reason) << ", counters:\n"
                                         << formatCounters(h.counters());
    EXPECT_EQ(h.counters().totalDrops(), 1u);
    EXPECT_EQ(h.counters().icmpErrorsToClient + h.counters().icmpErrorsToBackend, 0u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(IcmpErrorWorkers, BackendSideErrorGoesToTheSnatPortsOwner) {
  Harness::Options options;
  options.workerCount = 2;
  options.allWorkers = true;
  Harness h(options);
  const uint16_t snat = openConnection(h, kProtoTcp, 0);
  ASSERT_NE(snat, 0);
  ASSERT_EQ(snat % 2, 0) << "worker 0 owns its SNAT ports";

  const ErrorSpec e{3, 4, 1400, kLinuxQuote};
  const L4Frame original = originalPacket(Side::Backend, tcpQuote(1000), snat);
  // RSS gives the error to worker 1, which hands it over.
  EXPECT_TRUE(h.run(inputError(Side::Backend, e, sentPacket(Side::Backend, original, snat)).build(), 0, 1).empty());
  EXPECT_EQ(h.counters(1).redirected, 1u);
  EXPECT_EQ(h.counters(1).totalDrops(), 0u);
  const std::vector<Sent> sent = h.drainRedirect(0);
  ASSERT_EQ(sent.size(), 1u);
  const Bytes expected = expectedError(Side::Backend, e, original).build();
  EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
  EXPECT_EQ(h.counters(0).icmpErrorsToClient, 1u);

  // An error about a port worker 0 owns but has no connection on: dropped by the owner,
  // not passed around.
  const L4Frame stray = sentPacket(Side::Backend, original, static_cast<uint16_t>(snat + 2));
  EXPECT_TRUE(h.run(inputError(Side::Backend, e, stray).build(), 0, 1).empty());
  EXPECT_TRUE(h.drainRedirect(0).empty());
  EXPECT_EQ(h.dropCount(DropReason::IcmpErrorNoFlow, 0), 1u);
  EXPECT_EQ(h.counters(0).redirected, 0u);
  EXPECT_TRUE(h.drainRedirect(1).empty());
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(IcmpErrorWorkers, ClientSideErrorVisitsWorkersUntilOneHasTheConnection) {
  Harness::Options options;
  options.workerCount = 3;
  options.allWorkers = true;
  Harness h(options);
  const uint16_t snat = openConnection(h, kProtoTcp, 1);  // RSS gave the client's packets to worker 1
  ASSERT_NE(snat, 0);

  const ErrorSpec e{3, 4, 1200, kLinuxQuote};
  const L4Frame original = originalPacket(Side::Client, tcpQuote(1400), snat);
  // The error lands on worker 2: 2 -> 0 -> 1.
  EXPECT_TRUE(h.run(inputError(Side::Client, e, sentPacket(Side::Client, original, snat)).build(), 0, 2).empty());
  EXPECT_EQ(h.counters(2).redirected, 1u);
  EXPECT_TRUE(h.drainRedirect(0).empty());
  EXPECT_EQ(h.counters(0).redirected, 1u);
  const std::vector<Sent> sent = h.drainRedirect(1);
  ASSERT_EQ(sent.size(), 1u);
  const Bytes expected = expectedError(Side::Client, e, original).build();
  EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
  EXPECT_EQ(h.counters(1).icmpErrorsToBackend, 1u);

  // About no connection at all: every worker looks once, the last one drops it.
  TcpFrame stray = std::get<TcpFrame>(sentPacket(Side::Client, original, snat));
  stray.tcp.destinationPort = kClientPort + 7;
  EXPECT_TRUE(h.run(routerError(kWebVip, stray.build()), 0, 0).empty());
  EXPECT_TRUE(h.drainRedirect(1).empty());
  EXPECT_TRUE(h.drainRedirect(2).empty());
  EXPECT_TRUE(h.drainRedirect(0).empty()) << "not handed back to the first worker";
  uint64_t noFlow = 0;
  for (uint16_t w = 0; w < 3; ++w) noFlow += h.dropCount(DropReason::IcmpErrorNoFlow, w);
  EXPECT_EQ(noFlow, 1u);
  EXPECT_EQ(h.dropCount(DropReason::IcmpErrorNoFlow, 2), 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

std::vector<Bytes> datagramsToEmpty(uint16_t firstPort, int count) {
  std::vector<Bytes> frames;
  for (int i = 0; i < count; ++i) {
    frames.push_back(build(clientUdp(kEmptyVip, 53, static_cast<uint16_t>(firstPort + i))));
  }
  return frames;
}

TEST(ReplyRateLimit, BurstThenRateAndTokensComeBackWithTime) {
  Harness h;
  h.context().replyLimiter = ReplyLimiter(h.hz(), 1000, 50);  // the defaults
  size_t replies = h.run(datagramsToEmpty(40000, 30)).size();
  replies += h.run(datagramsToEmpty(40030, 30)).size();
  EXPECT_EQ(replies, 50u) << "the burst";
  EXPECT_EQ(h.dropCount(DropReason::ReplyRateLimited), 10u);
  EXPECT_EQ(h.counters().rejected, 50u);

  h.setNow(h.now() + h.hz() / 100);  // 10 ms at 1000/s: 10 tokens
  EXPECT_EQ(h.run(datagramsToEmpty(41000, 11)).size(), 10u);
  EXPECT_EQ(h.dropCount(DropReason::ReplyRateLimited), 11u);

  h.setNow(h.now() + 60 * h.hz());  // idle for a minute: the bucket holds the burst, no more
  replies = h.run(datagramsToEmpty(42000, 30)).size();
  replies += h.run(datagramsToEmpty(42030, 30)).size();
  EXPECT_EQ(replies, 50u);
  EXPECT_EQ(h.dropCount(DropReason::ReplyRateLimited), 21u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ReplyRateLimit, EveryKindOfReplyTakesFromOneBucket) {
  Harness h;
  h.context().replyLimiter = ReplyLimiter(h.hz(), 1, 3);
  IcmpFrame ping;
  ping.eth = EthSpec{kPort0Mac, kClientMac};
  ping.ip.source = kClientIp;
  ping.ip.destination = kPort0Ip;
  ping.type = 8;
  ping.rest = 0x00010001;
  ping.data = payloadOf(56);
  const Bytes frames[] = {ping.build(), build(clientTcp(kEmptyVip, 80)), build(clientUdp(kEmptyVip, 53))};
  for (const Bytes& frame : frames) EXPECT_EQ(h.run(frame).size(), 1u);
  for (const Bytes& frame : frames) EXPECT_TRUE(h.run(frame).empty());
  EXPECT_EQ(h.dropCount(DropReason::ReplyRateLimited), 3u);
  EXPECT_EQ(h.counters().icmpEchoReplies, 1u);
  EXPECT_EQ(h.counters().rejected, 2u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(ReplyRateLimit, ZeroMeansNoLimit) {
  Harness h;
  h.context().replyLimiter = ReplyLimiter(h.hz(), 0, 50);
  size_t replies = 0;
  for (int burst = 0; burst < 10; ++burst) {
    replies += h.run(datagramsToEmpty(static_cast<uint16_t>(40000 + burst * 20), 20)).size();
  }
  EXPECT_EQ(replies, 200u);
  EXPECT_EQ(h.dropCount(DropReason::ReplyRateLimited), 0u);
}

TEST(ReplyRateLimit, TheRstToAClientOfARemovedEndpointIsLimitedToo) {
  constexpr uint32_t kGoneVip = ipv4(10, 96, 0, 60);
  Harness h;
  ServicePort gone = makePort("gone", kGoneVip, 80, {makeEndpoint(kBackend2Ip, 8080)});
  h.sync(withPorts(standardServices(), {gone}));
  std::vector<Sent> sent = h.run(build(clientTcp(kGoneVip, 80)));
  ASSERT_EQ(sent.size(), 1u);
  TcpFrame synAck;
  synAck.eth = EthSpec{kPort0Mac, kBackend2Mac};
  synAck.ip.source = kBackend2Ip;
  synAck.ip.destination = kPort0Ip;
  synAck.tcp.sourcePort = 8080;
  synAck.tcp.destinationPort = sourcePortOf(sent[0].frame);
  synAck.tcp.seq = 0x55667788;
  synAck.tcp.ack = 0x11223345;
  synAck.tcp.flags = kTcpSyn | kTcpAck;
  ASSERT_EQ(h.run(synAck.build()).size(), 1u);

  h.context().replyLimiter = ReplyLimiter(h.hz(), 1, 1);
  ASSERT_EQ(h.run(build(clientUdp(kEmptyVip, 53))).size(), 1u);  // takes the one token
  gone.endpoints = {makeEndpoint(kBackend3Ip, 8080)};
  h.sync(withPorts(standardServices(), {gone}));
  EXPECT_TRUE(h.purge().empty()) << "the RST is over the limit";
  EXPECT_EQ(h.counters().flowsReset, 1u) << "the connection is torn down all the same";
  EXPECT_EQ(h.dropCount(DropReason::ReplyRateLimited), 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

}  // namespace
}  // namespace nicproxy::testing
