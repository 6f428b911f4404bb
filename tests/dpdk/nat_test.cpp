// FullNAT through processBurst(): client -> frontend becomes port address:SNAT port ->
// backend, and the backend's reply is translated back to frontend -> client.
// Fixtures are {description, input frame, tx port, expected frame}; the expected frame is
// the input spec with the translated fields rebuilt from scratch, so every byte,
// including both checksums, is compared.
// Test addresses (see harness.hpp): client 10.50.0.100:40000; ClusterIP 10.96.0.10:80/TCP
// and :53/UDP -> 10.50.0.11:8080 and :5353; NodePort 10.50.0.1:30080; external IP
// 10.50.0.200:80; 10.96.0.50:80 -> 10.60.0.21:9090 behind port 1; 10.96.0.30:80 -> three
// backends 10.50.0.11-13 (and not-ready 10.50.0.14).
#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include <gtest/gtest.h>
#include <rte_byteorder.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"

namespace nicproxy::testing {
namespace {

/// Where a new connection must go: the port it leaves on and the backend.
struct Target {
  uint16_t port;
  Mac portMac;
  uint32_t portIp;
  Mac backendMac;
  uint32_t backendIp;
  uint16_t backendPort;
};
constexpr Target kToWeb{0, kPort0Mac, kPort0Ip, kBackendMac, kBackendIp, 8080};
constexpr Target kToDns{0, kPort0Mac, kPort0Ip, kBackendMac, kBackendIp, 5353};
constexpr Target kToFar{1, kPort1Mac, kPort1Ip, kFarBackendMac, kFarBackendIp, 9090};

struct ForwardCase {
  std::string description;
  L4Frame input;
  Target target;
  size_t padTo = 0;  // Ethernet padding after the datagram, kept as is
};

L4Frame forwardExpected(const ForwardCase& c, uint16_t snatPort) {
  return translated(c.input, EthSpec{c.target.backendMac, c.target.portMac}, c.target.portIp, c.target.backendIp,
                    snatPort, c.target.backendPort);
}

std::vector<ForwardCase> forwardCases() {
  std::vector<ForwardCase> cases;
  cases.push_back({"TCP SYN to a ClusterIP", clientTcp(kWebVip, 80), kToWeb});
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    // MSS 1460, SACK permitted, timestamps, NOP, window scale 7, plus a TFO-style payload.
    f.tcp.options = {0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0xe2, 0x40,
                     0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07};
    f.tcp.payload = {'G', 'E', 'T', ' ', '/', '\r', '\n'};  // odd length
    cases.push_back({"TCP SYN with options and an odd-length payload", f, kToWeb});
  }
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.ip.options = {0x94, 0x04, 0x00, 0x00};  // router alert: IHL 6
    cases.push_back({"TCP SYN with IP options", f, kToWeb});
  }
  {
    TcpFrame f = clientTcp(kWebVip, 80);
    f.tcp.payload.resize(1400);
    for (size_t i = 0; i < f.tcp.payload.size(); ++i) f.tcp.payload[i] = static_cast<uint8_t>(i * 7 + 3);
    cases.push_back({"TCP SYN with a 1400-byte payload", f, kToWeb});
  }
  cases.push_back({"UDP to a ClusterIP", clientUdp(kWebVip, 53), kToDns});
  {
    UdpFrame f = clientUdp(kWebVip, 53);
    f.udp.noChecksum = true;
    cases.push_back({"UDP with checksum 0 keeps 0", f, kToDns});
  }
  {
    UdpFrame f = clientUdp(kWebVip, 53);
    f.udp.payload = {'h', 'i'};
    cases.push_back({"short UDP in a padded 60-byte frame", f, kToDns, 60});
  }
  cases.push_back({"TCP SYN to the NodePort on the port address", clientTcp(kPort0Ip, kWebNodePort), kToWeb});
  cases.push_back({"TCP SYN to an external IP", clientTcp(kExternalInSubnet, 80), kToWeb});
  cases.push_back({"TCP SYN to a service whose backend is behind port 1", clientTcp(kFarVip, 80), kToFar});
  return cases;
}

