// TCP tracking as Linux conntrack does it (dpdk_app/tcp_tracker.hpp), through processBurst:
// flag validation, the handshake and the closing states with their timeouts, the sequence
// window (RST, FIN and data outside it), early drop under pressure, and the re-lookup after
// a burst changed the table.
// Test addresses (see harness.hpp): client 10.50.0.100:40000 and up -> ClusterIP
// 10.96.0.10:80 -> backend 10.50.0.11:8080 (MAC 02:00:00:00:00:0b), SNAT address
// 10.50.0.1; "multi" 10.96.0.30:80 -> 10.50.0.11-13:8080. Sequence numbers: the client's
// ISN 0x11223344, the backend's 0x55667788 (tcp_session.hpp).
//   TcpFlags.InvalidCombinationsNeverMakeAFlow     SYN+FIN, SYN+RST, none, FIN alone...
//   TcpFlags.SynFinFloodLeavesTheTableEmpty        the 1,100 SYN+FIN against 1,024 entries
//   TcpFlags.InvalidFlagsOnAConnectionChangeNothing
//   TcpFlags.OnlyASynOpensAConnection              FIN, RST, ACK, SYN-ACK without a flow
//   TcpHandshake.EstablishedOnlyAfterTheClientsAck  timeouts SYN_SENT -> SYN_RECV -> ESTABLISHED
//   TcpHandshake.HalfOpenFloodExpiresInSeconds     SYN + SYN-ACK, never ACKed
//   TcpHandshake.SegmentsTheStateDoesNotAllow       ACK before SYN-ACK, SYN-ACK from the client, a backend's SYN
//   TcpHandshake.SynAckMustAcknowledgeTheSyn
//   TcpHandshake.BackendRefusesWithRst
//   TcpWindow.RstOutsideTheWindowIsIgnored
//   TcpWindow.RstOlderThanWhatWasAcknowledgedIsIgnored
//   TcpWindow.RstInsideTheWindowClosesTheConnection
//   TcpWindow.FinOutsideTheWindowIsIgnored
//   TcpWindow.DataOutsideTheWindowDroppedUnlessLiberal
//   TcpWindow.WindowScaleWidensTheWindowOnlyWhenBothSidesAgree
//   TcpClose.StatesAndTimeoutsOfAnOrderlyClose
//   TcpClose.RetransmittedFinStaysInFinWait
//   TcpClose.SynReopensATimeWaitConnection
//   EarlyDrop.HalfOpenFloodCannotLockOutNewClients
//   Relookup.LateSegmentNeverReachesTheConnectionThatReplacedItsOwn
//   Relookup.SegmentOfAFlowEvictedEarlierInTheBurst
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_byteorder.h>

#include "dpdk_app/flow_timers.hpp"
#include "tests/dpdk/harness.hpp"
#include "tests/dpdk/packets.hpp"
#include "tests/dpdk/tcp_session.hpp"

