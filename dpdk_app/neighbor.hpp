#pragma once
// The neighbour (ARP) table, shared by every worker and read by the control thread.
//
// What goes in: only what nicproxy asked for. An entry is created by claimRequest()
// (backends and gateways, from the probe loop or a flow waiting for its next hop), by
// claimProbe() (the external / LB IPs nicproxy answers ARP for, asked to find out whether
// another host owns them), or by addPermanent() (dpdk.ports[].neighbors). ARP from a
// sender with no entry creates nothing: a flood of made-up senders cannot fill the table.
// hear() sets a MAC only from an answer to our own recent request (solicited); an
// unsolicited ARP with the same MAC only confirms the entry, and one with another MAC
// changes nothing but tells the caller to ask at once (the answer to that moves it).
//
// Lifetime: a resolved entry is asked again once it is unconfirmed for `refresh`
// (claimRequest), becomes unresolved when it stays unconfirmed for `refresh + fail`
// (expire(): a backend that no longer answers is not used forever), and is freed when
// nobody asked for it or confirmed it for `expireAfter` (expire()). A claim that finds
// both of its buckets full evicts the least useful entry there: unresolved before
// resolved, the longest unwanted and unconfirmed first, never a permanent entry and
// never one whose request is still within its retry window.
//
// Layout: kSlots slots in kBuckets buckets of kWays. An address may live in one of two
// buckets (two CRC hashes; a new entry goes to the emptier one), so a search reads at
// most 2 x kWays keys (4 cache lines) and the table fills evenly before buckets overflow.
// The fields are kept in separate arrays: keys (searched), MAC words (read per packet)
// and timestamps (written by probes and ARP), so that probes and ARP never dirty the
// cache lines the per-packet read touches.
//
// A slot's MAC word: bits 0-47 the MAC, bits 48-62 the generation, bit 63 valid. The
// generation changes each time the slot is freed (expiry or eviction), so (slot,
// generation) names one tenure of one address. Flows keep (slot, generation) and read
// the MAC with one 64-bit acquire load (lookupSlot()); a different generation or a clear
// valid bit sends the flow back to resolveBackendHop(), so a flow never uses the MAC of
// a host that took its slot over. A MAC change within a tenure (a solicited answer with
// a new MAC) keeps the generation: the address is the same, so flows follow it at once.
// The generation has 15 bits: a flow that sends nothing while its slot is freed and
// reused 32,768 times could see its generation again; slots are freed only by expiry
// (minutes) or eviction under pressure, so this needs a flow idle through tens of
// thousands of evictions of one slot.
//
// Concurrency (any worker writes, every worker and the control thread read; no locks,
// nobody waits; memory is never freed, slots are reused):
//  - key: the address, 0 when free, with kBusy while one thread claims or frees it;
//    searches skip busy slots. Claim: CAS 0 -> address|kBusy, reset the timestamps,
//    store the address (release). Free: CAS address -> address|kBusy (only one thread
//    wins), bump the generation in the word (CAS loop), store 0 or the next address
//    (release). Key loads are acquire: they pair with those release stores.
//  - word: changed only by compare-and-swap (acq_rel) from a value read while the key
//    held the address (readWord()). A free in between bumped the generation, so that
//    CAS fails: a MAC meant for A never lands in a slot that now belongs to B.
//  - readWord() proves a word belongs to the address: word (acquire), key == address
//    (acquire), word again (acquire), same generation. A free bumps the generation
//    before it releases the key, and a key load that sees a later tenant synchronises
//    with that release, so the second word load would show the new generation.
//  - timestamps (confirmedAt, requestedAt, wantedAt) are relaxed hints: a stale one
//    can delay a request or an expiry by one round, never put a wrong MAC in use.
//  - two workers claiming the same new address at the same instant while a way of the
//    bucket is freed can end up with two slots for it. Every search returns the first
//    in bucket order, so the other is never asked for and expires: harmless.
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include <rte_ether.h>

