// SNAT source ports and addresses (dpdk_app/snat_allocator.hpp): a worker finds the last
// free port of a (backend, SNAT address, protocol) tuple, says snat_ports_exhausted only
// when there is none, and a port with a second SNAT address opens twice the connections to
// one backend; replies to the second address and ARP for it are handled like the port
// address's.
// Test addresses (see harness.hpp): client 10.50.0.100 -> web 10.96.0.10:80/TCP -> backend
// 10.50.0.11:8080 (02:00:00:00:00:0b); port 0 is 10.50.0.1 (02:00:00:00:00:01), second SNAT
// address 10.50.0.5; port 1 is 10.60.0.1. Connections that fill a tuple come from
// 10.77.0.0/16. Four workers: worker 1 owns the ports p % 4 == 1, 15436 of them.
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

constexpr uint16_t kWorkers = 4;
constexpr uint16_t kWorker = 1;
constexpr uint32_t kFillerClients = ipv4(10, 77, 0, 0);

/// The SNAT ports of worker `index` out of `workers`, worked out here from the rule in
/// docs/snat.md rather than with the data path's own arithmetic.
std::vector<uint16_t> portsOfWorker(uint16_t index, uint16_t workers) {
  std::vector<uint16_t> ports;
  for (uint32_t p = 1024; p <= 65535; ++p) {
    if ((p < 30000 || p > 32767) && p % workers == index) ports.push_back(static_cast<uint16_t>(p));
  }
  return ports;
}

Harness::Options fourWorkers() {
  Harness::Options o;
  o.workerCount = kWorkers;
  o.workerIndex = kWorker;
  o.flowCapacity = 40000;
  return o;
}

/// Connections to the web backend from `snatIp` on each of `ports`, put straight into
/// the flow table (as if opened long ago, and never expiring), established unless `state`
/// says otherwise (half-open ones give their port to a new connection, see
/// HalfOpenConnectionsGiveUpTheirPorts).
void occupy(Harness& h, uint32_t snatIp, const std::vector<uint16_t>& ports,
            TcpState state = TcpState::Established) {
  uint32_t n = 0;
  for (const uint16_t port : ports) {
    const FlowKey forward{rte_cpu_to_be_32(kFillerClients + n / 50000), rte_cpu_to_be_32(kWebVip),
                          rte_cpu_to_be_16(static_cast<uint16_t>(10000 + n % 50000)), rte_cpu_to_be_16(80),
                          kProtoTcp, {0, 0, 0}};
    const FlowKey reverse{rte_cpu_to_be_32(kBackendIp), rte_cpu_to_be_32(snatIp), rte_cpu_to_be_16(8080),
                          rte_cpu_to_be_16(port), kProtoTcp, {0, 0, 0}};
    const int64_t index = h.flows().insert(forward, reverse);
    ASSERT_GE(index, 0);
    FlowEntry& e = h.flows().entry(static_cast<uint32_t>(index));
    e.expiresAt = UINT64_MAX;
    e.tcpState = state;
    ++n;
  }
}

FlowKey reverseKey(uint32_t snatIp, uint16_t port) {
  return FlowKey{rte_cpu_to_be_32(kBackendIp), rte_cpu_to_be_32(snatIp), rte_cpu_to_be_16(8080),
                 rte_cpu_to_be_16(port), kProtoTcp, {0, 0, 0}};
}

/// Enough loops of the worker for its background scan to look at every port once.
constexpr unsigned kLoopsForAFullScan = 15436 / 64 + 2;

/// A SYN from the client, and its retransmission after the worker looped for a while
/// (as a client retransmits after a second): the frames that left.
std::vector<Sent> synWithRetransmit(Harness& h, uint16_t clientPort = 40000) {
  const Bytes syn = build(clientTcp(kWebVip, 80, clientPort));
  std::vector<Sent> sent = h.run(syn);
  if (!sent.empty()) return sent;
  for (unsigned i = 0; i < kLoopsForAFullScan; ++i) h.housekeeping();
  return h.run(syn);
}

