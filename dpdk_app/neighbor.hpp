#pragma once
// The neighbour (ARP) table, shared by every worker.
//
// Who reads and writes: any worker may learn (from ARP it receives) and any worker
// reads (to address packets). Writes are rare (ARP frames), reads are per packet, so
// reads take no lock and never wait:
//  - a slot is claimed once by a compare-and-swap of its address from 0 to the
//    neighbour's address, and never changes address afterwards (no eviction; a node
//    has few L2 neighbours, and a full table is counted, not fatal);
//  - the MAC is one 64-bit atomic word (48 bits of MAC and a valid bit), stored with
//    release and loaded with acquire, so a reader sees a whole MAC or none.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include <rte_ether.h>

namespace nicproxy {

class NeighborTable {
 public:
  static constexpr uint32_t kSlots = 4096;  // power of two

  NeighborTable();

  /// The MAC for `address` (network order) if known.
  bool lookup(rte_be32_t address, rte_ether_addr& mac) const;
  /// The slot index `address` has, or kNoSlot. A slot keeps its address for the table's
  /// life (no eviction), so callers may keep the index and read the MAC through it.
  uint32_t slotOf(rte_be32_t address) const;
  /// The MAC in slot `slot` (from slotOf) if it is known; as lookup() without the search.
  /// Inline: it is on every forwarded packet's path.
  bool lookupSlot(uint32_t slot, rte_ether_addr& mac) const {
    // acquire: as in lookup(), pairs with the release store in learn(); the word is read whole.
    const uint64_t word = slots_[slot].mac.load(std::memory_order_acquire);
    if ((word & kValidBit) == 0) return false;
    std::memcpy(mac.addr_bytes, &word, RTE_ETHER_ADDR_LEN);
    return true;
  }
  static constexpr uint32_t kNoSlot = 0xffffffff;
  static constexpr uint64_t kValidBit = uint64_t{1} << 63;  // in a slot's MAC word

  /// Records a MAC; false when the table is full. A permanent entry keeps its MAC.
  bool learn(rte_be32_t address, const rte_ether_addr& mac, uint64_t now);
  /// A permanent entry (dpdk.ports[].neighbors): never asked for, never changed by ARP.
  /// Before the workers start. False when the table is full.
  bool addPermanent(rte_be32_t address, const rte_ether_addr& mac);
  /// Updates the MAC of a neighbour already in the table (gratuitous ARP); false if absent.
  bool refresh(rte_be32_t address, const rte_ether_addr& mac, uint64_t now);
  /// True when the caller should send an ARP request for `address` now: it is unknown
  /// or unconfirmed for `refreshAfter` cycles, and nobody asked within `retryAfter`.
  /// At most one caller wins per retry interval (compare-and-swap on the request time).
  bool claimRequest(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter);
  uint32_t size() const { return used_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::atomic<uint32_t> address{0};     // network order; 0 = free
    std::atomic<uint64_t> mac{0};         // bit 63 = valid, low 48 bits = MAC bytes
    std::atomic<uint64_t> confirmedAt{0};
    std::atomic<uint64_t> requestedAt{0};
    std::atomic<bool> permanent{false};   // set before the workers start, then read-only
  };

  Slot* find(rte_be32_t address) const;
  Slot* findOrClaim(rte_be32_t address);

  std::unique_ptr<Slot[]> slots_;
  std::atomic<uint32_t> used_{0};
};

}  // namespace nicproxy