TEST(Nat, ForwardTranslationIsByteExact) {
  for (const ForwardCase& c : forwardCases()) {
    SCOPED_TRACE(c.description);
    Harness h;
    const std::vector<Sent> sent = h.run(build(c.input, c.padTo));
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].port, c.target.port);
    const uint16_t snatPort = sourcePortOf(sent[0].frame);
    EXPECT_GE(snatPort, kSnatPortMin);
    const Bytes expected = build(forwardExpected(c, snatPort), c.padTo);
    EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
    EXPECT_EQ(h.counters().natForward, 1u);
    EXPECT_EQ(h.counters().flowsCreated, 1u);
    EXPECT_EQ(h.counters().totalDrops(), 0u);
    EXPECT_EQ(h.flows().size(), 1u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

/// The backend's answer to `request` (already translated to the backend side).
L4Frame backendReply(const L4Frame& clientFrame, const Target& t, uint16_t snatPort) {
  if (const auto* tcp = std::get_if<TcpFrame>(&clientFrame)) {
    TcpFrame r;
    r.eth = EthSpec{t.portMac, t.backendMac};
    r.ip.source = t.backendIp;
    r.ip.destination = t.portIp;
    r.ip.id = 0x0777;
    r.ip.ttl = 64;
    r.tcp.sourcePort = t.backendPort;
    r.tcp.destinationPort = snatPort;
    r.tcp.seq = 0x55667788;
    r.tcp.ack = tcp->tcp.seq + 1;
    r.tcp.flags = kTcpSyn | kTcpAck;
    r.tcp.options = {0x02, 0x04, 0x05, 0xb4};
    return r;
  }
  UdpFrame r;
  r.eth = EthSpec{t.portMac, t.backendMac};
  r.ip.source = t.backendIp;
  r.ip.destination = t.portIp;
  r.ip.ttl = 64;
  r.udp.sourcePort = t.backendPort;
  r.udp.destinationPort = snatPort;
  r.udp.payload = {'a', 'n', 's', 'w', 'e', 'r', 0x00};
  return r;
}

/// The client's next packet on the same connection (the ACK of the handshake).
L4Frame clientFollowUp(L4Frame clientFrame) {
  if (auto* tcp = std::get_if<TcpFrame>(&clientFrame)) {
    tcp->tcp.flags = kTcpAck;
    tcp->tcp.seq += 1;
    tcp->tcp.ack = 0x55667789;
    tcp->tcp.payload = {'x'};
  } else {
    std::get<UdpFrame>(clientFrame).udp.payload = {'m', 'o', 'r', 'e'};
  }
  return clientFrame;
}

struct ReverseCase {
  std::string description;
  L4Frame input;
  Target target;
  uint32_t frontendIp;
  uint16_t frontendPort;
};

TEST(Nat, ReplyIsTranslatedBackAndTheFlowIsReused) {
  const std::vector<ReverseCase> cases = {
      {"TCP ClusterIP", clientTcp(kWebVip, 80), kToWeb, kWebVip, 80},
      {"UDP ClusterIP", clientUdp(kWebVip, 53), kToDns, kWebVip, 53},
      {"TCP NodePort", clientTcp(kPort0Ip, kWebNodePort), kToWeb, kPort0Ip, kWebNodePort},
      {"TCP backend behind port 1", clientTcp(kFarVip, 80), kToFar, kFarVip, 80},
  };
  for (const ReverseCase& c : cases) {
    SCOPED_TRACE(c.description);
    Harness h;
    std::vector<Sent> sent = h.run(build(c.input));
    ASSERT_EQ(sent.size(), 1u);
    const uint16_t snatPort = sourcePortOf(sent[0].frame);

    // Reply from the backend, received on the port facing it.
    const L4Frame reply = backendReply(c.input, c.target, snatPort);
    sent = h.run(build(reply), c.target.port);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].port, 0u) << "replies leave on the port the client came from";
    const Bytes expectedReply =
        build(translated(reply, EthSpec{kClientMac, kPort0Mac}, c.frontendIp, kClientIp, c.frontendPort, 40000));
    EXPECT_EQ(sent[0].frame, expectedReply) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expectedReply);
    EXPECT_EQ(h.counters().natReverse, 1u);

    // The client's next packet follows the same flow: same backend, same SNAT port.
    const L4Frame next = clientFollowUp(c.input);
    sent = h.run(build(next));
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].port, c.target.port);
    const Bytes expectedNext = build(translated(next, EthSpec{c.target.backendMac, c.target.portMac}, c.target.portIp,
                                                c.target.backendIp, snatPort, c.target.backendPort));
    EXPECT_EQ(sent[0].frame, expectedNext) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expectedNext);
    EXPECT_EQ(h.counters().flowsCreated, 1u);
    EXPECT_EQ(h.counters().natForward, 2u);
    EXPECT_EQ(h.counters().totalDrops(), 0u);
    EXPECT_EQ(h.flows().size(), 1u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(Nat, RandomSchedulerUsesEveryReadyEndpoint) {
  Harness h;
  const std::map<uint32_t, Mac> macs = {{kBackendIp, kBackendMac}, {kBackend2Ip, kBackend2Mac}, {kBackend3Ip, kBackend3Mac}};
  std::map<uint32_t, int> chosen;
  std::set<std::pair<uint32_t, uint16_t>> replyTuples;  // (backend, SNAT port)
  for (int burst = 0; burst < 10; ++burst) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 30; ++i) frames.push_back(build(clientTcp(kMultiVip, 80, static_cast<uint16_t>(20000 + burst * 30 + i))));
    for (const Sent& s : h.run(frames)) {
      const uint32_t backend = destinationIpOf(s.frame);
      ++chosen[backend];
      replyTuples.insert({backend, sourcePortOf(s.frame)});
      ASSERT_TRUE(macs.count(backend)) << "not a ready endpoint: " << std::hex << backend;
      EXPECT_TRUE(std::equal(s.frame.begin(), s.frame.begin() + 6, macs.at(backend).begin()));
    }
  }
  EXPECT_EQ(h.counters().flowsCreated, 300u);
  EXPECT_EQ(h.counters().natForward, 300u);
  EXPECT_EQ(replyTuples.size(), 300u) << "two connections would share one reply tuple";
  for (const auto& [backend, mac] : macs) EXPECT_GE(chosen[backend], 1) << std::hex << backend;
  EXPECT_EQ(chosen.count(kNotReadyBackendIp), 0u);
}