TEST(Snat, TheLastFreePortOfAWorkerIsFound) {
  const std::vector<uint16_t> ports = portsOfWorker(kWorker, kWorkers);
  ASSERT_EQ(ports.size(), 15436u);
  for (const size_t freeAt : {size_t{0}, ports.size() / 2, ports.size() - 1}) {
    const uint16_t last = ports[freeAt];
    SCOPED_TRACE(last);
    Harness h(fourWorkers());
    std::vector<uint16_t> taken = ports;
    taken.erase(taken.begin() + static_cast<std::ptrdiff_t>(freeAt));
    occupy(h, kPort0Ip, taken);
    const std::vector<Sent> sent = synWithRetransmit(h);
    ASSERT_EQ(sent.size(), 1u) << "the free port was not found";
    EXPECT_EQ(sourcePortOf(sent[0].frame), last);
    EXPECT_EQ(read32(sent[0].frame, kEthLength + 12), kPort0Ip);
    EXPECT_EQ(h.counters().flowsCreated, 1u);
    EXPECT_LE(h.dropCount(DropReason::SnatPortsExhausted), 1u) << "at most the first SYN waits for the scan";
    EXPECT_EQ(h.flows().size(), ports.size());
  }
}

// A flood of half-open connections to a one-backend Service takes every SNAT port of the
// backend: a new client still gets in, on the port of one of them (the early drop for
// that backend), and established connections are never taken.
TEST(Snat, HalfOpenConnectionsGiveUpTheirPorts) {
  const std::vector<uint16_t> ports = portsOfWorker(kWorker, kWorkers);
  Harness h(fourWorkers());
  occupy(h, kPort0Ip, ports, TcpState::SynRecv);
  const std::vector<Sent> sent = h.run(build(clientTcp(kWebVip, 80)));
  ASSERT_EQ(sent.size(), 1u) << "a new client is not locked out";
  const uint16_t port = sourcePortOf(sent[0].frame);
  EXPECT_TRUE(std::binary_search(ports.begin(), ports.end(), port));
  EXPECT_EQ(h.counters().flowsEarlyDropped, 1u);
  EXPECT_EQ(h.dropCount(DropReason::SnatPortsExhausted), 0u);
  EXPECT_EQ(h.flows().size(), ports.size()) << "one half-open connection made way for it";
  EXPECT_EQ(h.mbufsInUse(), 0u);
}

TEST(Snat, AnExhaustedTupleIsDroppedAndCountedUntilAPortIsFreed) {
  const std::vector<uint16_t> ports = portsOfWorker(kWorker, kWorkers);
  Harness h(fourWorkers());
  occupy(h, kPort0Ip, ports);
  EXPECT_TRUE(synWithRetransmit(h).empty());
  EXPECT_EQ(h.dropCount(DropReason::SnatPortsExhausted), 2u) << "the SYN and its retransmission";
  EXPECT_EQ(h.counters().totalDrops(), 2u);
  EXPECT_EQ(h.counters().flowsCreated, 0u);
  EXPECT_EQ(h.flows().size(), ports.size());
  EXPECT_EQ(h.mbufsInUse(), 0u);

  // Another backend (another tuple) is not affected.
  EXPECT_EQ(h.run(build(clientTcp(kFarVip, 80))).size(), 1u);

  // One connection ends: a SYN after the exhausted tuple's retry time gets its port.
  const uint16_t freed = ports[1234];
  uint64_t value = 0;
  ASSERT_TRUE(h.flows().lookup(reverseKey(kPort0Ip, freed), value));
  h.flows().remove(FlowTable::entryIndex(value));
  h.setNow(h.now() + h.hz());  // later than the retry time (500 ms)
  const std::vector<Sent> sent = synWithRetransmit(h, 40001);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sourcePortOf(sent[0].frame), freed);
}

/// Opens connections to the web backend from client ports 10000, 10001, ... in bursts,
/// the worker looping between bursts, and retransmits the SYNs that were dropped until a
/// round opens nothing more. Returns the (SNAT address, SNAT port) of every connection.
std::set<std::pair<uint32_t, uint16_t>> openUntilExhausted(Harness& h, uint32_t clients) {
  std::set<std::pair<uint32_t, uint16_t>> opened;
  std::vector<uint16_t> pending;
  for (uint32_t i = 0; i < clients; ++i) pending.push_back(static_cast<uint16_t>(10000 + i));
  while (!pending.empty()) {
    std::vector<uint16_t> dropped;
    for (size_t start = 0; start < pending.size(); start += kBurstSize) {
      const size_t end = std::min(pending.size(), start + kBurstSize);
      std::vector<Bytes> frames;
      for (size_t i = start; i < end; ++i) frames.push_back(build(clientTcp(kWebVip, 80, pending[i])));
      const std::vector<Sent> sent = h.run(frames);
      for (const Sent& s : sent) opened.insert({read32(s.frame, kEthLength + 12), sourcePortOf(s.frame)});
      for (size_t i = start; i < end; ++i) {
        const FlowKey forward{rte_cpu_to_be_32(kClientIp), rte_cpu_to_be_32(kWebVip), rte_cpu_to_be_16(pending[i]),
                              rte_cpu_to_be_16(80), kProtoTcp, {0, 0, 0}};
        uint64_t value = 0;
        if (!h.flows().lookup(forward, value)) {
          dropped.push_back(pending[i]);
        } else {
          // As if the handshake completed: established connections keep their ports (a
          // half-open one would give its port to the next client, HalfOpenConnectionsGiveUpTheirPorts).
          h.flows().entry(FlowTable::entryIndex(value)).tcpState = TcpState::Established;
        }
      }
      h.housekeeping();
    }
    if (dropped.size() == pending.size()) break;  // nothing more to open
    for (unsigned i = 0; i < kLoopsForAFullScan; ++i) h.housekeeping();
    pending = std::move(dropped);
  }
  return opened;
}