namespace nicproxy::testing {
namespace {

const Bytes kHello{'h', 'e', 'l', 'l', 'o'};

/// The entry of the client's connection from `clientPort` to 10.96.0.10:80.
const FlowEntry* webFlow(Harness& h, uint16_t clientPort = 40000) {
  const FlowKey forward{rte_cpu_to_be_32(kClientIp), rte_cpu_to_be_32(kWebVip), rte_cpu_to_be_16(clientPort),
                        rte_cpu_to_be_16(80), IPPROTO_TCP, {0, 0, 0}};
  uint64_t value = 0;
  if (!h.flows().lookup(forward, value)) return nullptr;
  return &h.flows().entry(FlowTable::entryIndex(value));
}

TcpState stateOf(Harness& h, uint16_t clientPort = 40000) {
  const FlowEntry* e = webFlow(h, clientPort);
  return e == nullptr ? TcpState::None : e->tcpState;
}

/// True when the connection is still there just before `after` and gone at `after` + 1
/// (expire() removes entries whose expiry is <= now).
::testing::AssertionResult expiresAfter(Harness& h, uint64_t from, uint64_t after) {
  const uint32_t before = h.flows().size();
  if (h.flows().expire(from + after - 1, 100000) != 0) {
    return ::testing::AssertionFailure() << "gone before " << after / h.hz() << " s";
  }
  if (h.flows().expire(from + after, 100000) != 1 || h.flows().size() != before - 1) {
    return ::testing::AssertionFailure() << "still there after " << after / h.hz() << " s";
  }
  return ::testing::AssertionSuccess();
}

TEST(TcpFlags, InvalidCombinationsNeverMakeAFlow) {
  const struct {
    const char* name;
    uint8_t flags;
  } cases[] = {
      {"SYN+FIN", kTcpSyn | kTcpFin},
      {"SYN+RST", kTcpSyn | kTcpRst},
      {"SYN+FIN+ACK", kTcpSyn | kTcpFin | kTcpAck},
      {"no flags", 0},
      {"PSH only", kTcpPsh},
      {"FIN without ACK", kTcpFin},
      {"FIN+PSH+URG (xmas) without ACK", kTcpFin | kTcpPsh | 0x20},
      {"RST+FIN", kTcpRst | kTcpFin},
      {"all", 0x3f},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Harness h;
    EXPECT_TRUE(h.run(build(clientTcp(kWebVip, 80, 40000, c.flags))).empty());
    EXPECT_EQ(h.dropCount(DropReason::TcpInvalidFlags), 1u);
    EXPECT_EQ(h.flows().size(), 0u);
    EXPECT_EQ(h.counters().flowsCreated, 0u);
    EXPECT_EQ(h.mbufsInUse(), 0u);
  }
}

TEST(TcpFlags, SynFinFloodLeavesTheTableEmpty) {
  Harness h;  // 1,024 entries
  for (uint16_t burst = 0; burst < 1100 / 25; ++burst) {
    std::vector<Bytes> frames;
    for (uint16_t i = 0; i < 25; ++i) {
      TcpFrame f = clientTcp(kWebVip, 80, static_cast<uint16_t>(20000 + burst * 25 + i), kTcpSyn | kTcpFin);
      frames.push_back(f.build());
    }
    EXPECT_TRUE(h.run(frames).empty());
  }
  EXPECT_EQ(h.dropCount(DropReason::TcpInvalidFlags), 1100u);
  EXPECT_EQ(h.flows().size(), 0u);
  TcpSession s(h, kWebVip, 80);
  s.open();  // a real client still gets in
  EXPECT_EQ(stateOf(h), TcpState::Established);
}

TEST(TcpFlags, InvalidFlagsOnAConnectionChangeNothing) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  for (uint8_t flags : {uint8_t(kTcpSyn | kTcpFin), uint8_t(kTcpFin), uint8_t(0), uint8_t(kTcpRst | kTcpSyn)}) {
    EXPECT_TRUE(h.run(s.client(flags).build()).empty()) << int(flags);
    EXPECT_TRUE(h.run(s.backend(flags).build()).empty()) << int(flags);
  }
  EXPECT_EQ(h.dropCount(DropReason::TcpInvalidFlags), 8u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
  EXPECT_EQ(s.sendClient(kTcpAck | kTcpPsh, kHello).size(), 1u);
}

TEST(TcpFlags, OnlyASynOpensAConnection) {
  Harness h;
  const uint8_t flags[] = {kTcpFin | kTcpAck, kTcpRst, kTcpRst | kTcpAck, kTcpAck, kTcpAck | kTcpPsh,
                           kTcpSyn | kTcpAck};
  for (uint8_t f : flags) EXPECT_TRUE(h.run(build(clientTcp(kWebVip, 80, 40000, f))).empty()) << int(f);
  EXPECT_EQ(h.dropCount(DropReason::TcpNotSyn), std::size(flags));
  EXPECT_EQ(h.flows().size(), 0u);
}

TEST(TcpHandshake, EstablishedOnlyAfterTheClientsAck) {
  Harness h;
  const Timeouts& t = h.timeouts();
  TcpSession s(h, kWebVip, 80);
  ASSERT_EQ(s.syn().size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::SynSent);
  EXPECT_EQ(webFlow(h)->expiresAt, h.now() + t.tcpSynSent);
  ASSERT_EQ(s.synAck().size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::SynRecv) << "the backend's SYN-ACK alone does not establish";
  EXPECT_EQ(webFlow(h)->expiresAt, h.now() + t.tcpSynRecv);
  ASSERT_EQ(s.sendClient(kTcpAck).size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
  EXPECT_EQ(webFlow(h)->expiresAt, h.now() + t.tcpEstablished);
  EXPECT_EQ(t.tcpSynRecv, 30 * h.hz());
  EXPECT_EQ(t.tcpSynSent, 30 * h.hz());
}

TEST(TcpHandshake, HalfOpenFloodExpiresInSeconds) {
  Harness h;
  const uint64_t start = h.now();
  for (uint16_t i = 0; i < 200; ++i) {
    TcpSession s(h, kWebVip, 80, static_cast<uint16_t>(30000 + i));
    ASSERT_EQ(s.syn().size(), 1u);
    ASSERT_EQ(s.synAck().size(), 1u);  // the backend answers; the spoofed client never does
  }
  EXPECT_EQ(h.flows().size(), 200u);
  EXPECT_EQ(h.flows().expire(start + h.timeouts().tcpSynRecv - 1, 100000), 0u);
  EXPECT_EQ(h.flows().expire(start + h.timeouts().tcpSynRecv, 100000), 200u) << "gone after SYN_RECV's 30 s, not 24 h";
}

TEST(TcpHandshake, SegmentsTheStateDoesNotAllow) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  ASSERT_EQ(s.syn().size(), 1u);
  EXPECT_TRUE(h.run(s.client(kTcpAck).build()).empty()) << "the client's ACK before any SYN-ACK";
  EXPECT_TRUE(h.run(s.client(kTcpFin | kTcpAck).build()).empty()) << "the client's FIN before any SYN-ACK";
  EXPECT_TRUE(h.run(s.client(kTcpSyn | kTcpAck).build()).empty()) << "a SYN-ACK from the client";
  EXPECT_TRUE(h.run(s.backend(kTcpSyn).build()).empty()) << "a bare SYN from the backend";
  EXPECT_EQ(h.dropCount(DropReason::TcpInvalidState), 4u);
  EXPECT_EQ(stateOf(h), TcpState::SynSent);
  ASSERT_EQ(s.synAck().size(), 1u);
  ASSERT_EQ(s.sendClient(kTcpAck).size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
}

TEST(TcpHandshake, SynAckMustAcknowledgeTheSyn) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  ASSERT_EQ(s.syn().size(), 1u);
  TcpFrame wrong = s.backend(kTcpSyn | kTcpAck);
  wrong.tcp.ack = TcpSession::kClientIsn + 1000;  // acknowledges what the client never sent
  EXPECT_TRUE(h.run(wrong.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), 1u);
  EXPECT_EQ(stateOf(h), TcpState::SynSent);
  EXPECT_EQ(s.synAck().size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::SynRecv);
}

TEST(TcpHandshake, BackendRefusesWithRst) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  ASSERT_EQ(s.syn().size(), 1u);
  TcpFrame stray = s.backend(kTcpRst | kTcpAck);
  stray.tcp.ack = TcpSession::kClientIsn + 7;  // not an answer to this SYN
  EXPECT_TRUE(h.run(stray.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), 1u);
  TcpFrame refusal = s.backend(kTcpRst | kTcpAck);
  refusal.tcp.seq = 0;  // Linux answers a SYN to a closed port with seq 0, ack ISN + 1
  const std::vector<Sent> sent = h.run(refusal.build());
  ASSERT_EQ(sent.size(), 1u) << "the client learns that the port is closed";
  EXPECT_EQ(stateOf(h), TcpState::Close);
  EXPECT_EQ(webFlow(h)->expiresAt, h.now() + h.timeouts().tcpClose);
}

TEST(TcpWindow, RstOutsideTheWindowIsIgnored) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  // Far outside either side's window, from either side, with or without ACK.
  for (uint32_t offset : {0x40000000u, 0x80000000u, 0xC0000000u, 200000u}) {
    TcpFrame fromClient = s.client(kTcpRst);
    fromClient.tcp.seq += offset;
    EXPECT_TRUE(h.run(fromClient.build()).empty()) << offset;
    TcpFrame fromBackend = s.backend(kTcpRst | kTcpAck);
    fromBackend.tcp.seq += offset;
    EXPECT_TRUE(h.run(fromBackend.build()).empty()) << offset;
  }
  EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), 8u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
  EXPECT_EQ(webFlow(h)->expiresAt, h.now() + h.timeouts().tcpEstablished) << "an ignored RST changes no timer";
  EXPECT_EQ(s.sendBackend(kTcpAck | kTcpPsh, kHello).size(), 1u);
}