TEST(Nat, SnatPortsNameTheOwningWorker) {
  Harness::Options options;
  options.workerCount = 3;
  options.workerIndex = 2;
  Harness h(options);
  for (int burst = 0; burst < 4; ++burst) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 25; ++i) frames.push_back(build(clientTcp(kWebVip, 80, static_cast<uint16_t>(30000 + burst * 25 + i))));
    const std::vector<Sent> sent = h.run(frames);
    ASSERT_EQ(sent.size(), 25u);
    for (const Sent& s : sent) {
      const uint16_t port = sourcePortOf(s.frame);
      EXPECT_GE(port, kSnatPortMin);
      EXPECT_EQ(port % 3, 2) << port;
    }
  }
}

// Two datagrams of one new UDP flow in the same burst (a resolver sending its A and
// AAAA queries back to back) both miss the burst's bulk lookup. They must still make
// one connection: one flow, one SNAT port, one backend.
TEST(Nat, SameNewFlowTwiceInOneBurstMakesOneConnection) {
  Harness h;
  UdpFrame first = clientUdp(kWebVip, 53);
  UdpFrame second = first;
  second.udp.payload = {'a', 'a', 'a', 'a'};
  const std::vector<Sent> sent = h.run({build(first), build(second)});
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sourcePortOf(sent[0].frame), sourcePortOf(sent[1].frame)) << "one client socket, two SNAT ports";
  EXPECT_EQ(h.counters().flowsCreated, 1u);
  EXPECT_EQ(h.flows().size(), 1u);
}

}  // namespace
}  // namespace nicproxy::testing