TEST(Snat, ASecondSnatAddressDoublesTheConnectionsToOneBackend) {
  const std::vector<uint16_t> ports = portsOfWorker(kWorker, kWorkers);
  const std::set<uint16_t> owned(ports.begin(), ports.end());
  for (const bool second : {false, true}) {
    SCOPED_TRACE(second ? "two SNAT addresses" : "the port address alone");
    Harness h(fourWorkers());
    if (second) h.addSnatAddress(0, kPort0SnatIp);
    const uint32_t capacity = static_cast<uint32_t>(ports.size()) * (second ? 2 : 1);
    const auto opened = openUntilExhausted(h, capacity + 40);
    EXPECT_EQ(opened.size(), capacity);
    EXPECT_EQ(h.flows().size(), capacity);
    std::map<uint32_t, size_t> perAddress;
    for (const auto& [address, port] : opened) {
      ++perAddress[address];
      EXPECT_TRUE(owned.count(port)) << port << " is not worker 1's";
    }
    EXPECT_EQ(perAddress[kPort0Ip], ports.size());
    if (second) {
      EXPECT_EQ(perAddress[kPort0SnatIp], ports.size());
    }
    EXPECT_GE(h.dropCount(DropReason::SnatPortsExhausted), 40u) << "the 40 connections too many";
    EXPECT_EQ(h.counters().totalDrops(), h.dropCount(DropReason::SnatPortsExhausted));
  }
}

TEST(Snat, NewConnectionsUseEverySnatAddress) {
  Harness h;
  h.addSnatAddress(0, kPort0SnatIp);
  std::map<uint32_t, int> used;
  for (uint16_t client = 0; client < 64; ++client) {
    const std::vector<Sent> sent = h.run(build(clientTcp(kWebVip, 80, static_cast<uint16_t>(40000 + client))));
    ASSERT_EQ(sent.size(), 1u);
    ++used[read32(sent[0].frame, kEthLength + 12)];
  }
  EXPECT_EQ(used.size(), 2u);
  EXPECT_GT(used[kPort0Ip], 0);
  EXPECT_GT(used[kPort0SnatIp], 0);
}

/// Opens a connection whose SNAT address is the second one (the first pick is random)
/// on `worker`; returns its SNAT port and the SYN's spec.
std::pair<uint16_t, TcpFrame> connectionFromTheSecondAddress(Harness& h, uint16_t worker = 0) {
  for (uint16_t client = 40000; client < 40100; ++client) {
    const TcpFrame syn = clientTcp(kWebVip, 80, client);
    const std::vector<Sent> sent = h.run(syn.build(), 0, worker);
    if (sent.size() == 1 && read32(sent[0].frame, kEthLength + 12) == kPort0SnatIp) {
      return {sourcePortOf(sent[0].frame), syn};
    }
  }
  ADD_FAILURE() << "no connection used the second SNAT address";
  return {0, TcpFrame{}};
}

TcpFrame backendSynAck(uint16_t snatPort) {
  TcpFrame r;
  r.eth = EthSpec{kPort0Mac, kBackendMac};
  r.ip.source = kBackendIp;
  r.ip.destination = kPort0SnatIp;
  r.ip.id = 0x0777;
  r.tcp.sourcePort = 8080;
  r.tcp.destinationPort = snatPort;
  r.tcp.seq = 0x55667788;
  r.tcp.ack = 0x11223345;
  r.tcp.flags = kTcpSyn | kTcpAck;
  return r;
}

