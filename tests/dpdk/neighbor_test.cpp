// Neighbours and ARP on the data path: what nicproxy learns (only what it asked for), how
// entries are refreshed, expire and are reused, and for which addresses it answers ARP.
// Test addresses (see harness.hpp): port 0 is 10.50.0.1 (02:00:00:00:00:01); backends
// 10.50.0.11-13 (resolved by the harness), the dark backend 10.50.0.44 (not resolved);
// client 10.50.0.100; made-up senders 10.50.0.120-199; an unwanted neighbour 10.50.0.77;
// the external IP 10.50.0.200 (in port 0's subnet, answered); addresses other hosts own:
// gateway 10.50.0.254, "port 1" moved to 10.50.0.2, learnt 10.50.0.201, permanent
// 10.50.0.202, free 10.50.0.203; intruders taking a reused slot 10.70.x.y.
#include <cstring>
#include <memory>
#include <optional>
#include <random>

#include <gtest/gtest.h>
#include <rte_byteorder.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/tcp_session.hpp"
#include "tests/dpdk/services.hpp"

namespace nicproxy::testing {
namespace {

constexpr Mac kForgedMac{0x02, 0, 0, 0, 0, 0xee};
constexpr Mac kMovedMac{0x02, 0, 0, 0, 0, 0x99};
constexpr Mac kOwnerMac{0x02, 0, 0, 0, 0, 0xc8};

/// `sender` is at `mac`, told to port 0's address (what answers our request).
ArpFrame replyToUs(uint32_t sender, const Mac& mac) {
  ArpFrame f;
  f.eth = EthSpec{kPort0Mac, mac};
  f.opcode = 2;
  f.senderMac = mac;
  f.senderIp = sender;
  f.targetMac = kPort0Mac;
  f.targetIp = kPort0Ip;
  f.padTo = 60;
  return f;
}

/// A gratuitous announcement: sender == target.
ArpFrame gratuitous(uint32_t address, const Mac& mac) { return arpRequest(address, address, mac); }

/// The request nicproxy sends from port 0 for `target`.
Bytes ourRequest(uint32_t target) {
  ArpFrame f;
  f.eth = EthSpec{kBroadcast, kPort0Mac};
  f.opcode = 1;
  f.senderMac = kPort0Mac;
  f.senderIp = kPort0Ip;
  f.targetMac = kZeroMac;
  f.targetIp = target;
  return f.build();
}

/// The answer nicproxy owes `asked` (a request from the client).
Bytes ourAnswer(const ArpFrame& asked) {
  ArpFrame f;
  f.eth = EthSpec{asked.senderMac, kPort0Mac};
  f.opcode = 2;
  f.senderMac = kPort0Mac;
  f.senderIp = asked.targetIp;
  f.targetMac = asked.senderMac;
  f.targetIp = asked.senderIp;
  f.padTo = 60;
  return f.build();
}



Mac destinationMac(const Bytes& frame) {
  Mac mac;
  std::copy(frame.begin(), frame.begin() + 6, mac.begin());
  return mac;
}

bool contains(const std::vector<Sent>& sent, const Bytes& frame) {
  for (const Sent& s : sent) {
    if (s.frame == frame) return true;
  }
  return false;
}

/// Every slot of the neighbour table goes through expiry once (as 8 probe rounds do).
void expireAll(Harness& h, uint64_t now, uint64_t expireAfter) {
  const Timeouts& t = h.timeouts();
  h.plane().neighbors.expire(now, t.arpRefresh, t.arpFail, expireAfter, NeighborTable::kSlots);
}

// A new backend (the dark one) resolves: nicproxy asks, the answer is learnt, the
// retransmitted SYN leaves with the backend's MAC.
void expectDarkBackendResolves(Harness& h) {
  const Bytes syn = build(clientTcp(kDarkVip, 80));
  std::vector<Sent> sent = h.run(syn);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, ourRequest(kDarkBackendIp)) << hexDump(sent[0].frame);
  EXPECT_TRUE(h.run(replyToUs(kDarkBackendIp, kDarkBackendMac).build()).empty());
  EXPECT_EQ(neighborMac(h, kDarkBackendIp), kDarkBackendMac);
  h.setNow(h.now() + h.timeouts().arpRetry);
  sent = h.run(syn);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationMac(sent[0].frame), kDarkBackendMac);
}

