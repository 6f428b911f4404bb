// NeighborTable and FlowTable on their own, without processBurst().
// Test addresses: neighbours 10.50.0.11, 10.50.0.12 and 10.1.x.y (bulk); flows between
// client 10.50.0.100:40000, VIP 10.96.0.10:80, backend 10.50.0.11:8080 and SNAT
// address 10.50.0.1.
#include <cstring>

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

TEST(NeighborTable, LearnLookupAndRefresh) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kBackendIp);
  rte_ether_addr mac{};
  EXPECT_FALSE(table.lookup(a, mac));
  EXPECT_FALSE(table.refresh(a, etherAddr(kBackendMac), kT)) << "refresh must not add an unknown neighbour";
  EXPECT_EQ(table.size(), 0u);

  ASSERT_TRUE(table.learn(a, etherAddr(kBackendMac), kT));
  ASSERT_TRUE(table.lookup(a, mac));
  EXPECT_TRUE(sameMac(mac, kBackendMac));
  EXPECT_FALSE(table.lookup(rte_cpu_to_be_32(kBackend2Ip), mac));

  ASSERT_TRUE(table.refresh(a, etherAddr(kBackend2Mac), kT + 1));
  ASSERT_TRUE(table.lookup(a, mac));
  EXPECT_TRUE(sameMac(mac, kBackend2Mac));
  EXPECT_EQ(table.size(), 1u);

  EXPECT_FALSE(table.learn(0, etherAddr(kBackendMac), kT)) << "0.0.0.0 is never a neighbour";
}

TEST(NeighborTable, ManyAddressesSurviveCollisions) {
  NeighborTable table;
  for (uint32_t i = 0; i < 2000; ++i) {
    Mac mac{0x02, 0, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
    ASSERT_TRUE(table.learn(rte_cpu_to_be_32(ipv4(10, 1, 0, 0) + i), etherAddr(mac), kT));
  }
  for (uint32_t i = 0; i < 2000; ++i) {
    rte_ether_addr mac{};
    ASSERT_TRUE(table.lookup(rte_cpu_to_be_32(ipv4(10, 1, 0, 0) + i), mac)) << i;
    EXPECT_TRUE(sameMac(mac, Mac{0x02, 0, 0, 0, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)})) << i;
  }
  EXPECT_EQ(table.size(), 2000u);
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
  const uint64_t learnt = kT + 500;
  ASSERT_TRUE(table.learn(a, etherAddr(kBackendMac), learnt));
  EXPECT_FALSE(table.claimRequest(a, learnt + 1, kRetry, kRefresh));
  EXPECT_FALSE(table.claimRequest(a, learnt + kRefresh - 1, kRetry, kRefresh));
  EXPECT_TRUE(table.claimRequest(a, learnt + kRefresh, kRetry, kRefresh));
  EXPECT_FALSE(table.claimRequest(a, learnt + kRefresh + 1, kRetry, kRefresh));
  EXPECT_TRUE(table.lookup(a, mac)) << "a stale MAC stays usable while it is re-asked";
}

// dpdk.ports[].neighbors: a permanent entry is used at once, is never asked for, and no
// ARP (learnt or gratuitous) changes it.
TEST(NeighborTable, PermanentEntriesIgnoreArp) {
  NeighborTable table;
  const rte_be32_t a = rte_cpu_to_be_32(kBackendIp);
  ASSERT_TRUE(table.addPermanent(a, etherAddr(kBackendMac)));
  rte_ether_addr mac{};
  ASSERT_TRUE(table.lookup(a, mac));
  EXPECT_TRUE(sameMac(mac, kBackendMac));
  EXPECT_FALSE(table.claimRequest(a, kT, kRetry, kRefresh)) << "never asked for";
  EXPECT_FALSE(table.claimRequest(a, kT + 100 * kRefresh, kRetry, kRefresh)) << "never refreshed";
  EXPECT_TRUE(table.learn(a, etherAddr(kBackend2Mac), kT));
  EXPECT_TRUE(table.refresh(a, etherAddr(kBackend2Mac), kT));
  ASSERT_TRUE(table.lookup(a, mac));
  EXPECT_TRUE(sameMac(mac, kBackendMac)) << "ARP must not move a permanent entry";
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
