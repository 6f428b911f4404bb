#include "dpdk_app/neighbor.hpp"

#include <algorithm>
#include <cstring>

#include <rte_hash_crc.h>

namespace nicproxy {

namespace {
constexpr uint64_t kValid = NeighborTable::kValidBit;
constexpr uint64_t kMacBits = (uint64_t{1} << 48) - 1;
constexpr uint64_t kGenerationBits = uint64_t{NeighborTable::kGenerationMask} << NeighborTable::kGenerationShift;
constexpr uint32_t kSecondSeed = 0x9e3779b9;
// A claim whose chosen victim is taken by another thread at the same time looks again,
// a few times; after that the caller asks again on its next packet or probe round.
constexpr int kEvictionAttempts = 4;

uint64_t macBits(const rte_ether_addr& mac) {
  uint64_t word = 0;
  std::memcpy(&word, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  return word;
}

void unpackMac(uint64_t word, rte_ether_addr& mac) { std::memcpy(mac.addr_bytes, &word, RTE_ETHER_ADDR_LEN); }

uint16_t generationOf(uint64_t word) {
  return static_cast<uint16_t>((word & kGenerationBits) >> NeighborTable::kGenerationShift);
}

/// now - then, or 0 when `then` is later (another core's TSC read a moment after ours).
uint64_t age(uint64_t now, uint64_t then) { return now > then ? now - then : 0; }

uint32_t firstBucket(rte_be32_t address) { return rte_hash_crc_4byte(address, 0) % NeighborTable::kBuckets; }

uint32_t secondBucket(rte_be32_t address) {
  const uint32_t first = firstBucket(address);
  const uint32_t second = rte_hash_crc_4byte(address, kSecondSeed) % NeighborTable::kBuckets;
  return second != first ? second : first ^ 1;
}
}  // namespace

NeighborTable::NeighborTable()
    : keys_(std::make_unique<std::atomic<uint64_t>[]>(kSlots)),
      words_(std::make_unique<std::atomic<uint64_t>[]>(kSlots)),
      times_(std::make_unique<Times[]>(kSlots)) {
  for (uint32_t i = 0; i < kSlots; ++i) {
    keys_[i].store(0, std::memory_order_relaxed);
    words_[i].store(0, std::memory_order_relaxed);
  }
}

uint32_t NeighborTable::findSlot(rte_be32_t address) const {
  if (address == 0) return kNoSlot;
  for (const uint32_t bucket : {firstBucket(address), secondBucket(address)}) {
    for (uint32_t way = 0; way < kWays; ++way) {
      const uint32_t slot = bucket * kWays + way;
      // acquire: pairs with the release store that published the key (claim or free).
      if (keys_[slot].load(std::memory_order_acquire) == address) return slot;
    }
  }
  return kNoSlot;
}

bool NeighborTable::readWord(uint32_t slot, rte_be32_t address, uint64_t& word) const {
  // See the header: word, key, word. All acquire, so the loads stay in this order.
  const uint64_t before = words_[slot].load(std::memory_order_acquire);
  if (keys_[slot].load(std::memory_order_acquire) != address) return false;
  word = words_[slot].load(std::memory_order_acquire);
  return generationOf(before) == generationOf(word);
}

void NeighborTable::resetTimes(uint32_t slot, uint64_t now) {
  Times& t = times_[slot];
  t.confirmedAt.store(0, std::memory_order_relaxed);
  t.requestedAt.store(0, std::memory_order_relaxed);
  t.wantedAt.store(now, std::memory_order_relaxed);
}

uint32_t NeighborTable::claimFree(uint32_t bucket, rte_be32_t address) {
  for (uint32_t way = 0; way < kWays; ++way) {
    const uint32_t slot = bucket * kWays + way;
    uint64_t expected = 0;
    if (keys_[slot].load(std::memory_order_relaxed) != 0) continue;
    // acq_rel: acquire pairs with the release that freed the slot (its generation bump
    // is visible); release is not needed by anyone yet, the key is busy.
    if (!keys_[slot].compare_exchange_strong(expected, address | kBusy, std::memory_order_acq_rel)) continue;
    resetTimes(slot, 0);
    used_.fetch_add(1, std::memory_order_relaxed);
    return slot;
  }
  return kNoSlot;
}

bool NeighborTable::takeForFree(uint32_t slot, uint64_t key) {
  if (times_[slot].permanent.load(std::memory_order_relaxed)) return false;
  // acq_rel: exactly one thread turns the key busy; acquire sees the slot's last writes.
  return keys_[slot].compare_exchange_strong(key, key | kBusy, std::memory_order_acq_rel);
}

void NeighborTable::bumpGeneration(uint32_t slot) {
  uint64_t word = words_[slot].load(std::memory_order_acquire);
  uint64_t next = 0;
  do {
    next = uint64_t{static_cast<uint16_t>((generationOf(word) + 1) & kGenerationMask)} << kGenerationShift;
    // acq_rel: a MAC CAS racing with this one either lands before (and is wiped here)
    // or fails on the new generation.
  } while (!words_[slot].compare_exchange_weak(word, next, std::memory_order_acq_rel));
}

uint32_t NeighborTable::evictFor(uint32_t first, uint32_t second, rte_be32_t address, uint64_t now,
                                 uint64_t retryAfter) {
  for (int attempt = 0; attempt < kEvictionAttempts; ++attempt) {
    uint32_t victim = kNoSlot;
    uint64_t victimKey = 0;
    uint64_t victimScore = ~uint64_t{0};
    for (const uint32_t bucket : {first, second}) {
      for (uint32_t way = 0; way < kWays; ++way) {
        const uint32_t slot = bucket * kWays + way;
        const uint64_t key = keys_[slot].load(std::memory_order_acquire);
        if (key == 0 || (key & kBusy) != 0) continue;
        const Times& t = times_[slot];
        if (t.permanent.load(std::memory_order_relaxed)) continue;
        const bool resolved = (words_[slot].load(std::memory_order_acquire) & kValid) != 0;
        const uint64_t requested = t.requestedAt.load(std::memory_order_relaxed);
        if (!resolved && requested != 0 && age(now, requested) < retryAfter) continue;  // an answer may be coming
        // Least useful first: unresolved before resolved, then the longest without
        // being wanted or confirmed.
        const uint64_t useful = std::max(t.wantedAt.load(std::memory_order_relaxed),
                                         t.confirmedAt.load(std::memory_order_relaxed));
        const uint64_t score = (resolved ? kValid : 0) | std::min(useful, kValid - 1);
        if (score < victimScore) {
          victim = slot;
          victimKey = key;
          victimScore = score;
        }
      }
    }
    if (victim == kNoSlot) return kNoSlot;
    if (!takeForFree(victim, victimKey)) continue;
    bumpGeneration(victim);
    resetTimes(victim, now);
    // release: the new tenure's generation and times before its key.
    keys_[victim].store(address, std::memory_order_release);
    evicted_.fetch_add(1, std::memory_order_relaxed);
    return victim;
  }
  return kNoSlot;
}

uint32_t NeighborTable::findOrClaim(rte_be32_t address, uint64_t now, uint64_t retryAfter, bool mayEvict) {
  if (address == 0) return kNoSlot;
  uint32_t slot = findSlot(address);
  if (slot != kNoSlot) return slot;
  const uint32_t first = firstBucket(address);
  const uint32_t second = secondBucket(address);
  auto freeWays = [this](uint32_t bucket) {
    uint32_t free = 0;
    for (uint32_t way = 0; way < kWays; ++way) free += keys_[bucket * kWays + way].load(std::memory_order_relaxed) == 0;
    return free;
  };
  const bool secondFirst = freeWays(second) > freeWays(first);
  slot = claimFree(secondFirst ? second : first, address);
  if (slot == kNoSlot) slot = claimFree(secondFirst ? first : second, address);
  if (slot != kNoSlot) {
    times_[slot].wantedAt.store(now, std::memory_order_relaxed);
    // release: the reset times before the key (searches load it with acquire).
    keys_[slot].store(address, std::memory_order_release);
    return slot;
  }
  if (mayEvict) slot = evictFor(first, second, address, now, retryAfter);
  if (slot == kNoSlot && age(now, lastRefusalAt_.load(std::memory_order_relaxed)) >= retryAfter) {
    // A refused claim repeats with every packet of the flows waiting for this next hop, on
    // every worker: counted once per retry interval, with plain stores (a lost update
    // between two workers loses one count), so that no worker writes this line per packet.
    lastRefusalAt_.store(now, std::memory_order_relaxed);
    claimsRefused_.store(claimsRefused_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  return slot;
}

bool NeighborTable::lookup(rte_be32_t address, rte_ether_addr& mac) const {
  Ref ref;
  return find(address, ref, mac);
}

bool NeighborTable::find(rte_be32_t address, Ref& ref, rte_ether_addr& mac) const {
  const uint32_t slot = findSlot(address);
  uint64_t word = 0;
  if (slot == kNoSlot || !readWord(slot, address, word) || (word & kValid) == 0) return false;
  unpackMac(word, mac);
  ref = Ref{slot, generationOf(word)};
  return true;
}

bool NeighborTable::knownHost(rte_be32_t address) const {
  rte_ether_addr mac;
  return lookup(address, mac);
}

bool NeighborTable::isPermanent(rte_be32_t address) const {
  const uint32_t slot = findSlot(address);
  return slot != kNoSlot && times_[slot].permanent.load(std::memory_order_relaxed);
}

bool NeighborTable::addPermanent(rte_be32_t address, const rte_ether_addr& mac) {
  const uint32_t slot = findOrClaim(address, 0, 0, false);
  if (slot == kNoSlot) return false;
  times_[slot].permanent.store(true, std::memory_order_relaxed);
  uint64_t word = words_[slot].load(std::memory_order_acquire);
  while (!words_[slot].compare_exchange_weak(word, kValid | (word & kGenerationBits) | macBits(mac),
                                             std::memory_order_acq_rel)) {
  }
  return true;
}

bool NeighborTable::claimAsk(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter,
                             uint64_t unresolvedRetry) {
  const uint32_t slot = findOrClaim(address, now, retryAfter, true);
  if (slot == kNoSlot) return false;
  Times& t = times_[slot];
  if (t.permanent.load(std::memory_order_relaxed)) return false;
  // Wanted now; written once per retry interval at most, not by every packet that asks.
  if (age(now, t.wantedAt.load(std::memory_order_relaxed)) >= retryAfter) t.wantedAt.store(now, std::memory_order_relaxed);
  const bool resolved = (words_[slot].load(std::memory_order_acquire) & kValid) != 0;
  if (resolved && age(now, t.confirmedAt.load(std::memory_order_relaxed)) < refreshAfter) return false;
  uint64_t last = t.requestedAt.load(std::memory_order_relaxed);
  if (last != 0 && age(now, last) < (resolved ? retryAfter : unresolvedRetry)) return false;
  // relaxed is enough: the CAS only elects one requester; it publishes no data.
  return t.requestedAt.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

bool NeighborTable::claimRequest(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter) {
  return claimAsk(address, now, retryAfter, refreshAfter, retryAfter);
}

bool NeighborTable::claimProbe(rte_be32_t address, uint64_t now, uint64_t retryAfter, uint64_t refreshAfter) {
  return claimAsk(address, now, retryAfter, refreshAfter, refreshAfter);
}

NeighborTable::Heard NeighborTable::hear(rte_be32_t address, const rte_ether_addr& mac, uint64_t now, bool answersUs,
                                         uint64_t answerWindow) {
  const uint32_t slot = findSlot(address);
  if (slot == kNoSlot) return Heard::Unknown;
  Times& t = times_[slot];
  if (t.permanent.load(std::memory_order_relaxed)) return Heard::Permanent;
  uint64_t word = 0;
  if (!readWord(slot, address, word)) return Heard::Unknown;  // freed or reused meanwhile
  const uint64_t claimed = macBits(mac);
  uint64_t requested = t.requestedAt.load(std::memory_order_relaxed);
  if (answersUs && requested != 0 && age(now, requested) <= answerWindow) {
    // Another MAC for a resolved neighbour that confirmed its own within the last two
    // windows: its owner is alive, and whoever answers first (a flood of forged replies
    // does) must not take the address over. A host that really moved is taken once the old
    // MAC has stayed silent that long (the next answer, or the next refresh).
    if ((word & kValid) != 0 && (word & kMacBits) != claimed &&
        age(now, t.confirmedAt.load(std::memory_order_relaxed)) <= 2 * answerWindow) {
      return Heard::Disputed;
    }
    const uint64_t generation = word & kGenerationBits;
    // acq_rel: the CAS fails if the slot was freed since readWord() (new generation).
    while (!words_[slot].compare_exchange_weak(word, kValid | generation | claimed, std::memory_order_acq_rel)) {
      if ((word & kGenerationBits) != generation) return Heard::Unknown;
    }
    t.confirmedAt.store(now, std::memory_order_relaxed);
    // Answered: a later answer to the same request is unsolicited (the first one wins).
    t.requestedAt.compare_exchange_strong(requested, 0, std::memory_order_relaxed);
    return Heard::Solicited;
  }
  if ((word & kValid) != 0 && (word & kMacBits) == claimed) {
    t.confirmedAt.store(now, std::memory_order_relaxed);
    return Heard::Confirmed;
  }
  return Heard::Differs;
}

bool NeighborTable::claimConfirmation(rte_be32_t address, uint64_t now, uint64_t retryAfter) {
  const uint32_t slot = findSlot(address);
  if (slot == kNoSlot) return false;
  Times& t = times_[slot];
  if (t.permanent.load(std::memory_order_relaxed)) return false;
  uint64_t last = t.requestedAt.load(std::memory_order_relaxed);
  if (last != 0 && age(now, last) < retryAfter) return false;
  return t.requestedAt.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

void NeighborTable::expire(uint64_t now, uint64_t refreshAfter, uint64_t failAfter, uint64_t expireAfter,
                           uint32_t budget) {
  for (uint32_t n = 0; n < budget && n < kSlots; ++n) {
    const uint32_t slot = expiryCursor_;
    expiryCursor_ = (expiryCursor_ + 1) % kSlots;
    const uint64_t key = keys_[slot].load(std::memory_order_acquire);
    if (key == 0 || (key & kBusy) != 0) continue;
    Times& t = times_[slot];
    if (t.permanent.load(std::memory_order_relaxed)) continue;
    uint64_t word = 0;
    if (!readWord(slot, static_cast<rte_be32_t>(key), word)) continue;
    const uint64_t confirmed = t.confirmedAt.load(std::memory_order_relaxed);
    if ((word & kValid) != 0 && age(now, confirmed) >= refreshAfter + failAfter) {
      // Asked again since `refreshAfter` and no answer: stop sending to it. Same
      // generation: flows re-resolve and wait (neighbor_unresolved) until it answers.
      if (words_[slot].compare_exchange_strong(word, word & kGenerationBits, std::memory_order_acq_rel)) {
        unreachable_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    const uint64_t useful = std::max(confirmed, t.wantedAt.load(std::memory_order_relaxed));
    if (age(now, useful) < expireAfter || !takeForFree(slot, key)) continue;
    bumpGeneration(slot);
    // release: the new generation before the key reads free (claimFree acquires it).
    keys_[slot].store(0, std::memory_order_release);
    used_.fetch_sub(1, std::memory_order_relaxed);
    expired_.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace nicproxy
