#pragma once
// The fast-path view of a control-plane ServiceTable: frontends (VIP, port, protocol)
// in an rte_hash pointing at a ServiceEntry, whose backends and Maglev rows live in the
// service port's PortState; plus the set of addresses this node answers for.
//
// Who reads and writes: the control thread builds a FastServiceTable off to the side
// and never changes it after publishing; workers only read it. Publication and
// reclamation are the DpdkProvider's (one release store, then an RCU grace period).
//
// Incremental updates: build() takes the previous table and reuses the PortState of
// every service port that did not change (shared_ptr), so a change to one service
// builds one PortState (its backend arrays and Maglev rows). The frontend hash and the
// entry array (a few words per frontend) are rebuilt per sync: that is O(frontends)
// inserts, about a millisecond per 10,000 frontends, and keeps the published table
// immutable, which is what makes reading it without locks simple to reason about.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <rte_byteorder.h>
#include <rte_hash.h>

#include "control/config.hpp"
#include "control/model.hpp"
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
/// outlives every table referring to it.
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
};

/// An endpoint removed from one service port: flows of that port to it are torn down
/// (the same address and port may live on in another service).
struct RemovedBackend {
  uint32_t serviceId;
  uint64_t backend;  // backendKey()
  auto operator<=>(const RemovedBackend&) const = default;
};

/// Flags of an address this node owns.
enum LocalAddressFlags : uint32_t {
  kAnswerArp = 1,        // port address, or an external / LB IP inside a port's subnet
  kServiceAddress = 2,   // some frontend uses this address
};

/// A DPDK port's address as the service table needs it (network order).
struct PortSubnet {
  rte_be32_t address;
  rte_be32_t mask;
};

class FastServiceTable {
 public:
  /// Builds the fast-path tables. `ports` gives each DPDK port's address (NodePorts are
  /// served there, limited to `nodePortAddresses` when that is not empty). `previous`
  /// (may be null) lends its PortStates for the ports that did not change.
  /// `removedBackends` are endpoints deleted recently from a port, whose connections
  /// through that port the workers reset (TCP) or drop (UDP).
  /// Throws std::runtime_error when DPDK cannot allocate the hashes.
  static std::unique_ptr<FastServiceTable> build(const ServiceTable& table, const std::vector<PortSubnet>& ports,
                                                 const std::vector<Ipv4Cidr>& nodePortAddresses, int socket,
                                                 Scheduler defaultScheduler = Scheduler::Maglev,
                                                 const FastServiceTable* previous = nullptr,
                                                 std::vector<RemovedBackend> removedBackends = {});
  ~FastServiceTable();
  FastServiceTable(const FastServiceTable&) = delete;
  FastServiceTable& operator=(const FastServiceTable&) = delete;

  const ServiceEntry* lookup(const ServiceKey& key) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(frontends_, &key, &data) < 0) return nullptr;
    return &entries_[reinterpret_cast<uintptr_t>(data)];
  }
  const Backend& backend(const ServiceEntry& entry, uint32_t i) const { return entry.backends[i]; }
  /// LocalAddressFlags of `address`, 0 when it is not ours.
  uint32_t localAddressFlags(rte_be32_t address) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(localAddresses_, &address, &data) < 0) return 0;
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
  }
  /// Backend addresses, for resolving their MACs ahead of traffic: distinct within a
  /// service port; an address shared by several ports appears once per port (the
  /// neighbour table's request timers make the repeats cheap, and not merging keeps a
  /// sync O(ports) instead of a sort over every endpoint).
  const std::vector<rte_be32_t>& backendAddresses() const { return backendAddresses_; }

  /// Endpoints removed recently from a service port; its flows to them are torn down.
  bool hasRemovedBackends() const { return !removedBackends_.empty(); }
  bool isRemovedBackend(uint32_t serviceId, uint64_t backend) const;
  const std::vector<RemovedBackend>& removedBackends() const { return removedBackends_; }
  /// Process-unique, increasing per build: workers notice a new table by it.
  uint64_t generation() const { return generation_; }

  const std::map<ServicePortName, std::shared_ptr<const PortState>>& portStates() const { return portStates_; }
  size_t frontendCount() const { return entries_.size(); }
  size_t backendCount() const { return backendTotal_; }
  size_t reusedPorts() const { return reusedPorts_; }
  size_t builtPorts() const { return builtPorts_; }

 private:
  FastServiceTable() = default;

  rte_hash* frontends_ = nullptr;       // ServiceKey -> index into entries_
  rte_hash* localAddresses_ = nullptr;  // address -> LocalAddressFlags
  std::vector<ServiceEntry> entries_;
  std::map<ServicePortName, std::shared_ptr<const PortState>> portStates_;
  std::vector<rte_be32_t> backendAddresses_;
  std::vector<RemovedBackend> removedBackends_;  // sorted
  uint64_t generation_ = 0;
  size_t backendTotal_ = 0;
  size_t reusedPorts_ = 0;
  size_t builtPorts_ = 0;
};

}  // namespace nicproxy
