#include "control/maglev.hpp"

#include <algorithm>
#include <limits>

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
  // Each backend walks its permutation offset, offset + skip, offset + 2 skip, ... (mod
  // the size; a full cycle because the size is prime). `position` is where it stands:
  // stepping by an addition and one conditional subtraction instead of a 64-bit
  // modulo per probe makes the fill (about M ln M probes) some ten times faster.
  std::vector<uint32_t> position(n);
  std::vector<uint32_t> skip(n);
  std::vector<uint64_t> credit(n, 0);      // accumulated weight (Katran's cumulative weight)
  for (size_t i = 0; i < n; ++i) {
    position[i] = static_cast<uint32_t>(mix(backends[i].key) % tableSize);
    skip[i] = static_cast<uint32_t>(mix(backends[i].key ^ 0x5bd1e9955bd1e995ull) % (tableSize - 1)) + 1;
  }
  auto step = [&](size_t i) {
    const uint32_t room = tableSize - position[i];  // skip < tableSize, so one subtraction suffices
    position[i] = skip[i] >= room ? skip[i] - room : position[i] + skip[i];
  };

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
        while (table[position[i]] != kEmpty) step(i);
        table[position[i]] = static_cast<uint32_t>(i);
        step(i);
        ++filled;
      }
    }
  }
  return table;
}

}  // namespace nicproxy
