// NeighborTable and FlowTable on their own, without processBurst().
// Test addresses: neighbours 10.50.0.11, 10.50.0.12, the external IP 10.50.0.200 and
// 10.1-6.x.y (bulk: 10.3 permanent, 10.4 resolved, 10.5 unresolved); flows between
// client 10.50.0.100:40000, VIP 10.96.0.10:80, backend 10.50.0.11:8080 and SNAT
// address 10.50.0.1.
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_hash.h>

#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/neighbor.hpp"
#include "tests/dpdk/harness.hpp"

namespace nicproxy::testing {
namespace {

bool sameMac(const rte_ether_addr& a, const Mac& b) { return std::memcmp(a.addr_bytes, b.data(), 6) == 0; }

constexpr uint64_t kT = 1'000'000;
constexpr uint64_t kRetry = 100;
constexpr uint64_t kRefresh = 10'000;
constexpr uint64_t kFail = 500;
constexpr uint64_t kExpire = 50'000;

Mac macOf(uint32_t i) { return Mac{0x02, 0, 0, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}; }

/// nicproxy asks for `address` at `now` and the neighbour answers at once.
void resolve(NeighborTable& table, uint32_t address, const Mac& mac, uint64_t now) {
  const rte_be32_t a = rte_cpu_to_be_32(address);
  ASSERT_TRUE(table.claimRequest(a, now, kRetry, kRefresh)) << address;
  ASSERT_EQ(table.hear(a, etherAddr(mac), now, true, kRetry), NeighborTable::Heard::Solicited) << address;
}

std::optional<Mac> macIn(const NeighborTable& table, uint32_t address) {
  rte_ether_addr mac{};
  if (!table.lookup(rte_cpu_to_be_32(address), mac)) return std::nullopt;
  Mac out;
  std::memcpy(out.data(), mac.addr_bytes, 6);
  return out;
}

// Learn only what nicproxy asked for: ARP from a sender without an entry creates
// nothing; an answer to our request sets the MAC; later ARP only confirms or differs.
TEST(NeighborTable, OnlyAnswersToOurRequestsSetAMac) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kBackendIp);
  using Heard = NeighborTable::Heard;
  EXPECT_EQ(table.hear(a, etherAddr(kBackendMac), kT, true, kRetry), Heard::Unknown) << "never asked for";
  EXPECT_EQ(table.size(), 0u) << "ARP from an unknown sender must not create an entry";
  EXPECT_EQ(macIn(table, kBackendIp), std::nullopt);

  ASSERT_TRUE(table.claimRequest(a, kT, kRetry, kRefresh));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.hear(a, etherAddr(kBackendMac), kT + 1, false, kRetry), Heard::Differs)
      << "an ARP that is not a reply to us does not answer our request";
  EXPECT_EQ(macIn(table, kBackendIp), std::nullopt);
  EXPECT_EQ(table.hear(a, etherAddr(kBackendMac), kT + 2, true, kRetry), Heard::Solicited);
  EXPECT_EQ(macIn(table, kBackendIp), kBackendMac);

  EXPECT_EQ(table.hear(a, etherAddr(kBackend2Mac), kT + 3, true, kRetry), Heard::Differs)
      << "the first answer wins; a second one with another MAC is unsolicited";
  EXPECT_EQ(macIn(table, kBackendIp), kBackendMac);
  EXPECT_EQ(table.hear(a, etherAddr(kBackendMac), kT + 4, false, kRetry), Heard::Confirmed);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_FALSE(table.claimRequest(0, kT, kRetry, kRefresh)) << "0.0.0.0 is never a neighbour";
}

TEST(NeighborTable, AnswerAfterTheRetryWindowIsUnsolicited) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kBackendIp);
  ASSERT_TRUE(table.claimRequest(a, kT, kRetry, kRefresh));
  EXPECT_EQ(table.hear(a, etherAddr(kBackendMac), kT + kRetry + 1, true, kRetry), NeighborTable::Heard::Differs);
  EXPECT_EQ(macIn(table, kBackendIp), std::nullopt);
  EXPECT_TRUE(table.claimConfirmation(a, kT + kRetry + 1, kRetry)) << "the caller asks again at once";
  EXPECT_EQ(table.hear(a, etherAddr(kBackendMac), kT + kRetry + 2, true, kRetry), NeighborTable::Heard::Solicited);
  EXPECT_EQ(macIn(table, kBackendIp), kBackendMac);
}