TEST(TcpWindow, RstOlderThanWhatWasAcknowledgedIsIgnored) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  const Bytes kilobyte(1000, 'x');
  ASSERT_EQ(s.sendClient(kTcpAck | kTcpPsh, kilobyte).size(), 1u);
  ASSERT_EQ(s.sendBackend(kTcpAck).size(), 1u);  // the backend acknowledges the 1,000 bytes
  TcpFrame old = s.client(kTcpRst);
  old.tcp.seq -= 500;  // inside the window, but before what the backend already acknowledged
  EXPECT_TRUE(h.run(old.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), 1u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
}

TEST(TcpWindow, RstInsideTheWindowClosesTheConnection) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  ASSERT_EQ(s.sendBackend(kTcpRst | kTcpAck).size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::Close);
  EXPECT_EQ(webFlow(h)->expiresAt, h.now() + h.timeouts().tcpClose);
  EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), 0u);
}

TEST(TcpWindow, FinOutsideTheWindowIsIgnored) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  TcpFrame fin = s.backend(kTcpFin | kTcpAck);
  fin.tcp.seq += 0x10000000;
  EXPECT_TRUE(h.run(fin.build()).empty());
  TcpFrame clientFin = s.client(kTcpFin | kTcpAck);
  clientFin.tcp.ack += 0x10000000;  // acknowledges what the backend never sent
  EXPECT_TRUE(h.run(clientFin.build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), 2u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
  EXPECT_EQ(webFlow(h)->finSeen, 0u);
}