namespace nicproxy {

class NeighborTable {
 public:
  static constexpr uint32_t kWays = 16;
  static constexpr uint32_t kBuckets = 256;
  static constexpr uint32_t kSlots = kWays * kBuckets;
  static constexpr uint32_t kNoSlot = 0xffffffff;
  static constexpr uint64_t kValidBit = uint64_t{1} << 63;  // in a slot's MAC word
  static constexpr unsigned kGenerationShift = 48;
  static constexpr uint16_t kGenerationMask = 0x7fff;

  NeighborTable();

  /// Where a resolved neighbour's MAC lives: flows keep it and read through lookupSlot().
  struct Ref {
    uint32_t slot = kNoSlot;
    uint16_t generation = 0;
  };

  /// The MAC of `address` (network order) if it is resolved (or permanent).
  bool lookup(rte_be32_t address, rte_ether_addr& mac) const;
  /// As lookup(), and where the MAC lives, for lookupSlot().
  bool find(rte_be32_t address, Ref& ref, rte_ether_addr& mac) const;
  /// The MAC in `slot` if the slot is still in the tenure `generation` (from find()) and
  /// resolved. One acquire load (pairs with the word CASes): the word is read whole.
  /// Inline: it is on every forwarded packet's path.
  bool lookupSlot(uint32_t slot, uint16_t generation, rte_ether_addr& mac) const {
    const uint64_t word = words_[slot].load(std::memory_order_acquire);
    if ((word >> kGenerationShift) != ((kValidBit >> kGenerationShift) | generation)) return false;
    std::memcpy(mac.addr_bytes, &word, RTE_ETHER_ADDR_LEN);
    return true;
  }
  /// Reachability confirmed by the traffic itself (as Linux's TCP confirms its neighbours):
  /// a packet of a flow that arrived from the MAC `mac` that `slot` holds in tenure
  /// `generation` counts as an answer from its owner, so that a forged ARP reply cannot
  /// take over the address of a next hop that is visibly alive (hear(), Disputed).
  /// Writes the shared timestamp at most once per `minInterval`; inline, on the path of
  /// every packet from a backend.
  void confirmSlot(uint32_t slot, uint16_t generation, const rte_ether_addr& mac, uint64_t now,
                   uint64_t minInterval) {
    const uint64_t word = words_[slot].load(std::memory_order_acquire);
    if ((word >> kGenerationShift) != ((kValidBit >> kGenerationShift) | generation)) return;
    uint64_t heard = 0;
    std::memcpy(&heard, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    if ((word & ((uint64_t{1} << kGenerationShift) - 1)) != heard) return;
    std::atomic<uint64_t>& confirmed = times_[slot].confirmedAt;
    // relaxed: a timestamp only; a lost race between two workers loses nothing.
    if (now - confirmed.load(std::memory_order_relaxed) >= minInterval) confirmed.store(now, std::memory_order_relaxed);
  }
  /// True when `address` is a host that answers ARP itself: a permanent entry, or one
  /// resolved by an answer to our request.
  bool knownHost(rte_be32_t address) const;
  bool isPermanent(rte_be32_t address) const;

  /// A permanent entry (dpdk.ports[].neighbors): never asked for, never changed by ARP,
  /// never expired or evicted. Before the workers start. False when the table is full.
  bool addPermanent(rte_be32_t address, const rte_ether_addr& mac);

  /// For a next hop nicproxy needs (a backend, a gateway): creates the entry if needed
  /// (evicting under pressure), marks it wanted, and returns true when the caller should
  /// send an ARP request now: it is unresolved, or unconfirmed for `refreshAfter`, and
  /// nobody asked within `retryAfter`. At most one caller wins per retry interval
  /// (compare-and-swap on the request time).
  bool claimRequest(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter);
  /// As claimRequest(), for an address nicproxy answers ARP for and asks about only to
  /// find out whether another host owns it: while nobody answered, it asks once per
  /// `refreshAfter` instead of once per `retryAfter`.
  bool claimProbe(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter);

  /// What an ARP from `address` claiming `mac` did to the table.
  enum class Heard : uint8_t {
    Unknown,     // no entry: nothing learnt (not asked for)
    Permanent,   // a permanent entry: ARP never changes it
    Solicited,   // an answer to our request within `answerWindow`: the MAC is set
    Confirmed,   // unsolicited, the MAC we have: the entry is confirmed
    Differs,     // unsolicited, unresolved or another MAC: nothing changed, ask now
    Disputed,    // an answer claiming another MAC while the one we have answered lately:
                 // nothing changed, the request stays open for the owner's answer
  };
  /// `answersUs`: an ARP reply addressed to our port address (only those can answer our
  /// request).
  Heard hear(rte_be32_t address, const rte_ether_addr& mac, uint64_t now, bool answersUs, uint64_t answerWindow);
  /// For an existing, non-permanent entry whose ARP differed (Heard::Differs): true when
  /// the caller should send a request now (nobody asked within `retryAfter`). Does not
  /// mark the entry wanted: someone else's ARP must not keep an entry alive.
  bool claimConfirmation(rte_be32_t address, uint64_t now, uint64_t retryAfter);

  /// Scans `budget` slots from where the last call stopped: a resolved entry unconfirmed
  /// for `refreshAfter + failAfter` becomes unresolved; an entry neither wanted nor
  /// confirmed for `expireAfter` is freed. One caller at a time (worker 0's probe loop).
  void expire(uint64_t now, uint64_t refreshAfter, uint64_t failAfter, uint64_t expireAfter, uint32_t budget);

  /// Entries in use (permanent included).
  uint32_t size() const { return used_.load(std::memory_order_relaxed); }
  /// Since start: entries freed by expiry, evicted for another, turned unresolved because
  /// their neighbour stopped answering, and claims refused because every candidate slot was
  /// permanent or waiting for an answer.
  uint64_t expired() const { return expired_.load(std::memory_order_relaxed); }
  uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }
  uint64_t unreachable() const { return unreachable_.load(std::memory_order_relaxed); }
  /// Claims refused for want of a slot, counted at most once per retry interval.
  uint64_t claimsRefused() const { return claimsRefused_.load(std::memory_order_relaxed); }

