#pragma once
// The fast-path view of a control-plane ServiceTable, as the workers see it: the
// frontend index (VIP, port, protocol -> ServiceEntry; the node's own addresses), plus
// what changes with each sync as a whole: its generation, the endpoints removed
// recently, the backend addresses whose MACs the workers resolve ahead of traffic, and
// the external / LB IPs the workers answer ARP for (and probe for other owners).
//
// Who reads and writes: DpdkProvider publishes one FastServiceTable per sync (a release
// store into DataPlane::services) and frees it after an RCU grace period; workers only
// read it. The FastServiceTable itself is immutable once published. The FrontendIndex
// it points at is not: the control thread updates it in place, key by key, and keeps
// it alive while any published table points at it (see frontend_index.hpp for its
// ordering and reclamation rules). A sync therefore costs the frontends of the service
// ports that changed, not a rebuild of all of them.
#include <cstdint>
#include <memory>
#include <vector>

#include <rte_byteorder.h>

#include "dpdk_app/frontend_index.hpp"

namespace nicproxy {

/// An endpoint removed from one service port: flows of that port to it are torn down
/// (the same address and port may live on in another service).
struct RemovedBackend {
  uint32_t serviceId;
  uint64_t backend;  // backendKey()
  auto operator<=>(const RemovedBackend&) const = default;
};

/// A DPDK port's address as the service table needs it (network order).
struct PortSubnet {
  rte_be32_t address;
  rte_be32_t mask;
};

class FastServiceTable {
 public:
  /// `index` must outlive this table. `removedBackends` need not be sorted.
  FastServiceTable(const FrontendIndex& index, uint64_t generation, std::vector<RemovedBackend> removedBackends,
                   std::shared_ptr<const std::vector<rte_be32_t>> backendAddresses, size_t backendCount,
                   std::shared_ptr<const std::vector<rte_be32_t>> answeredAddresses = nullptr);
  FastServiceTable(const FastServiceTable&) = delete;
  FastServiceTable& operator=(const FastServiceTable&) = delete;

  const ServiceEntry* lookup(const ServiceKey& key) const { return index_.lookup(key); }
  const Backend& backend(const ServiceEntry& entry, uint32_t i) const { return entry.backends[i]; }
  /// LocalAddressFlags of `address`, 0 when it is not ours.
  uint32_t localAddressFlags(rte_be32_t address) const { return index_.localAddressFlags(address); }
  /// Distinct backend addresses, for resolving their MACs ahead of traffic.
  const std::vector<rte_be32_t>& backendAddresses() const { return *backendAddresses_; }
  /// External and LB IPs nicproxy answers ARP for (not the port addresses): probed to find
  /// out whether another host owns one.
  const std::vector<rte_be32_t>& answeredAddresses() const { return *answeredAddresses_; }

  /// Endpoints removed recently from a service port; its flows to them are torn down.
  bool hasRemovedBackends() const { return !removedBackends_.empty(); }
  bool isRemovedBackend(uint32_t serviceId, uint64_t backend) const;
  const std::vector<RemovedBackend>& removedBackends() const { return removedBackends_; }
  /// Process-unique, increasing per sync: workers notice a new table by it.
  uint64_t generation() const { return generation_; }

  size_t frontendCount() const { return index_.frontendCount(); }
  size_t backendCount() const { return backendCount_; }

 private:
  const FrontendIndex& index_;
  uint64_t generation_;
  std::vector<RemovedBackend> removedBackends_;  // sorted
  std::shared_ptr<const std::vector<rte_be32_t>> backendAddresses_;
  size_t backendCount_;
  std::shared_ptr<const std::vector<rte_be32_t>> answeredAddresses_;  // never null
};

}  // namespace nicproxy