Bytes expectedAtClient(const TcpFrame& reply, uint16_t clientPort) {
  return build(translated(reply, EthSpec{kClientMac, kPort0Mac}, kWebVip, kClientIp, 80, clientPort));
}

TEST(Snat, RepliesToTheSecondAddressAreTranslatedBack) {
  Harness h;
  h.addSnatAddress(0, kPort0SnatIp);
  const auto [snatPort, syn] = connectionFromTheSecondAddress(h);
  ASSERT_NE(snatPort, 0u);
  const TcpFrame reply = backendSynAck(snatPort);
  const std::vector<Sent> sent = h.run(reply.build());
  ASSERT_EQ(sent.size(), 1u);
  const Bytes expected = expectedAtClient(reply, syn.tcp.sourcePort);
  EXPECT_EQ(sent[0].frame, expected) << "got:\n" << hexDump(sent[0].frame) << "\nwant:\n" << hexDump(expected);
  EXPECT_EQ(h.counters().natReverse, 1u);
  EXPECT_EQ(h.counters().totalDrops(), 0u);
}

TEST(Snat, AReplyToTheSecondAddressOnAnotherWorkerIsRedirectedToTheOwner) {
  Harness::Options o;
  o.workerCount = 2;
  o.allWorkers = true;
  Harness h(o);
  h.addSnatAddress(0, kPort0SnatIp);
  const auto [snatPort, syn] = connectionFromTheSecondAddress(h, 0);
  ASSERT_NE(snatPort, 0u);
  ASSERT_EQ(snatPort % 2, 0u) << "worker 0's port";
  const TcpFrame reply = backendSynAck(snatPort);
  EXPECT_TRUE(h.run(reply.build(), 0, 1).empty()) << "RSS gave the reply to worker 1";
  EXPECT_EQ(h.counters(1).redirected, 1u);
  const std::vector<Sent> sent = h.drainRedirect(0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].frame, expectedAtClient(reply, syn.tcp.sourcePort));
  EXPECT_EQ(h.counters(0).totalDrops() + h.counters(1).totalDrops(), 0u);
}

TEST(Snat, AReplyToTheSecondAddressWithoutAConnectionIsNoFlow) {
  Harness h;
  h.addSnatAddress(0, kPort0SnatIp);
  EXPECT_TRUE(h.run(backendSynAck(40001).build()).empty());
  EXPECT_EQ(h.dropCount(DropReason::NoFlow), 1u);
}

ArpFrame arpRequest(uint32_t target) {
  ArpFrame f;
  f.eth = EthSpec{kBroadcast, kClientMac};
  f.opcode = 1;
  f.senderMac = kClientMac;
  f.senderIp = kClientIp;
  f.targetIp = target;
  f.padTo = 60;
  return f;
}

TEST(Snat, ArpForTheSecondAddressIsAnsweredOnItsPortOnly) {
  Harness h;
  h.addSnatAddress(0, kPort0SnatIp);
  const std::vector<Sent> sent = h.run(arpRequest(kPort0SnatIp).build());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].port, 0u);
  ArpFrame reply;
  reply.eth = EthSpec{kClientMac, kPort0Mac};
  reply.opcode = 2;
  reply.senderMac = kPort0Mac;
  reply.senderIp = kPort0SnatIp;
  reply.targetMac = kClientMac;
  reply.targetIp = kClientIp;
  reply.padTo = 60;
  EXPECT_EQ(sent[0].frame, reply.build()) << hexDump(sent[0].frame);
  EXPECT_EQ(h.counters().arpReplies, 1u);

  ArpFrame onPort1 = arpRequest(kPort0SnatIp);
  onPort1.eth.destination = kBroadcast;
  EXPECT_TRUE(h.run(onPort1.build(), 1).empty()) << "port 1 does not own port 0's SNAT address";
  EXPECT_EQ(h.dropCount(DropReason::ArpIgnored), 1u);
}

TEST(Snat, PingToTheSecondAddressIsAnswered) {
  Harness h;
  h.addSnatAddress(0, kPort0SnatIp);
  IcmpFrame echo;
  echo.eth = EthSpec{kPort0Mac, kClientMac};
  echo.ip.source = kClientIp;
  echo.ip.destination = kPort0SnatIp;
  echo.rest = 0x00010001;
  const std::vector<Sent> sent = h.run(echo.build());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(h.counters().icmpEchoReplies, 1u);
}

}  // namespace
}  // namespace nicproxy::testing