// Rule: learn only what nicproxy asked for. ARP from made-up senders (requests for our
// address, replies to us, announcements) fills nothing, and a new backend still resolves.
TEST(Neighbors, FloodFromMadeUpSendersLearnsNothing) {
  Harness h;
  const uint32_t before = h.plane().neighbors.size();
  std::mt19937 rng(9);
  uint64_t requestsForUs = 0, unsolicited = 0, others = 0;
  for (int burst = 0; burst < 128; ++burst) {
    std::vector<Bytes> frames;
    for (int i = 0; i < 32; ++i) {
      const uint32_t sender = ipv4(10, 50, 0, 120 + rng() % 80);
      const Mac mac{0x02, 0x66, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                    static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())};
      switch (rng() % 4) {
        case 0: frames.push_back(arpRequest(kPort0Ip, sender, mac).build()); ++requestsForUs; break;
        case 1: frames.push_back(replyToUs(sender, mac).build()); ++unsolicited; break;
        case 2: frames.push_back(gratuitous(sender, mac).build()); ++unsolicited; break;
        default: frames.push_back(arpRequest(ipv4(10, 50, 0, 77), sender, mac).build()); ++others; break;
      }
    }
    h.run(frames);
  }
  EXPECT_EQ(h.plane().neighbors.size(), before) << "no entry for any made-up sender";
  EXPECT_EQ(h.counters().arpReplies, requestsForUs) << "requests for our address are still answered";
  EXPECT_EQ(h.dropCount(DropReason::ArpUnsolicited), unsolicited);
  EXPECT_EQ(h.dropCount(DropReason::ArpIgnored), others);
  EXPECT_EQ(h.counters().arpLearned, 0u);
  EXPECT_EQ(h.counters().arpRequests, 0u) << "nothing to ask about senders we never asked for";
  expectDarkBackendResolves(h);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: a reply sets the MAC only when it answers our request within the retry window.
TEST(Neighbors, SolicitedReplyIsLearntUnsolicitedIsNot) {
  Harness h;
  const Bytes answer = replyToUs(kDarkBackendIp, kDarkBackendMac).build();
  EXPECT_TRUE(h.run(answer).empty());
  EXPECT_EQ(h.dropCount(DropReason::ArpUnsolicited), 1u);
  EXPECT_EQ(neighborMac(h, kDarkBackendIp), std::nullopt) << "nobody asked: not learnt";

  // A flow to the dark backend makes nicproxy ask.
  std::vector<Sent> sent = h.run(build(clientTcp(kDarkVip, 80)));
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, ourRequest(kDarkBackendIp));
  // Too late: past the retry window, the answer is unsolicited (and nicproxy asks again).
  h.setNow(h.now() + h.timeouts().arpRetry + 1);
  sent = h.run(answer);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, ourRequest(kDarkBackendIp));
  EXPECT_EQ(h.dropCount(DropReason::ArpUnsolicited), 2u);
  EXPECT_EQ(neighborMac(h, kDarkBackendIp), std::nullopt);
  // In time: learnt, consumed, counted.
  EXPECT_TRUE(h.run(answer).empty());
  EXPECT_EQ(neighborMac(h, kDarkBackendIp), kDarkBackendMac);
  EXPECT_EQ(h.counters().arpLearned, 1u);
  EXPECT_EQ(h.dropCount(DropReason::ArpUnsolicited), 2u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: an unsolicited ARP with a new MAC does not move a resolved entry; nicproxy asks
// at once and the answer moves it. The same MAC only confirms.
// The flood the generator sends: forged replies claiming a backend's address, fast
// enough that one lands in every window in which nicproxy waits for an answer. While the
// real owner answers too, the address must not move.
TEST(Neighbors, ForgedAnswersCannotTakeOverALiveNeighbour) {
  Harness h;
  const Bytes syn = build(clientTcp(kWebVip, 80));
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(round);
    h.setNow(h.now() + h.timeouts().arpRetry);  // the previous request's window is over
    // A forged announcement makes nicproxy ask; a forged reply comes first, then the owner's.
    std::vector<Sent> sent = h.run(gratuitous(kBackendIp, kMovedMac).build());
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(sent[0].frame, ourRequest(kBackendIp));
    EXPECT_TRUE(h.run(replyToUs(kBackendIp, kMovedMac).build()).empty());
    EXPECT_EQ(neighborMac(h, kBackendIp), kBackendMac) << "a forged answer does not move a neighbour that answers";
    EXPECT_TRUE(h.run(replyToUs(kBackendIp, kBackendMac).build()).empty());
    EXPECT_EQ(neighborMac(h, kBackendIp), kBackendMac);
    sent = h.run(syn);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(destinationMac(sent[0].frame), kBackendMac);
  }
  EXPECT_EQ(h.counters().arpLearned, 5u) << "the owner's answers";
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// The traffic confirms a next hop too: a backend that has answered no ARP for a while but
// keeps sending a connection's packets from its MAC is alive, and a forged reply does not
// take its address over.
TEST(Neighbors, ABackendThatSendsIsConfirmedByItsTraffic) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  h.setNow(h.now() + h.hz());  // the last ARP answer is a second old
  ASSERT_EQ(s.sendBackend(kTcpAck | kTcpPsh, Bytes{'d', 'a', 't', 'a'}).size(), 1u);
  std::vector<Sent> sent = h.run(gratuitous(kBackendIp, kMovedMac).build());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(h.run(replyToUs(kBackendIp, kMovedMac).build()).empty());
  EXPECT_EQ(neighborMac(h, kBackendIp), kBackendMac) << "the backend's own packets vouched for its MAC";
  sent = s.sendClient(kTcpAck | kTcpPsh, Bytes{'o', 'k'});
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationMac(sent[0].frame), kBackendMac);
}