TEST(NeighborTable, ManyAddressesFitWithoutEviction) {
  NeighborTable table;
  constexpr uint32_t kCount = 3000;  // 73% of the slots
  for (uint32_t i = 0; i < kCount; ++i) resolve(table, ipv4(10, 1, 0, 0) + i, macOf(i), kT);
  for (uint32_t i = 0; i < kCount; ++i) EXPECT_EQ(macIn(table, ipv4(10, 1, 0, 0) + i), macOf(i)) << i;
  EXPECT_EQ(table.size(), kCount);
  EXPECT_EQ(table.evicted(), 0u);
}

TEST(NeighborTable, ClaimRequestOncePerRetryInterval) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kBackendIp);
  EXPECT_TRUE(table.claimRequest(a, kT, kRetry, kRefresh)) << "unknown: ask";
  EXPECT_FALSE(table.claimRequest(a, kT, kRetry, kRefresh)) << "asked just now";
  EXPECT_FALSE(table.claimRequest(a, kT + kRetry - 1, kRetry, kRefresh));
  EXPECT_TRUE(table.claimRequest(a, kT + kRetry, kRetry, kRefresh)) << "retry interval over";
  rte_ether_addr mac{};
  EXPECT_FALSE(table.lookup(a, mac)) << "a pending request is not a MAC";

  // Known and fresh: no request; unconfirmed for refreshAfter: ask again, once.
  const uint64_t learnt = kT + kRetry + 5;
  ASSERT_EQ(table.hear(a, etherAddr(kBackendMac), learnt, true, kRetry), NeighborTable::Heard::Solicited);
  EXPECT_FALSE(table.claimRequest(a, learnt + 1, kRetry, kRefresh));
  EXPECT_FALSE(table.claimRequest(a, learnt + kRefresh - 1, kRetry, kRefresh));
  EXPECT_TRUE(table.claimRequest(a, learnt + kRefresh, kRetry, kRefresh));
  EXPECT_FALSE(table.claimRequest(a, learnt + kRefresh + 1, kRetry, kRefresh));
  EXPECT_TRUE(table.lookup(a, mac)) << "a stale MAC stays usable while it is re-asked";
}

// The owner probe of an answered external IP asks once per refresh interval while nobody
// answers, not once per retry interval as for a backend.
TEST(NeighborTable, ProbeOfAnAnsweredAddressAsksOncePerRefresh) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kExternalInSubnet);
  EXPECT_TRUE(table.claimProbe(a, kT, kRetry, kRefresh)) << "at start";
  EXPECT_FALSE(table.claimProbe(a, kT + kRetry, kRetry, kRefresh));
  EXPECT_FALSE(table.claimProbe(a, kT + kRefresh - 1, kRetry, kRefresh));
  EXPECT_TRUE(table.claimProbe(a, kT + kRefresh, kRetry, kRefresh)) << "every refresh interval";
}

// dpdk.ports[].neighbors: a permanent entry is used at once, is never asked for, and no
// ARP (answer or gratuitous) changes it; expiry and eviction never take it.
TEST(NeighborTable, PermanentEntriesIgnoreArp) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kBackendIp);
  ASSERT_TRUE(table.addPermanent(a, etherAddr(kBackendMac)));
  rte_ether_addr mac{};
  ASSERT_TRUE(table.lookup(a, mac));
  EXPECT_TRUE(sameMac(mac, kBackendMac));
  EXPECT_TRUE(table.knownHost(a));
  EXPECT_TRUE(table.isPermanent(a));
  EXPECT_FALSE(table.claimRequest(a, kT, kRetry, kRefresh)) << "never asked for";
  EXPECT_FALSE(table.claimRequest(a, kT + 100 * kRefresh, kRetry, kRefresh)) << "never refreshed";
  EXPECT_EQ(table.hear(a, etherAddr(kBackend2Mac), kT, true, kRetry), NeighborTable::Heard::Permanent);
  EXPECT_EQ(table.hear(a, etherAddr(kBackend2Mac), kT, false, kRetry), NeighborTable::Heard::Permanent);
  EXPECT_FALSE(table.claimConfirmation(a, kT, kRetry));
  table.expire(kT + 100 * kExpire, kRefresh, kFail, kExpire, NeighborTable::kSlots);
  ASSERT_TRUE(table.lookup(a, mac));
  EXPECT_TRUE(sameMac(mac, kBackendMac)) << "ARP and expiry must not touch a permanent entry";
}

