#include "control/maglev.hpp"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace nicproxy {

namespace {

constexpr uint32_t kMinTableSize = 101;
constexpr uint32_t kSlotsPerBackend = 100;
constexpr uint32_t kKeepFactor = 4;
constexpr uint32_t kEmpty = std::numeric_limits<uint32_t>::max();

/// splitmix64's finaliser: a good 64-bit mix, so nearby keys (consecutive addresses)
/// get unrelated offsets and skips.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

/// A backend's Maglev permutation of the slots: offset + j * skip (mod size), a full cycle
/// because the size is prime. It depends only on the backend's key and the size.
struct Permutation {
  Permutation(uint64_t key, uint32_t tableSize)
      : offset(static_cast<uint32_t>(mix(key) % tableSize)),
        skip(static_cast<uint32_t>(mix(key ^ 0x5bd1e9955bd1e995ull) % (tableSize - 1)) + 1),
        size(tableSize) {}
  uint32_t offset;
  uint32_t skip;
  uint32_t size;
};

/// Walks a Permutation in order. Stepping by an addition and one conditional subtraction
/// instead of a 64-bit modulo per probe makes a fill (about M ln M probes) several
/// times faster.
struct PermutationWalk {
  explicit PermutationWalk(const Permutation& p) : position(p.offset), skip(p.skip), size(p.size) {}
  /// The permutation's next slot (the first call gives its offset).
  uint32_t next() {
    const uint32_t slot = position;
    const uint32_t room = size - position;  // skip < size, so one subtraction suffices
    position = skip >= room ? skip - room : position + skip;
    ++taken;
    return slot;
  }
  uint32_t position;
  uint32_t skip;
  uint32_t size;
  uint32_t taken = 0;  // slots given so far; a full cycle is `size`
};

uint32_t nextPrime(uint32_t n) {
  while (!isPrime(n)) ++n;
  return n;
}

}  // namespace

bool isPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint32_t d = 3; static_cast<uint64_t>(d) * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

uint32_t maglevTableSize(uint32_t backends, uint32_t previousSize) {
  const uint64_t wanted = std::max<uint64_t>(kMinTableSize, uint64_t{kSlotsPerBackend} * backends);
  if (previousSize >= wanted && previousSize <= wanted * kKeepFactor && isPrime(previousSize)) {
    return previousSize;
  }
  // Round up to a coarse ladder (the next power of two's neighbourhood) so that sizes
  // are few and a table grown by one backend usually fits the same prime.
  uint64_t rung = kMinTableSize - 1;
  while (rung < wanted) rung *= 2;
  return nextPrime(static_cast<uint32_t>(std::min<uint64_t>(rung, std::numeric_limits<uint32_t>::max() / 2)));
}

std::vector<uint32_t> maglevTable(const std::vector<MaglevBackend>& backends, uint32_t tableSize) {
  uint32_t maxWeight = 0;
  for (const MaglevBackend& b : backends) maxWeight = std::max(maxWeight, b.weight);
  if (maxWeight == 0 || tableSize < 2) return {};

  const size_t n = backends.size();
  std::vector<PermutationWalk> walk;
  walk.reserve(n);
  for (const MaglevBackend& b : backends) walk.emplace_back(Permutation(b.key, tableSize));
  std::vector<uint64_t> credit(n, 0);      // accumulated weight (Katran's cumulative weight)

  std::vector<uint32_t> table(tableSize, kEmpty);
  uint32_t filled = 0;
  while (filled < tableSize) {
    for (size_t i = 0; i < n && filled < tableSize; ++i) {
      credit[i] += backends[i].weight;
      // A backend places one slot per maxWeight of credit: the heaviest one every round,
      // a backend of half the weight every other round.
      while (credit[i] >= maxWeight && filled < tableSize) {
        credit[i] -= maxWeight;
        // Walk this backend's permutation to its next empty slot.
        uint32_t slot = walk[i].next();
        while (table[slot] != kEmpty) slot = walk[i].next();
        table[slot] = static_cast<uint32_t>(i);
        ++filled;
      }
    }
  }
  return table;
}

