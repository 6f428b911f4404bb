#include "dpdk_app/flow_table.hpp"

#include <stdexcept>

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include <spdlog/fmt/fmt.h>

namespace nicproxy {

FlowTable::FlowTable(const std::string& name, uint32_t capacity, int socket)
    : capacity_(capacity), highWater_(capacity - capacity / 8) {
  rte_hash_parameters params{};
  params.name = name.c_str();
  // Two keys per connection; rte_hash needs some slack over the exact count.
  params.entries = capacity * 2 + 64;
  params.key_len = sizeof(FlowKey);
  params.hash_func = rte_hash_crc;
  params.hash_func_init_val = 0;
  params.socket_id = socket;
  // Extendable buckets: an insert fails only when the table is really full.
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  hash_ = rte_hash_create(&params);
  if (hash_ == nullptr) {
    throw std::runtime_error(fmt::format("flow table {}: rte_hash_create for {} entries failed: {}",
                                         name, params.entries, rte_strerror(rte_errno)));
  }
  // rte_zmalloc: zeroed memory is a valid Slot (FlowEntry and TcpWindow are plain data).
  slots_ = static_cast<Slot*>(rte_zmalloc_socket("flow_slots", sizeof(Slot) * capacity, alignof(Slot), socket));
  freeList_ = static_cast<uint32_t*>(
      rte_malloc_socket("flow_free", sizeof(uint32_t) * capacity, RTE_CACHE_LINE_SIZE, socket));
  if (slots_ == nullptr || freeList_ == nullptr) {
    rte_free(slots_);
    rte_free(freeList_);
    rte_hash_free(hash_);
    throw std::runtime_error(fmt::format("flow table {}: no memory for {} entries", name, capacity));
  }
  // Hand out low indices first: they are the ones the expiry cursor reaches soonest.
  for (uint32_t i = 0; i < capacity; ++i) freeList_[i] = capacity - 1 - i;
  freeCount_ = capacity;
}

FlowTable::~FlowTable() {
  rte_hash_free(hash_);
  rte_free(slots_);
  rte_free(freeList_);
}

uint64_t FlowTable::lookupBulk(const FlowKey** keys, uint32_t count, uint64_t* values) const {
  uint64_t hits = 0;
  void* data[RTE_HASH_LOOKUP_BULK_MAX];
  if (rte_hash_lookup_bulk_data(hash_, reinterpret_cast<const void**>(keys), count, &hits, data) < 0) {
    return 0;
  }
  for (uint32_t i = 0; i < count; ++i) values[i] = reinterpret_cast<uintptr_t>(data[i]);
  return hits;
}

bool FlowTable::lookup(const FlowKey& key, uint64_t& value) const {
  void* data = nullptr;
  if (rte_hash_lookup_data(hash_, &key, &data) < 0) return false;
  value = reinterpret_cast<uintptr_t>(data);
  return true;
}

int64_t FlowTable::insert(const FlowKey& forward, const FlowKey& reverse) {
  if (freeCount_ == 0) return -1;
  const uint32_t index = freeList_[freeCount_ - 1];
  const uint64_t forwardValue = static_cast<uint64_t>(index) << 1;
  const uint64_t reverseValue = forwardValue | 1;
  if (rte_hash_add_key_data(hash_, &forward, reinterpret_cast<void*>(forwardValue)) < 0) return -1;
  if (rte_hash_add_key_data(hash_, &reverse, reinterpret_cast<void*>(reverseValue)) < 0) {
    rte_hash_del_key(hash_, &forward);
    return -1;
  }
  --freeCount_;
  ++used_;
  ++changes_;
  FlowEntry& e = slots_[index].entry;
  e = FlowEntry{};
  e.forward = forward;
  e.reverse = reverse;
  e.live = true;
  slots_[index].window = TcpWindow{};
  return index;
}

void FlowTable::remove(uint32_t index) {
  FlowEntry& e = slots_[index].entry;
  if (!e.live) return;
  rte_hash_del_key(hash_, &e.forward);
  rte_hash_del_key(hash_, &e.reverse);
  e.live = false;
  freeList_[freeCount_++] = index;
  --used_;
  ++changes_;
}

bool FlowTable::evictUnassured(uint32_t scan) {
  for (uint32_t scanned = 0; scanned < scan && used_ > 0; ++scanned) {
    const uint32_t index = evictionCursor_;
    if (++evictionCursor_ == capacity_) evictionCursor_ = 0;
    const FlowEntry& e = slots_[index].entry;
    if (e.live && !e.assured()) {
      remove(index);
      return true;
    }
  }
  return false;
}

bool FlowTable::evictUnassuredTo(FlowKey& reverse, uint32_t scan) {
  for (uint32_t scanned = 0; scanned < scan && used_ > 0; ++scanned) {
    const uint32_t index = evictionCursor_;
    if (++evictionCursor_ == capacity_) evictionCursor_ = 0;
    const FlowEntry& e = slots_[index].entry;
    if (!e.live || e.assured() || e.reverse.sourceAddress != reverse.sourceAddress ||
        e.reverse.sourcePort != reverse.sourcePort || e.reverse.protocol != reverse.protocol) {
      continue;
    }
    reverse.destinationAddress = e.reverse.destinationAddress;
    reverse.destinationPort = e.reverse.destinationPort;
    remove(index);
    return true;
  }
  return false;
}

uint32_t FlowTable::expire(uint64_t now, uint32_t budget) {
  uint32_t removed = 0;
  const uint32_t scanLimit = budget * 4;
  for (uint32_t scanned = 0; scanned < scanLimit && removed < budget && used_ > 0; ++scanned) {
    FlowEntry& e = slots_[expiryCursor_].entry;
    if (e.live && e.expiresAt <= now) {
      remove(expiryCursor_);
      ++removed;
    }
    if (++expiryCursor_ == capacity_) expiryCursor_ = 0;
  }
  // The next call scans the entries from the cursor on: start loading them now, so that
  // by then they are in the cache instead of each costing a miss in turn.
  for (uint32_t i = 0, at = expiryCursor_; i < scanLimit && used_ > 0; ++i) {
    rte_prefetch0(&slots_[at].entry);
    if (++at == capacity_) at = 0;
  }
  return removed;
}

}  // namespace nicproxy
