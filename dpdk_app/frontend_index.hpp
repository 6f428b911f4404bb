#pragma once
// The frontends (VIP, port, protocol) -> ServiceEntry and the node's own addresses ->
// flags: two rte_hashes that the control thread changes in place while the workers
// read them, so that publishing one changed service costs its own frontends, not a
// rebuild of every frontend.
//
// Who reads and writes: exactly one writer, the control thread (through
// ServiceTableWriter, on behalf of DpdkProvider); any number of readers, the workers.
// Both hashes are created with RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF: a lookup never
// blocks and finds, for each key, either its old or its new value, never a torn one.
//
// Memory ordering: rte_hash_add_key_data() publishes a key's value with a release store
// and lookups load it with acquire (rte_cuckoo_hash.c), so a ServiceEntry (and the
// PortState it points into) written before setFrontend() is completely visible to a
// worker that finds it through the hash.
//
// Reclamation: a worker may still hold a ServiceEntry it looked up just before the key
// was replaced or erased, and an erased key's slot may still be read by a lookup in
// flight. So eraseFrontend()/setLocalAddress(a, 0) only unlink the key;
// takeErased() hands the unlinked slots over, and releaseErased() returns them to the
// hashes, which may happen only after an RCU grace period that began after the
// unlinking (DpdkProvider checks its grace-period token first). Replaced ServiceEntries
// are kept alive by the writer for the same grace period.
#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_byteorder.h>
#include <rte_hash.h>

#include "control/config.hpp"
#include "dpdk_app/port_state.hpp"

namespace nicproxy {

struct ServiceKey {
  rte_be32_t address;
  rte_be16_t port;
  uint8_t protocol;  // IPPROTO_TCP / IPPROTO_UDP
  uint8_t padding;
};
static_assert(sizeof(ServiceKey) == 8);

/// What a frontend does with a new connection. Pointers point into a PortState that
/// outlives every lookup that can return this entry (see Reclamation above).
struct ServiceEntry {
  const Backend* backends = nullptr;
  const uint32_t* maglev = nullptr;         // maglevSize slots -> index into backends
  std::atomic<uint32_t>* roundRobin = nullptr;
  const SourceRange* sourceRanges = nullptr;
  uint32_t backendCount = 0;  // 0: reject (no endpoints anywhere) or drop (dropWhenEmpty)
  uint32_t maglevSize = 0;
  uint32_t serviceId = 0;        // stable id of the service port (flows remember it)
  uint32_t affinityId = 0;       // ClientIP affinity: serviceId, else 0
  uint32_t affinitySeconds = 0;  // 0: no affinity
  uint16_t sourceRangeCount = 0; // LB IPs with loadBalancerSourceRanges: others are dropped
  Scheduler scheduler = Scheduler::Maglev;
  bool dropWhenEmpty = false;    // endpoints exist, but none for this frontend's traffic policy
  // externalTrafficPolicy Local on an external frontend (NodePort, external or LB IP): a
  // connection to a local endpoint keeps the client's address (no SNAT), as with kube-proxy.
  bool keepClientAddress = false;
};

/// Flags of an address this node owns.
enum LocalAddressFlags : uint32_t {
  kAnswerArp = 1,        // port address, or an external / LB IP inside a port's subnet
  kServiceAddress = 2,   // some frontend uses this address
};

class FrontendIndex {
 public:
  /// Room for `frontends` frontends and `addresses` local addresses, counting keys
  /// erased but not yet released. Throws std::runtime_error when DPDK cannot allocate.
  FrontendIndex(uint32_t frontends, uint32_t addresses, int socket);
  ~FrontendIndex();
  FrontendIndex(const FrontendIndex&) = delete;
  FrontendIndex& operator=(const FrontendIndex&) = delete;

  // ---- readers (workers) ----------------------------------------------------------
  const ServiceEntry* lookup(const ServiceKey& key) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(frontends_, &key, &data) < 0) return nullptr;
    return static_cast<const ServiceEntry*>(data);
  }
  /// LocalAddressFlags of `address`, 0 when it is not ours.
  uint32_t localAddressFlags(rte_be32_t address) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(addresses_, &address, &data) < 0) return 0;
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
  }

  // ---- the writer (control thread) ------------------------------------------------
  /// True when `frontends` more frontends and `addresses` more addresses fit.
  bool hasRoomFor(size_t frontends, size_t addresses) const {
    return frontendSlotsUsed() + frontends <= frontendCapacity_ && addressSlotsUsed() + addresses <= addressCapacity_;
  }
  /// Adds the key or replaces its entry. Throws std::runtime_error when the hash is full.
  void setFrontend(const ServiceKey& key, const ServiceEntry* entry);
  void eraseFrontend(const ServiceKey& key);
  /// Sets the flags of `address`; 0 erases it.
  void setLocalAddress(rte_be32_t address, uint32_t flags);
  /// Slots of keys erased since the last call, still counted as used.
  struct ErasedSlots {
    std::vector<int32_t> frontends;
    std::vector<int32_t> addresses;
  };
  ErasedSlots takeErased();
  /// Returns `slots` (from takeErased()) to the hashes. Only after an RCU grace period.
  void releaseErased(const ErasedSlots& slots);

  size_t frontendCount() const { return frontendCount_; }
  size_t addressCount() const { return addressCount_; }
  /// Slots taken: live keys and erased ones not yet released (what hasRoomFor counts).
  size_t frontendSlotsUsed() const { return frontendCount_ + erasedFrontends_.size() + frontendsAwaitingGrace_; }
  size_t addressSlotsUsed() const { return addressCount_ + erasedAddresses_.size() + addressesAwaitingGrace_; }
  uint32_t frontendCapacity() const { return frontendCapacity_; }
  uint32_t addressCapacity() const { return addressCapacity_; }

 private:

  rte_hash* frontends_ = nullptr;  // ServiceKey -> const ServiceEntry*
  rte_hash* addresses_ = nullptr;  // rte_be32_t -> LocalAddressFlags
  uint32_t frontendCapacity_ = 0;
  uint32_t addressCapacity_ = 0;
  size_t frontendCount_ = 0;
  size_t addressCount_ = 0;
  std::vector<int32_t> erasedFrontends_;  // unlinked since the last takeErased()
  std::vector<int32_t> erasedAddresses_;
  size_t frontendsAwaitingGrace_ = 0;     // taken, not yet released
  size_t addressesAwaitingGrace_ = 0;
};

}  // namespace nicproxy