TEST(Neighbors, GratuitousArpWithANewMacAsksBeforeMoving) {
  Harness h;
  const Bytes syn = build(clientTcp(kWebVip, 80));
  std::vector<Sent> sent = h.run(gratuitous(kBackendIp, kBackendMac).build());
  EXPECT_TRUE(sent.empty()) << "the same MAC: nothing to ask";
  EXPECT_EQ(h.counters().arpRequests, 0u);

  // A second later (the old MAC silent for more than two answer windows), the address
  // moves to another host, which announces itself.
  h.setNow(h.now() + h.hz());
  sent = h.run(gratuitous(kBackendIp, kMovedMac).build());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, ourRequest(kBackendIp)) << hexDump(sent[0].frame);
  EXPECT_EQ(h.dropCount(DropReason::ArpUnsolicited), 2u);
  EXPECT_EQ(neighborMac(h, kBackendIp), kBackendMac) << "not moved by an announcement";
  sent = h.run(syn);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationMac(sent[0].frame), kBackendMac);

  EXPECT_TRUE(h.run(replyToUs(kBackendIp, kMovedMac).build()).empty());
  EXPECT_EQ(neighborMac(h, kBackendIp), kMovedMac) << "the answer to our request moves it";
  EXPECT_EQ(h.counters().arpLearned, 1u);
  sent = h.run(syn);  // the same flow, retransmitted: follows the move
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationMac(sent[0].frame), kMovedMac);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: refresh, then fail. A backend that stops answering is asked again after
// arpRefresh, and after arpFail more it is unresolved: its flows wait for ARP instead of
// going to a MAC nobody answers for. When it answers again, traffic resumes.
TEST(Neighbors, BackendThatStopsAnsweringBecomesUnresolved) {
  Harness h;
  const Timeouts& t = h.timeouts();
  const uint64_t t0 = h.now();
  const Bytes syn = build(clientTcp(kWebVip, 80));
  ASSERT_EQ(h.run(syn).size(), 1u);

  h.setNow(t0 + t.arpRefresh);
  std::vector<Sent> sent = h.probe();
  EXPECT_TRUE(contains(sent, ourRequest(kBackendIp))) << "stale: asked again";
  EXPECT_EQ(neighborMac(h, kBackendIp), kBackendMac) << "still used while it is asked";

  h.setNow(t0 + t.arpRefresh + t.arpFail);
  for (int round = 0; round < 8; ++round) h.probe();
  EXPECT_EQ(neighborMac(h, kBackendIp), std::nullopt) << "no answer: unresolved";
  EXPECT_EQ(h.plane().neighbors.unreachable(), 4u) << "the four resolved backends";
  h.setNow(h.now() + t.arpRetry);
  sent = h.run(syn);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, ourRequest(kBackendIp)) << "the flow waits for ARP, not for a dead MAC";
  EXPECT_EQ(h.dropCount(DropReason::NeighborUnresolved), 1u);

  EXPECT_TRUE(h.run(replyToUs(kBackendIp, kBackendMac).build()).empty());
  sent = h.run(syn);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationMac(sent[0].frame), kBackendMac);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: expire. A neighbour nobody asked for or confirmed for arpExpire is freed by the