  static constexpr uint64_t kBusy = uint64_t{1} << 32;  // in a key: being claimed or freed

 private:
  struct Times {
    std::atomic<uint64_t> confirmedAt{0};  // last solicited answer or same-MAC ARP
    std::atomic<uint64_t> requestedAt{0};  // last request sent; 0: none outstanding
    std::atomic<uint64_t> wantedAt{0};     // last claimRequest/claimProbe
    std::atomic<bool> permanent{false};    // set before the workers start, then read-only
  };

  uint32_t findSlot(rte_be32_t address) const;
  bool readWord(uint32_t slot, rte_be32_t address, uint64_t& word) const;
  uint32_t findOrClaim(rte_be32_t address, uint64_t now, uint64_t retryAfter, bool mayEvict);
  uint32_t claimFree(uint32_t bucket, rte_be32_t address);
  uint32_t evictFor(uint32_t first, uint32_t second, rte_be32_t address, uint64_t now, uint64_t retryAfter);
  bool takeForFree(uint32_t slot, uint64_t key);
  void bumpGeneration(uint32_t slot);
  void resetTimes(uint32_t slot, uint64_t now);
  bool claimAsk(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter, uint64_t unresolvedRetry);

  std::unique_ptr<std::atomic<uint64_t>[]> keys_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
  std::unique_ptr<Times[]> times_;
  std::atomic<uint32_t> used_{0};
  uint32_t expiryCursor_ = 0;  // expire()'s only caller owns it
  std::atomic<uint64_t> expired_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> unreachable_{0};
  std::atomic<uint64_t> claimsRefused_{0};  // refusal events, at most one per retry interval
  std::atomic<uint64_t> lastRefusalAt_{0};
};

}  // namespace nicproxy
