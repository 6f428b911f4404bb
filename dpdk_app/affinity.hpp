#pragma once
// sessionAffinity: ClientIP, shared by every worker.
//
// One table for all workers, so that a client reaches the same endpoint whichever
// worker RSS hands its next connection to, and the timeout counts from its last new
// connection on any worker (kube-proxy's "recent --set").
//
// Concurrency: a direct-mapped array of slots, each guarded by its own sequence
// counter (a seqlock that writers only ever *try*):
//  - a writer (any worker, on a new connection) reads the counter; if it is odd or the
//    compare-and-swap to odd fails, another worker is writing that slot right now and
//    this one skips the update (the record is a cache, see below). Otherwise it
//    writes the record words (relaxed atomics) after a release fence and publishes
//    with a release store of the counter + 2. Nobody ever waits.
//  - a reader loads the counter (acquire), the words (relaxed), fences (acquire) and
//    re-reads the counter; an odd or changed counter counts as "no record".
// (Boehm, "Can Seqlocks Get Along With Programming Language Memory Models?", 2012.)
//
// What keeps this correct when a record is missing (a collision overwrote it, or a
// write was skipped): a client without a record is sent to maglev[hash(client)] of
// the service port, a pure function of the published table, so every worker makes
// the same choice; the record matters only to keep a client on its endpoint across an
// endpoint-set change until the timeout passes.
#include <atomic>
#include <cstdint>

#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

namespace nicproxy {

struct AffinityRecord {
  rte_be32_t backendAddress = 0;
  rte_be16_t backendPort = 0;
};

class AffinityTable {
 public:
  static constexpr uint32_t kSlots = 1u << 18;  // power of two; 8 MiB

  explicit AffinityTable(int socket)
      : slots_(static_cast<Slot*>(rte_zmalloc_socket("affinity", sizeof(Slot) * kSlots, 64, socket))) {}
  ~AffinityTable() { rte_free(slots_); }
  AffinityTable(const AffinityTable&) = delete;
  AffinityTable& operator=(const AffinityTable&) = delete;
  bool ok() const { return slots_ != nullptr; }

  /// The live record for (client, service): true and `out` filled, else false.
  bool find(rte_be32_t client, uint32_t serviceId, uint64_t now, AffinityRecord& out) const {
    const Slot& s = slots_[slot(client, serviceId)];
    const uint64_t before = s.sequence.load(std::memory_order_acquire);
    if (before & 1) return false;
    const uint64_t key = s.key.load(std::memory_order_relaxed);
    const uint64_t backend = s.backend.load(std::memory_order_relaxed);
    const uint64_t expiresAt = s.expiresAt.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (s.sequence.load(std::memory_order_relaxed) != before) return false;
    if (key != keyOf(client, serviceId) || expiresAt <= now) return false;
    out.backendAddress = static_cast<rte_be32_t>(backend >> 16);
    out.backendPort = static_cast<rte_be16_t>(backend & 0xffff);
    return true;
  }

  /// Records (or refreshes) the client's endpoint; skipped when another worker is
  /// writing the same slot at this moment.
  void remember(rte_be32_t client, uint32_t serviceId, rte_be32_t address, rte_be16_t port, uint64_t expiresAt) {
    Slot& s = slots_[slot(client, serviceId)];
    uint64_t sequence = s.sequence.load(std::memory_order_relaxed);
    if ((sequence & 1) || !s.sequence.compare_exchange_strong(sequence, sequence + 1, std::memory_order_relaxed)) {
      return;
    }
    // The odd counter is visible before any of the new words (readers then retry or miss).
    std::atomic_thread_fence(std::memory_order_release);
    s.key.store(keyOf(client, serviceId), std::memory_order_relaxed);
    s.backend.store((uint64_t{address} << 16) | port, std::memory_order_relaxed);
    s.expiresAt.store(expiresAt, std::memory_order_relaxed);
    // The words are visible before the even counter that vouches for them.
    s.sequence.store(sequence + 2, std::memory_order_release);
  }

  /// Slots holding a record that has not expired at TSC `now`: the table's occupancy.
  /// A scan of the whole table (8 MiB, about a millisecond) for the metrics scrape, never
  /// for a worker; it only loads, so a record being written may be counted or not.
  size_t liveRecords(uint64_t now) const {
    size_t live = 0;
    for (uint32_t i = 0; i < kSlots; ++i) {
      const Slot& s = slots_[i];
      if ((s.key.load(std::memory_order_relaxed) & 0xffffffff) != 0 && s.expiresAt.load(std::memory_order_relaxed) > now) {
        ++live;
      }
    }
    return live;
  }

 private:
  struct alignas(32) Slot {
    std::atomic<uint64_t> sequence;   // odd while a writer is in the slot
    std::atomic<uint64_t> key;        // client << 32 | serviceId (serviceId 0: empty)
    std::atomic<uint64_t> backend;    // address << 16 | port, network order
    std::atomic<uint64_t> expiresAt;  // TSC
  };
  static_assert(std::atomic<uint64_t>::is_always_lock_free);

  static uint64_t keyOf(rte_be32_t client, uint32_t serviceId) { return (uint64_t{client} << 32) | serviceId; }
  static uint32_t slot(rte_be32_t client, uint32_t serviceId) {
    return rte_hash_crc_4byte(client, serviceId) & (kSlots - 1);
  }
  Slot* slots_;  // zeroed memory is a valid empty table (atomics of 0)
};

}  // namespace nicproxy