std::vector<uint32_t> maglevTableFrom(const std::vector<MaglevBackend>& backends, uint32_t tableSize,
                                      const std::vector<uint64_t>& previousKeys,
                                      const std::vector<uint32_t>& previousTable) {
  if (previousTable.empty() || previousTable.size() != tableSize || tableSize < 2) {
    return maglevTable(backends, tableSize);
  }
  const size_t n = backends.size();
  uint64_t totalWeight = 0;
  uint32_t maxWeight = 0;
  for (const MaglevBackend& b : backends) {
    totalWeight += b.weight;
    maxWeight = std::max(maxWeight, b.weight);
  }
  if (maxWeight == 0) return {};

  // Each backend's exact share is tableSize * weight / totalWeight slots; it ends with
  // floor (low) or ceil (high) of it.
  std::vector<uint32_t> low(n);
  std::vector<uint32_t> high(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t scaled = uint64_t{tableSize} * backends[i].weight;
    low[i] = static_cast<uint32_t>(scaled / totalWeight);
    high[i] = low[i] + (scaled % totalWeight != 0 ? 1 : 0);
  }

  // Keep every slot whose backend is still there with a positive weight.
  std::unordered_map<uint64_t, uint32_t> indexOfKey;
  for (size_t i = 0; i < n; ++i) {
    if (backends[i].weight > 0) indexOfKey.emplace(backends[i].key, static_cast<uint32_t>(i));
  }
  std::vector<uint32_t> carried(previousKeys.size(), kEmpty);
  for (size_t p = 0; p < previousKeys.size(); ++p) {
    if (const auto it = indexOfKey.find(previousKeys[p]); it != indexOfKey.end()) carried[p] = it->second;
  }
  std::vector<uint32_t> table(tableSize, kEmpty);
  std::vector<uint32_t> count(n, 0);
  uint32_t freeSlots = 0;
  for (uint32_t slot = 0; slot < tableSize; ++slot) {
    const uint32_t was = previousTable[slot];
    const uint32_t now = was < carried.size() ? carried[was] : kEmpty;
    table[slot] = now;
    if (now == kEmpty) {
      ++freeSlots;
    } else {
      ++count[now];
    }
  }

  std::vector<Permutation> permutation;
  permutation.reserve(n);
  for (const MaglevBackend& b : backends) permutation.emplace_back(b.key, tableSize);

  // One pass: backends below `goal` take, in weighted rounds as in the plain fill, the
  // next slot along their own permutation that is free or whose owner holds more than
  // `spare` slots. A backend stops taking at its goal, so no taker ever becomes a giver:
  // a slot passed over stays ineligible for the rest of the pass, and one walk through
  // the permutation per pass is enough.
  auto pass = [&](const std::vector<uint32_t>& goal, const std::vector<uint32_t>& spare) {
    std::vector<PermutationWalk> walk;  // each pass walks the permutations from their start
    walk.reserve(n);
    for (const Permutation& p : permutation) walk.emplace_back(p);
    std::vector<uint64_t> credit(n, 0);
    for (bool progress = true; progress;) {
      progress = false;
      for (size_t i = 0; i < n; ++i) {
        credit[i] += backends[i].weight;
        while (credit[i] >= maxWeight) {
          credit[i] -= maxWeight;
          if (count[i] >= goal[i]) break;
          while (walk[i].taken < tableSize) {
            const uint32_t slot = walk[i].next();
            const uint32_t owner = table[slot];
            if (owner == kEmpty) {
              --freeSlots;
            } else if (owner != i && count[owner] > spare[owner]) {
              --count[owner];
            } else {
              continue;
            }
            table[slot] = static_cast<uint32_t>(i);
            ++count[i];
            progress = true;
            break;
          }
        }
      }
    }
  };
  // 1. Up to the low share: free slots and slots of backends above their high share,
  //    whichever comes first along the taker's permutation (after a removal only free
  //    slots exist to take; after an addition only surplus ones).
  pass(low, high);
  // 2. Still below the low share (an added backend when the others' surplus above their
  //    high share is not enough): slots of backends holding more than their low share.
  pass(low, low);
  // 3. Slots still free, or still above a high share, go to backends below their high share.
  pass(high, high);

  // The passes cannot leave a slot free (the shares add up to at least the table size),
  // but a table with a hole must never reach the data path.
  if (freeSlots != 0) return maglevTable(backends, tableSize);
  return table;
}

}  // namespace nicproxy
