#pragma once
// Maglev consistent hashing (Eisenbud et al., NSDI 2016) as pure functions, weighted the
// way Katran's MaglevHashV2 does it. The data path indexes a service port's table with a
// hash of the flow (or of the client address for ClientIP affinity) and gets a backend.
//
// Stability: a backend's place in the permutation depends only on its own key, never on
// the other backends, so removing one of N backends moves the slots that backend held
// plus a small number of others (about 1/N of all slots in total). That only holds when
// the table size stays the same across the change, hence maglevTableSize()'s hysteresis.
#include <cstdint>
#include <vector>

namespace nicproxy {

struct MaglevBackend {
  uint64_t key = 0;     // stable identity (address and port); decides the permutation
  uint32_t weight = 1;  // relative share; 0 takes no slots
};

/// The table size for `backends` backends: a prime of at least 100 x backends. When
/// `previousSize` (0: none) is a prime that is still at least 100 x backends and not
/// more than 4 x the minimum, it is kept, so that adding or removing one backend keeps
/// the table size and with it Maglev's small disruption.
uint32_t maglevTableSize(uint32_t backends, uint32_t previousSize = 0);

/// The lookup table: slot -> index into `backends`. Empty when no backend has a
/// positive weight. Deterministic: the same input gives the same table.
/// Each backend gets a share of the slots proportional to its weight (within one slot
/// per round of the fill for equal weights).
std::vector<uint32_t> maglevTable(const std::vector<MaglevBackend>& backends, uint32_t tableSize);

/// True when n is prime (trial division; n is at most a few million here).
bool isPrime(uint32_t n);

}  // namespace nicproxy
