// Tests: control/maglev (pure functions). Backend keys are made from addresses
// 10.244.0.1.. with port 8080, as the service table makes them.
//   MaglevTableSize.PrimeAtLeast100PerBackend   sizes are prime and >= 100 x backends
//   MaglevTableSize.KeepsSizeAcrossOneChange    hysteresis: one backend more or less keeps the size
//   Maglev.EqualWeightsShareWithinOnePercent    every backend's share within 1 % of 1/N
//   Maglev.WeightedShares                       weights 1:2:3 give shares within 1 % of 1/6, 2/6, 3/6
//   Maglev.PlainFillRemovalMovesAtMostTwoOverN  the plain fill (no previous table): the removed
//                                               backend's 1/N moves, and survivors' slots too; at
//                                               most 2/N in total (measured values are printed)
//   Maglev.AddingOneMovesAboutOneOverNPlusOne   plain fill: the new backend takes ~1/(N+1)
//   Maglev.Deterministic                        same input, same table; empty input, empty table
//   MaglevUpdate.RemovingOneOfNMovesOnlyItsSlots   update: exactly the removed backend's slots move
//                                               (no survivor's slot), shares stay within 1 %
//   MaglevUpdate.AddingOneMovesOnlyToTheNewBackend every moved slot goes to the new backend, about
//                                               1/(N+1) of them, shares within 1 %
//   MaglevUpdate.ReplacingOneMovesOnlyItsSlots  one out, one in: only the removed one's slots move
//   MaglevUpdate.WeightChangeMovesOnlyTheDifference weights honoured; slots move only from the
//                                               lighter-made backend, as many as its share dropped
//   MaglevUpdate.LongHistoryKeepsSharesAndBounds 300 seeded random adds/removes: each step within
//                                               the bounds, shares within one slot
//   MaglevUpdate.FallsBackToTheFreshBuild       no previous table or another size: maglevTable()
//   MaglevUpdate.Deterministic                  same input, same updated table
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

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