// probe loop's expiry slice; the backends it keeps asking for stay.
TEST(Neighbors, UnwantedNeighbourExpiresAndFreesItsSlot) {
  Harness h;
  const uint32_t unwanted = ipv4(10, 50, 0, 77);
  h.seedNeighbor(unwanted, kForgedMac);
  h.probe();  // wants the backends, the dark one and the external IP
  const uint32_t size = h.plane().neighbors.size();
  h.setNow(h.now() + h.timeouts().arpExpire - 1);
  for (int round = 0; round < 8; ++round) h.probe();
  EXPECT_EQ(h.plane().neighbors.size(), size) << "not yet";
  h.setNow(h.now() + 1);
  for (int round = 0; round < 8; ++round) h.probe();
  EXPECT_EQ(h.plane().neighbors.size(), size - 1);
  EXPECT_EQ(h.plane().neighbors.expired(), 1u);
  EXPECT_EQ(neighborMac(h, unwanted), std::nullopt);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: a flow keeps (slot, generation). When its neighbour's slot is freed and reused by
// another host, the flow must not send to that host's MAC: it asks for its own next hop.
TEST(Neighbors, FlowWhoseSlotWasReusedDoesNotUseTheNewOwnersMac) {
  Harness h;
  const Bytes query = build(clientUdp(kWebVip, 53));
  std::vector<Sent> sent = h.run(query);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(destinationMac(sent[0].frame), kBackendMac);
  NeighborTable::Ref backend;
  rte_ether_addr mac;
  ASSERT_TRUE(h.plane().neighbors.find(rte_cpu_to_be_32(kBackendIp), backend, mac));

  // Nobody wanted the backends for a moment: expiry frees them (the flow is still young).
  expireAll(h, h.now() + 2, 1);
  ASSERT_EQ(neighborMac(h, kBackendIp), std::nullopt);
  bool reused = false;
  for (uint32_t i = 0; i < 20000 && !reused; ++i) {
    const uint32_t intruder = ipv4(10, 70, 0, 0) + i;
    h.seedNeighbor(intruder, kForgedMac);
    NeighborTable::Ref ref;
    ASSERT_TRUE(h.plane().neighbors.find(rte_cpu_to_be_32(intruder), ref, mac));
    reused = ref.slot == backend.slot;
  }
  ASSERT_TRUE(reused) << "no intruder landed in the backend's old slot";

  sent = h.run(query);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, ourRequest(kBackendIp)) << "got:\n" << hexDump(sent[0].frame);
  EXPECT_EQ(h.dropCount(DropReason::NeighborUnresolved), 1u);
  EXPECT_EQ(h.counters().natForward, 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: never answer ARP for an address another host answers for. External IPs in port
// 0's subnet that are a gateway, another port's address, a backend (a learnt neighbour),
// a neighbour that answered, or a permanent neighbour are not answered (arp_conflict); a
// free one is.
TEST(Neighbors, NoAnswerForAddressesOtherHostsOwn) {
  Harness h;
  constexpr uint32_t kGateway = ipv4(10, 50, 0, 254);
  constexpr uint32_t kOtherPort = ipv4(10, 50, 0, 2);
  constexpr uint32_t kLearnt = ipv4(10, 50, 0, 201);
  constexpr uint32_t kPermanent = ipv4(10, 50, 0, 202);
  constexpr uint32_t kFree = ipv4(10, 50, 0, 203);
  h.plane().ports[0].gateway = rte_cpu_to_be_32(kGateway);
  h.plane().ports[1].address = rte_cpu_to_be_32(kOtherPort);
  h.seedNeighbor(kLearnt, kOwnerMac);
  ASSERT_TRUE(h.plane().neighbors.addPermanent(rte_cpu_to_be_32(kPermanent), etherAddr(kOwnerMac)));
  ServicePort clash = makePort("clash", ipv4(10, 96, 0, 60), 80, {makeEndpoint(kBackendIp, 8080)});
  clash.externalIPs = {kGateway, kOtherPort, kBackendIp, kLearnt, kPermanent, kFree};
  h.sync(withPorts(standardServices(), {clash}));

  struct Case {
    const char* description;
    uint32_t target;
    bool answered;
  };
  const Case cases[] = {
      {"the port's gateway", kGateway, false},      {"another port's address", kOtherPort, false},
      {"a backend", kBackendIp, false},             {"a neighbour that answered", kLearnt, false},
      {"a permanent neighbour", kPermanent, false}, {"nobody else's", kFree, true},
  };
  uint64_t conflicts = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.description);
    const ArpFrame asked = arpRequest(c.target);
    const std::vector<Sent> sent = h.run(asked.build());
    if (c.answered) {
      ASSERT_EQ(sent.size(), 1u);
      EXPECT_EQ(sent[0].frame, ourAnswer(asked));
    } else {
      EXPECT_TRUE(sent.empty());
      EXPECT_EQ(h.dropCount(DropReason::ArpConflict), ++conflicts);
    }
  }
  EXPECT_EQ(h.counters().arpReplies, 1u);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Rule: nicproxy probes each external / LB IP it answers for; when another host answers,
// nicproxy stops answering for it (arp_conflict) and the control thread warns once.
TEST(Neighbors, ProbeFindsAnotherOwnerOfAnExternalIp) {
  Harness h;
  const ArpFrame asked = arpRequest(kExternalInSubnet);
  std::vector<Sent> sent = h.run(asked.build());
  ASSERT_EQ(sent.size(), 1u) << "answered while nobody else claims it";

  sent = h.probe();
  EXPECT_TRUE(contains(sent, ourRequest(kExternalInSubnet))) << "asked from the port address at start";
  h.setNow(h.now() + h.timeouts().arpRetry);
  EXPECT_FALSE(contains(h.probe(), ourRequest(kExternalInSubnet))) << "unanswered: asked again only after arpRefresh";
  h.setNow(h.now() + h.timeouts().arpRefresh);
  EXPECT_TRUE(contains(h.probe(), ourRequest(kExternalInSubnet))) << "asked again every arpRefresh";

  EXPECT_TRUE(h.run(replyToUs(kExternalInSubnet, kOwnerMac).build()).empty());
  EXPECT_EQ(neighborMac(h, kExternalInSubnet), kOwnerMac);
  EXPECT_TRUE(h.run(asked.build()).empty()) << "another host owns it: nicproxy keeps quiet";
  EXPECT_EQ(h.dropCount(DropReason::ArpConflict), 1u);
  EXPECT_EQ(h.counters().arpReplies, 1u);

  // The control thread's check warns once per (address, MAC).
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(32);
  const auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  const size_t first = h.provider().checkAnsweredAddresses();
  const size_t second = h.provider().checkAnsweredAddresses();
  spdlog::set_default_logger(previous);
  EXPECT_EQ(first, 1u);
  EXPECT_EQ(second, 1u);
  const std::vector<std::string> logged = sink->last_formatted();
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_NE(logged[0].find("10.50.0.200"), std::string::npos) << logged[0];
  EXPECT_NE(logged[0].find("default/web:tcp"), std::string::npos) << logged[0];
  EXPECT_NE(logged[0].find("02:00:00:00:00:c8"), std::string::npos) << logged[0];
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

}  // namespace
}  // namespace nicproxy::testing