// Refresh, fail, expire: a resolved neighbour that stops answering becomes unresolved
// (refresh + fail without confirmation) but stays while it is wanted; one nobody wants
// or confirms for kExpire is freed, and its slot's generation changes.
TEST(NeighborTable, UnansweredEntriesTurnUnresolvedThenExpire) {
  NeighborTable table;
  resolve(table, kBackendIp, kBackendMac, kT);
  resolve(table, kBackend2Ip, kBackend2Mac, kT);
  NeighborTable::Ref before;
  rte_ether_addr mac{};
  ASSERT_TRUE(table.find(rte_cpu_to_be_32(kBackend2Ip), before, mac));

  uint64_t now = kT + kRefresh + kFail - 1;
  table.expire(now, kRefresh, kFail, kExpire, NeighborTable::kSlots);
  EXPECT_EQ(macIn(table, kBackendIp), kBackendMac) << "within refresh + fail";
  now += 1;
  table.expire(now, kRefresh, kFail, kExpire, NeighborTable::kSlots);
  EXPECT_EQ(macIn(table, kBackendIp), std::nullopt) << "no answer for refresh + fail: not used any more";
  EXPECT_EQ(table.unreachable(), 2u);
  EXPECT_EQ(table.size(), 2u) << "unresolved, not freed yet";
  EXPECT_TRUE(table.lookupSlot(before.slot, before.generation, mac) == false) << "flows see it unresolved";

  // kBackendIp is still wanted (the probe loop asks for it); kBackend2Ip is not.
  now = kT + kExpire - 10;
  table.claimRequest(rte_cpu_to_be_32(kBackendIp), now, kRetry, kRefresh);
  now = kT + kExpire;
  table.expire(now, kRefresh, kFail, kExpire, NeighborTable::kSlots);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.expired(), 1u);
  // The freed slot comes back with a new generation for whoever takes it next.
  const NeighborTable::Ref stale = before;
  bool reused = false;
  for (uint32_t i = 0; i < 20000 && !reused; ++i) {
    const uint32_t address = ipv4(10, 2, 0, 0) + i;
    resolve(table, address, macOf(i), now);
    NeighborTable::Ref ref;
    ASSERT_TRUE(table.find(rte_cpu_to_be_32(address), ref, mac));
    if (ref.slot != stale.slot) continue;
    reused = true;
    EXPECT_NE(ref.generation, stale.generation);
    EXPECT_FALSE(table.lookupSlot(stale.slot, stale.generation, mac)) << "the old tenure must not read the new MAC";
    EXPECT_TRUE(table.lookupSlot(ref.slot, ref.generation, mac));
    EXPECT_TRUE(sameMac(mac, macOf(i)));
  }
  EXPECT_TRUE(reused) << "the freed slot was never reused";
}

// Under pressure the least useful entry goes: unresolved before resolved; a permanent
// entry never, and the table never grows past its slots.
TEST(NeighborTable, EvictionTakesUnresolvedFirstAndNeverPermanent) {
  NeighborTable table;
  constexpr uint32_t kPermanent = 64;
  constexpr uint32_t kResolved = 64;
  for (uint32_t i = 0; i < kPermanent; ++i) {
    ASSERT_TRUE(table.addPermanent(rte_cpu_to_be_32(ipv4(10, 3, 0, 0) + i), etherAddr(macOf(i))));
  }
  for (uint32_t i = 0; i < kResolved; ++i) resolve(table, ipv4(10, 4, 0, 0) + i, macOf(1000 + i), kT);
  // Far more unresolved next hops than slots, each asked once and never answered.
  uint64_t now = kT;
  uint32_t refused = 0;
  for (uint32_t i = 0; i < 3 * NeighborTable::kSlots; ++i) {
    now += kRetry;  // the previous requests are past their retry window: evictable
    if (!table.claimRequest(rte_cpu_to_be_32(ipv4(10, 5, 0, 0) + i), now, kRetry, kRefresh)) ++refused;
  }
  EXPECT_EQ(refused, 0u);
  EXPECT_GT(table.evicted(), 0u);
  EXPECT_LE(table.size(), NeighborTable::kSlots);
  for (uint32_t i = 0; i < kPermanent; ++i) EXPECT_EQ(macIn(table, ipv4(10, 3, 0, 0) + i), macOf(i)) << i;
  for (uint32_t i = 0; i < kResolved; ++i) EXPECT_EQ(macIn(table, ipv4(10, 4, 0, 0) + i), macOf(1000 + i)) << i;
}