TEST(TcpWindow, DataOutsideTheWindowDroppedUnlessLiberal) {
  for (const bool liberal : {false, true}) {
    SCOPED_TRACE(liberal ? "tcpBeLiberal" : "strict");
    Harness h;
    h.plane().tcpBeLiberal = liberal;
    TcpSession s(h, kWebVip, 80);
    s.open();
    // The backend's SYN-ACK offered a window of 64,240 bytes (no scaling): 100,000 bytes
    // ahead is beyond it.
    TcpFrame ahead = s.client(kTcpAck | kTcpPsh, kHello);
    ahead.tcp.seq += 100000;
    EXPECT_EQ(h.run(ahead.build()).size(), liberal ? 1u : 0u);
    EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), liberal ? 0u : 1u);
    // A RST just as far off is dropped either way.
    TcpFrame rst = s.client(kTcpRst);
    rst.tcp.seq += 100000;
    EXPECT_TRUE(h.run(rst.build()).empty());
    EXPECT_EQ(stateOf(h), TcpState::Established);
    EXPECT_EQ(s.sendClient(kTcpAck | kTcpPsh, kHello).size(), 1u) << "in-window data still flows";
  }
}

// RFC 7323: each SYN announces a shift; windows are scaled only when both did.
TEST(TcpWindow, WindowScaleWidensTheWindowOnlyWhenBothSidesAgree) {
  const Bytes wscale7{1, 3, 3, 7};  // NOP, window scale 7
  const struct {
    const char* name;
    bool clientScales;
    bool backendScales;
  } cases[] = {{"both scale", true, true}, {"only the client scales", true, false},
               {"only the backend scales", false, true}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const bool backendScales = c.clientScales && c.backendScales;  // the window is scaled
    Harness h;
    TcpSession s(h, kWebVip, 80);
    TcpFrame syn = s.client(kTcpSyn);
    if (c.clientScales) syn.tcp.options = wscale7;
    ASSERT_EQ(h.run(syn.build()).size(), 1u);
    ASSERT_EQ(s.syn().size(), 1u);  // (a retransmission: learns the backend side)
    TcpFrame synAck = s.backend(kTcpSyn | kTcpAck);
    if (c.backendScales) synAck.tcp.options = wscale7;
    ASSERT_EQ(h.run(synAck.build()).size(), 1u);
    // The client's ACK completes; then the backend advertises 1,000 << 7 = 128,000 bytes
    // (or 1,000 bytes unscaled).
    TcpFrame ack = s.client(kTcpAck);
    ack.tcp.ack = TcpSession::kBackendIsn + 1;
    ASSERT_EQ(h.run(ack.build()).size(), 1u);
    TcpFrame window = s.backend(kTcpAck);
    window.tcp.seq = TcpSession::kBackendIsn + 1;
    window.tcp.window = 1000;
    ASSERT_EQ(h.run(window.build()).size(), 1u);
    TcpFrame data = s.client(kTcpAck | kTcpPsh, kHello);
    data.tcp.ack = TcpSession::kBackendIsn + 1;
    // Inside the scaled window (128,000), beyond the SYN-ACK's unscaled 64,240.
    data.tcp.seq = TcpSession::kClientIsn + 1 + 100000;
    EXPECT_EQ(h.run(data.build()).size(), backendScales ? 1u : 0u);
    EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), backendScales ? 0u : 1u);
    // The same the other way: the client advertises 1,000 (<< 7), the backend sends
    // 100,000 bytes ahead.
    TcpFrame clientWindow = s.client(kTcpAck);
    clientWindow.tcp.ack = TcpSession::kBackendIsn + 1;
    clientWindow.tcp.window = 1000;
    ASSERT_EQ(h.run(clientWindow.build()).size(), 1u);
    TcpFrame backendData = s.backend(kTcpAck | kTcpPsh, kHello);
    backendData.tcp.seq = TcpSession::kBackendIsn + 1 + 100000;
    EXPECT_EQ(h.run(backendData.build()).size(), backendScales ? 1u : 0u);
    EXPECT_EQ(h.dropCount(DropReason::TcpOutOfWindow), backendScales ? 0u : 2u);
  }
}

