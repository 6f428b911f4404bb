#include "dpdk_app/frontend_index.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <string>

#include <rte_errno.h>
#include <rte_hash_crc.h>

namespace nicproxy {

namespace {

// rte_hash names are global to the process; every hash gets a fresh one.
std::string uniqueHashName(const char* prefix) {
  static std::atomic<uint64_t> sequence{0};
  return std::string(prefix) + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
}

rte_hash* createHash(const char* prefix, uint32_t entries, uint32_t keyLength, int socket) {
  const std::string name = uniqueHashName(prefix);
  rte_hash_parameters params{};
  params.name = name.c_str();
  params.entries = entries;
  params.key_len = keyLength;
  params.hash_func = rte_hash_crc;
  params.socket_id = socket;
  // Lock-free readers with one writer; the extendable buckets make every one of
  // `entries` keys fit whatever their hashes, so hasRoomFor() is exact.
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  rte_hash* hash = rte_hash_create(&params);
  if (hash == nullptr) {
    throw std::runtime_error("service table: rte_hash_create(" + name + ", " + std::to_string(entries) +
                             " entries) failed: " + rte_strerror(rte_errno));
  }
  return hash;
}

}  // namespace

FrontendIndex::FrontendIndex(uint32_t frontends, uint32_t addresses, int socket)
    : frontendCapacity_(std::max<uint32_t>(frontends, 64)), addressCapacity_(std::max<uint32_t>(addresses, 64)) {
  frontends_ = createHash("svc", frontendCapacity_, sizeof(ServiceKey), socket);
  try {
    addresses_ = createHash("local", addressCapacity_, sizeof(rte_be32_t), socket);
  } catch (...) {
    rte_hash_free(frontends_);
    throw;
  }
}

FrontendIndex::~FrontendIndex() {
  rte_hash_free(frontends_);
  rte_hash_free(addresses_);
}

void FrontendIndex::setFrontend(const ServiceKey& key, const ServiceEntry* entry) {
  const bool existed = rte_hash_lookup(frontends_, &key) >= 0;
  // rte_hash takes a non-const void*; workers only ever read through it.
  if (rte_hash_add_key_data(frontends_, &key, const_cast<ServiceEntry*>(entry)) < 0) {
    throw std::runtime_error("service table: no room for another frontend (" + std::to_string(frontendCapacity_) +
                             " slots)");
  }
  if (!existed) ++frontendCount_;
}

void FrontendIndex::eraseFrontend(const ServiceKey& key) {
  const int32_t position = rte_hash_del_key(frontends_, &key);
  if (position < 0) return;
  erasedFrontends_.push_back(position);
  --frontendCount_;
}

void FrontendIndex::setLocalAddress(rte_be32_t address, uint32_t flags) {
  if (flags == 0) {
    const int32_t position = rte_hash_del_key(addresses_, &address);
    if (position < 0) return;
    erasedAddresses_.push_back(position);
    --addressCount_;
    return;
  }
  const bool existed = rte_hash_lookup(addresses_, &address) >= 0;
  if (rte_hash_add_key_data(addresses_, &address, reinterpret_cast<void*>(uintptr_t{flags})) < 0) {
    throw std::runtime_error("service table: no room for another local address (" +
                             std::to_string(addressCapacity_) + " slots)");
  }
  if (!existed) ++addressCount_;
}

FrontendIndex::ErasedSlots FrontendIndex::takeErased() {
  ErasedSlots slots{std::move(erasedFrontends_), std::move(erasedAddresses_)};
  erasedFrontends_.clear();
  erasedAddresses_.clear();
  frontendsAwaitingGrace_ += slots.frontends.size();
  addressesAwaitingGrace_ += slots.addresses.size();
  return slots;
}

void FrontendIndex::releaseErased(const ErasedSlots& slots) {
  for (int32_t position : slots.frontends) rte_hash_free_key_with_position(frontends_, position);
  for (int32_t position : slots.addresses) rte_hash_free_key_with_position(addresses_, position);
  frontendsAwaitingGrace_ -= slots.frontends.size();
  addressesAwaitingGrace_ -= slots.addresses.size();
}

}  // namespace nicproxy