// A request still within its retry window may be answered any moment: a claim does not
// evict it (its answer would find no entry), it is refused and asks again later.
TEST(NeighborTable, EvictionSparesEntriesAwaitingAnAnswer) {
  NeighborTable table;
  uint32_t refused = 0;
  for (uint32_t i = 0; i < 2 * NeighborTable::kSlots; ++i) {
    if (!table.claimRequest(rte_cpu_to_be_32(ipv4(10, 7, 0, 0) + i), kT, kRetry, kRefresh)) ++refused;
  }
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(table.claimsRefused(), 1u) << "refusals are counted once per retry interval";
  EXPECT_EQ(table.evicted(), 0u);
  EXPECT_TRUE(table.claimRequest(rte_cpu_to_be_32(ipv4(10, 8, 0, 0)), kT + kRetry, kRetry, kRefresh))
      << "once the retry window is over, the next claim may evict";
  EXPECT_EQ(table.evicted(), 1u);
}

// Every candidate slot permanent: a claim is refused (counted) rather than evicting one.
TEST(NeighborTable, FullOfPermanentEntriesRefusesClaims) {
  NeighborTable table;
  uint32_t added = 0;
  for (uint32_t i = 0; added < NeighborTable::kSlots && i < 4 * NeighborTable::kSlots; ++i) {
    if (table.addPermanent(rte_cpu_to_be_32(ipv4(10, 6, 0, 0) + i), etherAddr(macOf(i)))) ++added;
  }
  EXPECT_EQ(table.size(), NeighborTable::kSlots);
  EXPECT_FALSE(table.claimRequest(rte_cpu_to_be_32(kBackendIp), kT, kRetry, kRefresh));
  EXPECT_EQ(table.claimsRefused(), 1u);
  EXPECT_EQ(table.evicted(), 0u);
}

// Several threads claim, answer, expire and evict at once while readers keep (slot,
// generation) like flows and read through it later: a reader must never get the MAC of
// another address. Each MAC encodes its address, so any mix-up shows. A stress test: it
// catches a missing generation bump within a few thousand reuses (see the report).
TEST(NeighborTable, ConcurrentReuseNeverShowsAnotherHostsMac) {
  NeighborTable table;
  constexpr uint32_t kAddresses = 6000;  // more than the slots: claims evict
  auto addressOf = [](uint32_t i) { return ipv4(10, 9, 0, 0) + i; };
  auto macFor = [](uint32_t address) {
    return Mac{0x02, 0x01, static_cast<uint8_t>(address >> 24), static_cast<uint8_t>(address >> 16),
               static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)};
  };
  std::atomic<uint64_t> clock{kT};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> wrong{0}, reads{0}, reused{0};

  auto writer = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    while (!stop.load(std::memory_order_relaxed)) {
      const uint32_t address = addressOf(rng() % kAddresses);
      const rte_be32_t a = rte_cpu_to_be_32(address);
      const uint64_t now = clock.fetch_add(kRetry, std::memory_order_relaxed);
      if (table.claimRequest(a, now, kRetry, kRefresh)) table.hear(a, etherAddr(macFor(address)), now, true, kRetry);
    }
  };
  auto expirer = [&] {
    while (!stop.load(std::memory_order_relaxed)) {
      table.expire(clock.load(std::memory_order_relaxed), kRefresh, kFail, 50 * kRetry, 256);
    }
  };
  auto reader = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    struct Cached {
      uint32_t address;
      NeighborTable::Ref ref;
    };
    std::vector<Cached> flows;
    rte_ether_addr mac;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint32_t address = addressOf(rng() % kAddresses);
      NeighborTable::Ref ref;
      if (table.find(rte_cpu_to_be_32(address), ref, mac)) {
        if (!sameMac(mac, macFor(address))) wrong.fetch_add(1);
        if (flows.size() < 4096) flows.push_back({address, ref});
      }
      for (size_t i = 0; i < flows.size(); i += 1 + rng() % 8) {
        reads.fetch_add(1, std::memory_order_relaxed);
        if (!table.lookupSlot(flows[i].ref.slot, flows[i].ref.generation, mac)) {
          reused.fetch_add(1, std::memory_order_relaxed);
          flows[i] = flows.back();  // back to the slow path: forget it
          flows.pop_back();
        } else if (!sameMac(mac, macFor(flows[i].address))) {
          wrong.fetch_add(1);
        }
      }
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(writer, 1);
  threads.emplace_back(writer, 2);
  threads.emplace_back(expirer);
  threads.emplace_back(reader, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0u) << "a reader saw another address's MAC";
  EXPECT_GT(reused.load(), 100u) << "the test did not make slots change hands";
  EXPECT_GT(table.evicted() + table.expired(), 100u);
  EXPECT_LE(table.size(), NeighborTable::kSlots);
}