TEST(TcpClose, StatesAndTimeoutsOfAnOrderlyClose) {
  Harness h;
  const Timeouts& t = h.timeouts();
  TcpSession s(h, kWebVip, 80);
  s.open();
  ASSERT_EQ(s.sendClient(kTcpAck | kTcpPsh, kHello).size(), 1u);
  ASSERT_EQ(s.sendBackend(kTcpAck | kTcpPsh, kHello).size(), 1u);
  const struct {
    const char* step;
    bool fromClient;
    uint8_t flags;
    TcpState state;
    uint64_t timeout;
  } steps[] = {
      {"the client's FIN", true, kTcpFin | kTcpAck, TcpState::FinWait, t.tcpFinWait},
      {"the backend acknowledges it", false, kTcpAck, TcpState::CloseWait, t.tcpCloseWait},
      {"the backend sends data (half close)", false, kTcpAck | kTcpPsh, TcpState::CloseWait, t.tcpCloseWait},
      {"the backend's FIN", false, kTcpFin | kTcpAck, TcpState::LastAck, t.tcpLastAck},
      {"the client acknowledges it", true, kTcpAck, TcpState::TimeWait, t.tcpTimeWait},
  };
  for (const auto& step : steps) {
    SCOPED_TRACE(step.step);
    const Bytes payload = (step.flags & kTcpPsh) != 0 ? kHello : Bytes{};
    const std::vector<Sent> sent = step.fromClient ? s.sendClient(step.flags, payload) : s.sendBackend(step.flags, payload);
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_EQ(stateOf(h), step.state);
    EXPECT_EQ(webFlow(h)->expiresAt, h.now() + step.timeout);
  }
  EXPECT_EQ(t.tcpCloseWait, 3600 * h.hz()) << "kube-proxy's tcpCloseWaitTimeout default";
  EXPECT_TRUE(expiresAfter(h, h.now(), t.tcpTimeWait));
}

