// Tests: control/maglev (pure functions). Backend keys are made from addresses
// 10.244.0.1.. with port 8080, as the service table makes them.
//   MaglevTableSize.PrimeAtLeast100PerBackend   sizes are prime and >= 100 x backends
//   MaglevTableSize.KeepsSizeAcrossOneChange    hysteresis: one backend more or less keeps the size
//   Maglev.EqualWeightsShareWithinOnePercent    every backend's share within 1 % of 1/N
//   Maglev.WeightedShares                       weights 1:2:3 give shares within 1 % of 1/6, 2/6, 3/6
//   Maglev.RemovingOneOfNRemapsAboutOneOverN    the removed backend's 1/N moves; in total at most 2/N
//                                               (Maglev moves a few survivors' slots too; measured
//                                               values are printed)
//   Maglev.AddingOneMovesAboutOneOverNPlusOne   the new backend takes ~1/(N+1), others keep the rest
//   Maglev.Deterministic                        same input, same table; empty input, empty table
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "control/maglev.hpp"

namespace nicproxy {
namespace {

uint64_t keyOf(uint32_t i) { return (uint64_t{0x0af40000u + i} << 16) | 8080; }

std::vector<MaglevBackend> backends(uint32_t n, uint32_t first = 1) {
  std::vector<MaglevBackend> result;
  for (uint32_t i = first; i < first + n; ++i) result.push_back(MaglevBackend{keyOf(i), 1});
  return result;
}

std::vector<double> shares(const std::vector<uint32_t>& table, size_t n) {
  std::vector<double> counts(n, 0);
  for (uint32_t slot : table) counts.at(slot) += 1;
  for (double& c : counts) c /= static_cast<double>(table.size());
  return counts;
}

TEST(MaglevTableSize, PrimeAtLeast100PerBackend) {
  for (uint32_t n : {0u, 1u, 2u, 3u, 10u, 17u, 100u, 1000u}) {
    const uint32_t size = maglevTableSize(n);
    SCOPED_TRACE(n);
    EXPECT_TRUE(isPrime(size));
    EXPECT_GE(size, 100 * n);
    EXPECT_LE(size, 2 * std::max(101u, 100 * n) + 200);  // not wastefully large
  }
}

TEST(MaglevTableSize, KeepsSizeAcrossOneChange) {
  for (uint32_t n : {2u, 5u, 10u, 16u, 50u}) {
    SCOPED_TRACE(n);
    const uint32_t size = maglevTableSize(n);
    EXPECT_EQ(maglevTableSize(n - 1, size), size);
    if (size >= 100 * (n + 1)) {
      EXPECT_EQ(maglevTableSize(n + 1, size), size);
    }
    // Far too large after a big shrink: a fresh size.
    EXPECT_LT(maglevTableSize(1, maglevTableSize(100 * n)), maglevTableSize(100 * n));
  }
}

TEST(Maglev, EqualWeightsShareWithinOnePercent) {
  for (uint32_t n : {1u, 2u, 3u, 7u, 10u, 33u, 100u}) {
    SCOPED_TRACE(n);
    const auto table = maglevTable(backends(n), maglevTableSize(n));
    ASSERT_EQ(table.size(), maglevTableSize(n));
    for (double share : shares(table, n)) EXPECT_NEAR(share, 1.0 / n, 0.01 / n);
  }
}

TEST(Maglev, WeightedShares) {
  std::vector<MaglevBackend> b = backends(3);
  b[0].weight = 1;
  b[1].weight = 2;
  b[2].weight = 3;
  const auto table = maglevTable(b, maglevTableSize(6));
  const auto s = shares(table, 3);
  EXPECT_NEAR(s[0], 1.0 / 6, 0.01);
  EXPECT_NEAR(s[1], 2.0 / 6, 0.01);
  EXPECT_NEAR(s[2], 3.0 / 6, 0.01);
  b[1].weight = 0;
  const auto withoutSecond = maglevTable(b, maglevTableSize(6));
  EXPECT_EQ(shares(withoutSecond, 3)[1], 0.0);
}

TEST(Maglev, RemovingOneOfNRemapsAboutOneOverN) {
  for (uint32_t n : {3u, 5u, 10u, 20u, 50u}) {
    SCOPED_TRACE(n);
    const uint32_t size = maglevTableSize(n);
    const auto all = backends(n);
    const auto before = maglevTable(all, size);
    const uint32_t removed = n / 2;
    std::vector<MaglevBackend> rest = all;
    rest.erase(rest.begin() + removed);
    const uint32_t sizeAfter = maglevTableSize(n - 1, size);
    ASSERT_EQ(sizeAfter, size);
    const auto after = maglevTable(rest, sizeAfter);
    size_t moved = 0;
    size_t survivorsMoved = 0;
    for (uint32_t slot = 0; slot < size; ++slot) {
      const uint64_t was = all[before[slot]].key;
      const uint64_t is = rest[after[slot]].key;
      if (was != is) {
        ++moved;
        if (before[slot] != removed) ++survivorsMoved;
      }
    }
    const double movedShare = static_cast<double>(moved) / size;
    // The removed backend's slots (1/N) must move; Maglev moves some survivors' slots
    // too (the paper's Figure 11), fewer the larger the table is per backend.
    std::printf("maglev: N=%u table %u: removing one moved %.2f%% of slots (1/N = %.2f%%)\n", n, size,
                100 * movedShare, 100.0 / n);
    EXPECT_GE(movedShare, 0.99 / n);
    EXPECT_LE(movedShare, 2.0 / n) << "survivors' slots moved: " << survivorsMoved;
  }
}

TEST(Maglev, AddingOneMovesAboutOneOverNPlusOne) {
  const uint32_t n = 10;
  const uint32_t size = maglevTableSize(n + 1);
  const auto before = maglevTable(backends(n), size);
  const auto grown = backends(n + 1);
  const auto after = maglevTable(grown, size);
  size_t moved = 0;
  for (uint32_t slot = 0; slot < size; ++slot) moved += before[slot] != after[slot];
  const double movedShare = static_cast<double>(moved) / size;
  EXPECT_GE(movedShare, 0.99 / (n + 1));
  EXPECT_LE(movedShare, 1.25 / (n + 1));
}

TEST(Maglev, Deterministic) {
  EXPECT_EQ(maglevTable(backends(7), 701), maglevTable(backends(7), 701));
  EXPECT_TRUE(maglevTable({}, 701).empty());
  EXPECT_TRUE(maglevTable({MaglevBackend{keyOf(1), 0}}, 701).empty());
}

}  // namespace
}  // namespace nicproxy
