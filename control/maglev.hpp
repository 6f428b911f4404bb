#pragma once
// Maglev consistent hashing (Eisenbud et al., NSDI 2016) as pure functions, weighted the
// way Katran's MaglevHashV2 does it. The data path indexes a service port's table with a
// hash of the flow (or of the client address for ClientIP affinity) and gets a backend.
//
// Two builds:
// - maglevTable(): the plain Maglev fill. Its output depends only on the current backends
//   and the table size. Removing one of N backends moves that backend's slots plus a
//   share of the survivors' slots (about 2/N of all slots in total at 100 slots per
//   backend: the paper's Figure 11).
// - maglevTableFrom(): the update of a previous table, used whenever the same port had a
//   table of the same size before. Every slot whose backend is still there keeps it; the
//   slots of removed backends go to the survivors, each taking them in the order of its
//   own Maglev permutation until it holds its weighted share; a new (or heavier) backend
//   takes slots, again in its permutation's order, only from backends above their share.
//   So removing one of N backends moves exactly its 1/N and nothing else, and adding one
//   moves about 1/(N+1), all of it to the new backend.
//
// The price: an updated table depends on history (the tables before it), not only on the
// current set of backends. Two nodes that saw different sequences of changes, or a node
// before and after a restart (which builds fresh), can map the same new flow to different
// backends (after 300 random adds and removes in the unit test, 30 % of the slots
// differed from a fresh build of the same set). For nicproxy that is acceptable:
// - a connection is pinned to its backend by the per-worker flow table from its first
//   packet; the table is only consulted for new connections;
// - nodes never need to agree on a flow: with FullNAT the backend replies to the SNAT
//   address of the node that took the connection, and a connection that ECMP moves to
//   another node could not go on there anyway (no flow state, and a non-SYN packet
//   without a flow is dropped), whatever that node's table says;
// - a restart loses the flow table too, so a fresh, deterministic table then is no loss.
// What must hold within one node is that all workers use the same table, and they do:
// there is one table per port, published to all workers at once. ClientIP affinity
// records are shared by the workers and do not depend on the table.
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
/// the table size, and the table can be updated instead of rebuilt.
uint32_t maglevTableSize(uint32_t backends, uint32_t previousSize = 0);

/// The plain Maglev table: slot -> index into `backends`. Empty when no backend has a
/// positive weight. Deterministic: the same input gives the same table.
/// Each backend gets a share of the slots proportional to its weight (within one slot
/// per round of the fill for equal weights).
std::vector<uint32_t> maglevTable(const std::vector<MaglevBackend>& backends, uint32_t tableSize);

/// The table for `backends`, updated from `previousTable` (slot -> index into
/// `previousKeys`) with as few slots changing owner as the weighted shares allow (see the
/// top of this file). Every backend ends within one slot of its exact weighted share.
/// Falls back to maglevTable() when there is no previous table or its size differs from
/// `tableSize`. Deterministic for the same arguments.
std::vector<uint32_t> maglevTableFrom(const std::vector<MaglevBackend>& backends, uint32_t tableSize,
                                      const std::vector<uint64_t>& previousKeys,
                                      const std::vector<uint32_t>& previousTable);

/// True when n is prime (trial division; n is at most a few million here).
bool isPrime(uint32_t n);

}  // namespace nicproxy