TEST(TcpClose, RetransmittedFinStaysInFinWait) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  const TcpFrame fin = s.client(kTcpFin | kTcpAck);
  ASSERT_EQ(s.sendClient(kTcpFin | kTcpAck).size(), 1u);
  ASSERT_EQ(h.run(fin.build()).size(), 1u);  // the same FIN again
  EXPECT_EQ(stateOf(h), TcpState::FinWait) << "one side's FIN twice is not both sides closing";
  ASSERT_EQ(s.sendBackend(kTcpFin | kTcpAck).size(), 1u);  // acknowledges it and closes too
  EXPECT_EQ(stateOf(h), TcpState::LastAck);
  ASSERT_EQ(s.sendClient(kTcpAck).size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::TimeWait);
}

TEST(TcpClose, SynReopensATimeWaitConnection) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  ASSERT_EQ(s.sendClient(kTcpAck | kTcpPsh, kHello).size(), 1u);
  // A SYN on a live connection is forwarded (the backend answers with a challenge ACK) and
  // makes no new flow.
  EXPECT_EQ(h.run(s.client(kTcpSyn).build()).size(), 1u);
  EXPECT_EQ(h.counters().flowsCreated, 1u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
  ASSERT_EQ(s.sendClient(kTcpFin | kTcpAck).size(), 1u);
  ASSERT_EQ(s.sendBackend(kTcpFin | kTcpAck).size(), 1u);
  ASSERT_EQ(s.sendClient(kTcpAck).size(), 1u);
  ASSERT_EQ(stateOf(h), TcpState::TimeWait);
  TcpSession again(h, kWebVip, 80);  // same client port
  again.open();
  EXPECT_EQ(h.counters().flowsCreated, 2u);
  EXPECT_EQ(h.flows().size(), 1u);
  EXPECT_EQ(stateOf(h), TcpState::Established);
}