FlowKey key(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  return FlowKey{rte_cpu_to_be_32(src), rte_cpu_to_be_32(dst), rte_cpu_to_be_16(sport), rte_cpu_to_be_16(dport),
                 IPPROTO_TCP, {0, 0, 0}};
}

FlowKey forwardKey(uint16_t clientPort) { return key(kClientIp, kWebVip, clientPort, 80); }
FlowKey reverseKey(uint16_t snatPort) { return key(kBackendIp, kPort0Ip, 8080, snatPort); }

TEST(FlowTable, InsertLookupBothDirectionsAndRemove) {
  FlowTable table(uniqueName("ft_unit"), 16, SOCKET_ID_ANY);
  const int64_t index = table.insert(forwardKey(40000), reverseKey(5000));
  ASSERT_GE(index, 0);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_TRUE(table.entry(static_cast<uint32_t>(index)).live);

  uint64_t value = 0;
  ASSERT_TRUE(table.lookup(forwardKey(40000), value));
  EXPECT_EQ(FlowTable::entryIndex(value), static_cast<uint32_t>(index));
  EXPECT_EQ(FlowTable::direction(value), FlowDirection::Forward);
  ASSERT_TRUE(table.lookup(reverseKey(5000), value));
  EXPECT_EQ(FlowTable::entryIndex(value), static_cast<uint32_t>(index));
  EXPECT_EQ(FlowTable::direction(value), FlowDirection::Reverse);
  EXPECT_FALSE(table.lookup(forwardKey(40001), value));
  EXPECT_FALSE(table.contains(reverseKey(5001)));

  const FlowKey k0 = forwardKey(40001), k1 = reverseKey(5000), k2 = forwardKey(40000);
  const FlowKey* keys[] = {&k0, &k1, &k2};
  uint64_t values[3] = {};
  EXPECT_EQ(table.lookupBulk(keys, 3, values), 0b110u);
  EXPECT_EQ(values[1], (static_cast<uint64_t>(index) << 1) | 1);
  EXPECT_EQ(values[2], static_cast<uint64_t>(index) << 1);

  table.remove(static_cast<uint32_t>(index));
  table.remove(static_cast<uint32_t>(index));  // twice is harmless
  EXPECT_EQ(table.size(), 0u);
  EXPECT_FALSE(table.contains(forwardKey(40000)));
  EXPECT_FALSE(table.contains(reverseKey(5000)));
}

TEST(FlowTable, FullTableRefusesThenRecovers) {
  FlowTable table(uniqueName("ft_full"), 4, SOCKET_ID_ANY);
  for (uint16_t i = 0; i < 4; ++i) ASSERT_GE(table.insert(forwardKey(40000 + i), reverseKey(5000 + i)), 0);
  EXPECT_EQ(table.insert(forwardKey(40010), reverseKey(5010)), -1);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_FALSE(table.contains(forwardKey(40010))) << "a refused insert leaves no key behind";
  uint64_t value = 0;
  ASSERT_TRUE(table.lookup(forwardKey(40002), value));
  table.remove(FlowTable::entryIndex(value));
  EXPECT_GE(table.insert(forwardKey(40010), reverseKey(5010)), 0);
}

TEST(FlowTable, ExpireRemovesOnlyExpiredEntries) {
  FlowTable table(uniqueName("ft_expire"), 64, SOCKET_ID_ANY);
  for (uint16_t i = 0; i < 10; ++i) {
    const int64_t index = table.insert(forwardKey(40000 + i), reverseKey(5000 + i));
    ASSERT_GE(index, 0);
    table.entry(static_cast<uint32_t>(index)).expiresAt = i < 4 ? 100 : 1000;
  }
  EXPECT_EQ(table.expire(99, 1000), 0u);
  EXPECT_EQ(table.expire(100, 1000), 4u);
  EXPECT_EQ(table.size(), 6u);
  EXPECT_FALSE(table.contains(forwardKey(40000)));
  EXPECT_TRUE(table.contains(forwardKey(40004)));
  EXPECT_TRUE(table.contains(reverseKey(5009)));
  // Budget: at most `budget` removals per call.
  EXPECT_EQ(table.expire(5000, 2), 2u);
  EXPECT_EQ(table.size(), 4u);
}

}  // namespace
}  // namespace nicproxy::testing