TEST(Maglev, PlainFillRemovalMovesAtMostTwoOverN) {
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
    std::printf("maglev plain fill: N=%u table %u: removing one moved %.2f%% of slots (1/N = %.2f%%)\n", n, size,
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

std::vector<uint64_t> keysOf(const std::vector<MaglevBackend>& b) {
  std::vector<uint64_t> keys;
  for (const MaglevBackend& x : b) keys.push_back(x.key);
  return keys;
}

/// Slot owners as keys, so tables over differently ordered backend lists compare.
std::vector<uint64_t> ownerKeys(const std::vector<uint32_t>& table, const std::vector<MaglevBackend>& b) {
  std::vector<uint64_t> owners;
  for (uint32_t index : table) owners.push_back(b.at(index).key);
  return owners;
}

/// Every backend holds floor or ceil of its exact weighted share (with at least 100 slots
/// per unit of weight that is within 1 % of the share).
void expectExactShares(const std::vector<uint32_t>& table, const std::vector<MaglevBackend>& b) {
  uint64_t total = 0;
  for (const MaglevBackend& x : b) total += x.weight;
  std::vector<uint64_t> count(b.size(), 0);
  for (uint32_t index : table) ++count.at(index);
  for (size_t i = 0; i < b.size(); ++i) {
    const double exact = static_cast<double>(table.size()) * b[i].weight / static_cast<double>(total);
    EXPECT_LT(std::abs(static_cast<double>(count[i]) - exact), 1.0) << "backend " << i << " of " << b.size();
    EXPECT_NEAR(static_cast<double>(count[i]) / table.size(), b[i].weight / static_cast<double>(total),
                0.01 * b[i].weight / static_cast<double>(total));
  }
}

struct Moves {
  size_t moved = 0;            // slots whose owner changed
  size_t fromSurvivors = 0;    // ... and whose former owner is still there
  size_t toOthers = 0;         // ... and whose new owner is not `newcomer`
};

Moves compare(const std::vector<uint64_t>& before, const std::vector<uint64_t>& after,
              const std::vector<MaglevBackend>& survivors, uint64_t newcomer = 0) {
  Moves m;
  for (size_t slot = 0; slot < before.size(); ++slot) {
    if (before[slot] == after[slot]) continue;
    ++m.moved;
    for (const MaglevBackend& s : survivors) m.fromSurvivors += s.key == before[slot] ? 1 : 0;
    m.toOthers += after[slot] != newcomer ? 1 : 0;
  }
  return m;
}

TEST(MaglevUpdate, RemovingOneOfNMovesOnlyItsSlots) {
  for (uint32_t n : {2u, 3u, 5u, 10u, 20u, 50u, 100u, 300u}) {
    SCOPED_TRACE(n);
    const uint32_t size = maglevTableSize(n);
    const auto all = backends(n);
    const auto before = ownerKeys(maglevTable(all, size), all);
    std::vector<MaglevBackend> rest = all;
    const uint64_t removedKey = all[n / 2].key;
    rest.erase(rest.begin() + n / 2);
    ASSERT_EQ(maglevTableSize(n - 1, size), size);
    const auto table = maglevTableFrom(rest, size, keysOf(all), maglevTable(all, size));
    ASSERT_EQ(table.size(), size);
    const auto after = ownerKeys(table, rest);
    const size_t held = static_cast<size_t>(std::count(before.begin(), before.end(), removedKey));
    const Moves m = compare(before, after, rest);
    std::printf("maglev update: N=%u table %u: removing one moved %.2f%% of slots (1/N = %.2f%%)\n", n, size,
                100.0 * static_cast<double>(m.moved) / size, 100.0 / n);
    EXPECT_EQ(m.fromSurvivors, 0u) << "a survivor's slot moved";
    EXPECT_EQ(m.moved, held) << "exactly the removed backend's slots move";
    expectExactShares(table, rest);
  }
}

TEST(MaglevUpdate, AddingOneMovesOnlyToTheNewBackend) {
  for (uint32_t n : {1u, 2u, 5u, 10u, 30u, 100u}) {
    SCOPED_TRACE(n);
    const uint32_t size = maglevTableSize(n + 1);
    const auto old = backends(n);
    const auto grown = backends(n + 1);
    const uint64_t newcomer = grown.back().key;
    const auto first = maglevTable(old, size);
    const auto table = maglevTableFrom(grown, size, keysOf(old), first);
    const Moves m = compare(ownerKeys(first, old), ownerKeys(table, grown), old, newcomer);
    EXPECT_EQ(m.toOthers, 0u) << "a slot moved between two old backends";
    EXPECT_EQ(m.moved, static_cast<size_t>(std::count(table.begin(), table.end(), n)));
    EXPECT_LE(static_cast<double>(m.moved), std::ceil(static_cast<double>(size) / (n + 1)));
    EXPECT_GE(static_cast<double>(m.moved), std::floor(static_cast<double>(size) / (n + 1)));
    expectExactShares(table, grown);
  }
}

TEST(MaglevUpdate, ReplacingOneMovesOnlyItsSlots) {
  const uint32_t n = 10;
  const uint32_t size = maglevTableSize(n);
  const auto old = backends(n);
  std::vector<MaglevBackend> next = old;
  next[3] = MaglevBackend{keyOf(500), 1};
  const auto first = maglevTable(old, size);
  const auto table = maglevTableFrom(next, size, keysOf(old), first);
  const auto before = ownerKeys(first, old);
  const auto after = ownerKeys(table, next);
  for (size_t slot = 0; slot < size; ++slot) {
    if (before[slot] != old[3].key) {
      EXPECT_EQ(after[slot], before[slot]) << "slot " << slot << " of a kept backend moved";
    } else {
      EXPECT_EQ(after[slot], keyOf(500)) << "slot " << slot;
    }
  }
  expectExactShares(table, next);
}

TEST(MaglevUpdate, WeightChangeMovesOnlyTheDifference) {
  std::vector<MaglevBackend> b = backends(3);
  b[0].weight = 1;
  b[1].weight = 2;
  b[2].weight = 3;
  const uint32_t size = maglevTableSize(6);
  const auto first = maglevTable(b, size);
  std::vector<MaglevBackend> lighter = b;
  lighter[1].weight = 1;  // 1:1:3
  const auto table = maglevTableFrom(lighter, size, keysOf(b), first);
  expectExactShares(table, lighter);
  const auto before = std::vector<uint32_t>(first);
  size_t moved = 0;
  for (size_t slot = 0; slot < size; ++slot) {
    if (before[slot] == table[slot]) continue;
    ++moved;
    EXPECT_EQ(before[slot], 1u) << "only the backend made lighter gives slots up (slot " << slot << ")";
  }
  const auto countOf = [](const std::vector<uint32_t>& t, uint32_t i) {
    return static_cast<size_t>(std::count(t.begin(), t.end(), i));
  };
  EXPECT_EQ(moved, countOf(first, 1) - countOf(table, 1));
  // Weight 0 frees the backend's slots like a removal.
  std::vector<MaglevBackend> drained = lighter;
  drained[0].weight = 0;
  const auto without = maglevTableFrom(drained, size, keysOf(lighter), table);
  EXPECT_EQ(countOf(without, 0), 0u);
  for (size_t slot = 0; slot < size; ++slot) {
    if (table[slot] != 0) {
      EXPECT_EQ(without[slot], table[slot]) << "slot " << slot;
    }
  }
  expectExactShares(without, drained);
}

TEST(MaglevUpdate, LongHistoryKeepsSharesAndBounds) {
  std::mt19937 random(12345);  // seeded: the same history every run
  std::vector<MaglevBackend> current = backends(8);
  uint32_t size = maglevTableSize(8);
  std::vector<uint32_t> table = maglevTable(current, size);
  uint32_t nextId = 100;
  size_t updates = 0;
  for (int step = 0; step < 300; ++step) {
    SCOPED_TRACE(step);
    std::vector<MaglevBackend> next = current;
    const bool add = next.size() <= 2 || (next.size() < 20 && random() % 2 == 0);
    uint64_t removed = 0;
    if (add) {
      next.push_back(MaglevBackend{keyOf(nextId++), 1});
    } else {
      const size_t at = random() % next.size();
      removed = next[at].key;
      next.erase(next.begin() + static_cast<std::ptrdiff_t>(at));
    }
    const uint32_t nextSize = maglevTableSize(static_cast<uint32_t>(next.size()), size);
    const auto updated = maglevTableFrom(next, nextSize, keysOf(current), table);
    ASSERT_EQ(updated.size(), nextSize);
    expectExactShares(updated, next);
    if (nextSize == size) {
      ++updates;
      const Moves m = compare(ownerKeys(table, current), ownerKeys(updated, next), add ? current : next,
                              add ? next.back().key : 0);
      if (add) {
        EXPECT_EQ(m.toOthers, 0u);
      } else {
        EXPECT_EQ(m.fromSurvivors, 0u);
        EXPECT_EQ(m.moved, static_cast<size_t>(std::count(table.begin(), table.end(),
                                                          std::find_if(current.begin(), current.end(),
                                                                       [&](const MaglevBackend& x) {
                                                                         return x.key == removed;
                                                                       }) - current.begin())));
      }
    }
    current = next;
    size = nextSize;
    table = updated;
  }
  EXPECT_GT(updates, 200u) << "most steps keep the size and so update rather than rebuild";
  // How far the history took this table from a fresh build of the same set.
  const auto fresh = maglevTable(current, size);
  size_t differ = 0;
  for (size_t slot = 0; slot < size; ++slot) differ += fresh[slot] != table[slot];
  std::printf("maglev update: after 300 changes, %.1f%% of slots differ from a fresh build of the same %zu backends\n",
              100.0 * static_cast<double>(differ) / size, current.size());
}

TEST(MaglevUpdate, FallsBackToTheFreshBuild) {
  const auto b = backends(5);
  const uint32_t size = maglevTableSize(5);
  EXPECT_EQ(maglevTableFrom(b, size, {}, {}), maglevTable(b, size));
  const auto other = maglevTable(backends(5), maglevTableSize(50));
  EXPECT_EQ(maglevTableFrom(b, size, keysOf(b), other), maglevTable(b, size));
  EXPECT_TRUE(maglevTableFrom({MaglevBackend{keyOf(1), 0}}, size, keysOf(b), maglevTable(b, size)).empty());
}

TEST(MaglevUpdate, Deterministic) {
  const auto old = backends(9);
  const uint32_t size = maglevTableSize(10);
  const auto first = maglevTable(old, size);
  const auto grown = backends(10);
  EXPECT_EQ(maglevTableFrom(grown, size, keysOf(old), first), maglevTableFrom(grown, size, keysOf(old), first));
}

}  // namespace
}  // namespace nicproxy