// The attack: half-open connections fill the table; established (and half-closed)
// ones must keep working and new clients must still get in.
TEST(EarlyDrop, HalfOpenFloodCannotLockOutNewClients) {
  Harness::Options options;
  options.flowCapacity = 64;  // high-water mark 56
  Harness h(options);
  std::vector<TcpSession> established;
  for (uint16_t i = 0; i < 40; ++i) {
    established.emplace_back(h, kWebVip, 80, static_cast<uint16_t>(40000 + i));
    established.back().open();
  }
  // One of them half-closed: the client sent its FIN, the backend acknowledged it and goes
  // on sending (CLOSE_WAIT). It must survive too.
  TcpSession& halfClosed = established.back();
  ASSERT_EQ(halfClosed.sendClient(kTcpFin | kTcpAck).size(), 1u);
  ASSERT_EQ(halfClosed.sendBackend(kTcpAck).size(), 1u);
  ASSERT_EQ(stateOf(h, halfClosed.clientPort()), TcpState::CloseWait);
  // 1,000 spoofed SYNs, each answered by the backend, none ever completed.
  uint32_t forwarded = 0;
  for (uint16_t i = 0; i < 1000; ++i) {
    TcpFrame syn = clientTcp(kWebVip, 80, static_cast<uint16_t>(1024 + i));
    syn.ip.source = ipv4(10, 50, 0, 160) + (i % 64);
    forwarded += static_cast<uint32_t>(h.run(syn.build()).size());
  }
  EXPECT_EQ(forwarded, 1000u) << "no SYN was refused: each made room";
  EXPECT_LE(h.flows().size(), 57u);
  EXPECT_GE(h.counters().flowsEarlyDropped, 1000u - 16u);
  EXPECT_EQ(h.dropCount(DropReason::FlowTableFull), 0u);
  for (TcpSession& s : established) {
    if (&s != &halfClosed) {
      ASSERT_EQ(s.sendClient(kTcpAck | kTcpPsh, kHello).size(), 1u) << s.clientPort();
    }
    ASSERT_EQ(s.sendBackend(kTcpAck | kTcpPsh, kHello).size(), 1u) << s.clientPort();
  }
  TcpSession newcomer(h, kWebVip, 80, 50000);
  newcomer.open();
  EXPECT_EQ(stateOf(h, 50000), TcpState::Established);
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

// Two packets in one burst: the client's SYN reusing the port of a connection in
// TIME_WAIT, then a late data segment from the old connection's backend. The SYN replaces
// the old flow, and the new one takes the freed entry. The bulk lookup had found the late
// segment's (old) reply key in that entry: used as it was, the segment would pass as the
// new connection's backend speaking and be delivered to the client, on a connection it
// never belonged to. Looked up again, it finds nothing.
TEST(Relookup, LateSegmentNeverReachesTheConnectionThatReplacedItsOwn) {
  Harness h;
  TcpSession s(h, kWebVip, 80);
  s.open();
  ASSERT_EQ(s.sendClient(kTcpFin | kTcpAck).size(), 1u);
  const TcpFrame late = s.backend(kTcpAck | kTcpPsh, kHello);
  ASSERT_EQ(s.sendBackend(kTcpFin | kTcpAck).size(), 1u);
  ASSERT_EQ(s.sendClient(kTcpAck).size(), 1u);
  ASSERT_EQ(stateOf(h), TcpState::TimeWait);
  TcpSession again(h, kWebVip, 80);
  const std::vector<Sent> sent = h.run(std::vector<Bytes>{again.client(kTcpSyn).build(), late.build()});
  ASSERT_EQ(sent.size(), 1u) << "only the SYN goes out";
  EXPECT_EQ(destinationIpOf(sent[0].frame), kBackendIp);
  EXPECT_NE(sourcePortOf(sent[0].frame), s.snatPort()) << "(a new SNAT port; the same one by chance would "
                                                          "make the reply key the same)";
  EXPECT_EQ(h.dropCount(DropReason::NoFlow), 1u) << "the late segment belongs to no connection now";
  EXPECT_EQ(h.counters().natReverse, 2u) << "nothing more reached the client";
}

// The first packet of a burst opens a connection past the high-water mark and evicts a
// half-open one, whose entry the new connection then takes; a segment of the evicted
// connection later in the burst must not be handled with the stale lookup result.
TEST(Relookup, SegmentOfAFlowEvictedEarlierInTheBurst) {
  Harness::Options options;
  options.flowCapacity = 8;  // high-water mark 7
  Harness h(options);
  std::vector<TcpSession> halfOpen;
  for (uint16_t i = 0; i < 7; ++i) {
    halfOpen.emplace_back(h, kWebVip, 80, static_cast<uint16_t>(41000 + i));
    ASSERT_EQ(halfOpen.back().syn().size(), 1u);
    ASSERT_EQ(halfOpen.back().synAck().size(), 1u);
  }
  const uint64_t toClientsBefore = h.counters().natReverse;
  // The eviction cursor starts at the first entry: the connection from 41000 goes, and
  // the SYN from 42000 takes its entry.
  std::vector<Bytes> burst{build(clientTcp(kWebVip, 80, 42000))};
  burst.push_back(halfOpen[0].backend(kTcpAck | kTcpPsh, kHello).build());
  const std::vector<Sent> sent = h.run(burst);
  ASSERT_EQ(sent.size(), 1u) << "only the SYN goes out";
  EXPECT_EQ(destinationIpOf(sent[0].frame), kBackendIp);
  EXPECT_EQ(h.counters().flowsEarlyDropped, 1u);
  EXPECT_EQ(h.dropCount(DropReason::NoFlow), 1u) << "the evicted connection's segment is a miss now";
  EXPECT_EQ(h.counters().natReverse, toClientsBefore) << "nothing reached the new client";
  EXPECT_EQ(webFlow(h, 41000), nullptr);
}

}  // namespace
}  // namespace nicproxy::testing
