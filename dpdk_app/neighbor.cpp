#include "dpdk_app/neighbor.hpp"

#include <cstring>

#include <rte_hash_crc.h>

namespace nicproxy {

namespace {
constexpr uint64_t kValid = NeighborTable::kValidBit;

uint64_t packMac(const rte_ether_addr& mac) {
  uint64_t word = 0;
  std::memcpy(&word, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  return word | kValid;
}

void unpackMac(uint64_t word, rte_ether_addr& mac) {
  std::memcpy(mac.addr_bytes, &word, RTE_ETHER_ADDR_LEN);
}

uint32_t firstSlot(rte_be32_t address) {
  return rte_hash_crc_4byte(address, 0) & (NeighborTable::kSlots - 1);
}
}  // namespace

NeighborTable::NeighborTable() : slots_(std::make_unique<Slot[]>(kSlots)) {}

NeighborTable::Slot* NeighborTable::find(rte_be32_t address) const {
  if (address == 0) return nullptr;
  uint32_t i = firstSlot(address);
  for (uint32_t probe = 0; probe < kSlots; ++probe, i = (i + 1) & (kSlots - 1)) {
    // acquire: pairs with the claiming CAS so the slot's other fields are initialised.
    const uint32_t current = slots_[i].address.load(std::memory_order_acquire);
    if (current == address) return &slots_[i];
    if (current == 0) return nullptr;  // linear probing never leaves holes: no eviction
  }
  return nullptr;
}

NeighborTable::Slot* NeighborTable::findOrClaim(rte_be32_t address) {
  if (address == 0) return nullptr;
  uint32_t i = firstSlot(address);
  for (uint32_t probe = 0; probe < kSlots; ++probe, i = (i + 1) & (kSlots - 1)) {
    uint32_t current = slots_[i].address.load(std::memory_order_acquire);
    if (current == 0) {
      uint32_t expected = 0;
      if (slots_[i].address.compare_exchange_strong(expected, address, std::memory_order_acq_rel)) {
        used_.fetch_add(1, std::memory_order_relaxed);
        return &slots_[i];
      }
      current = expected;  // another writer claimed it first
    }
    if (current == address) return &slots_[i];
  }
  return nullptr;
}

bool NeighborTable::lookup(rte_be32_t address, rte_ether_addr& mac) const {
  const Slot* slot = find(address);
  if (slot == nullptr) return false;
  // acquire: pairs with the release store in learn(); the MAC word is read whole.
  const uint64_t word = slot->mac.load(std::memory_order_acquire);
  if ((word & kValid) == 0) return false;
  unpackMac(word, mac);
  return true;
}

uint32_t NeighborTable::slotOf(rte_be32_t address) const {
  const Slot* slot = find(address);
  return slot == nullptr ? kNoSlot : static_cast<uint32_t>(slot - slots_.get());
}

bool NeighborTable::learn(rte_be32_t address, const rte_ether_addr& mac, uint64_t now) {
  Slot* slot = findOrClaim(address);
  if (slot == nullptr) return false;
  if (slot->permanent.load(std::memory_order_relaxed)) return true;
  slot->mac.store(packMac(mac), std::memory_order_release);
  slot->confirmedAt.store(now, std::memory_order_relaxed);
  return true;
}

bool NeighborTable::addPermanent(rte_be32_t address, const rte_ether_addr& mac) {
  Slot* slot = findOrClaim(address);
  if (slot == nullptr) return false;
  slot->permanent.store(true, std::memory_order_relaxed);
  slot->mac.store(packMac(mac), std::memory_order_release);
  return true;
}

bool NeighborTable::refresh(rte_be32_t address, const rte_ether_addr& mac, uint64_t now) {
  Slot* slot = find(address);
  if (slot == nullptr) return false;
  if (slot->permanent.load(std::memory_order_relaxed)) return true;
  slot->mac.store(packMac(mac), std::memory_order_release);
  slot->confirmedAt.store(now, std::memory_order_relaxed);
  return true;
}

bool NeighborTable::claimRequest(rte_be32_t address, uint64_t now, uint64_t retryAfter,
                                 uint64_t refreshAfter) {
  Slot* slot = findOrClaim(address);
  if (slot == nullptr || slot->permanent.load(std::memory_order_relaxed)) return false;
  const bool known = (slot->mac.load(std::memory_order_acquire) & kValid) != 0;
  if (known && now - slot->confirmedAt.load(std::memory_order_relaxed) < refreshAfter) return false;
  uint64_t last = slot->requestedAt.load(std::memory_order_relaxed);
  if (last != 0 && now - last < retryAfter) return false;
  // relaxed is enough: the CAS only elects one requester; it publishes no data.
  return slot->requestedAt.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

}  // namespace nicproxy
