#pragma once
// The fast-path view of a control-plane ServiceTable: frontends (VIP, port,
// protocol) in an rte_hash pointing at a slice of one backend array, plus the set
// of addresses this node answers for.
//
// Who reads and writes: the control thread builds a FastServiceTable off to the side
// and never changes it after publishing; workers only read it. Publication and
// reclamation are the DpdkProvider's (one release store, then an RCU grace period).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_byteorder.h>
#include <rte_hash.h>

#include "control/model.hpp"

namespace nicproxy {

struct ServiceKey {
  rte_be32_t address;
  rte_be16_t port;
  uint8_t protocol;  // IPPROTO_TCP / IPPROTO_UDP
  uint8_t padding;
};
static_assert(sizeof(ServiceKey) == 8);

struct Backend {
  rte_be32_t address;
  rte_be16_t port;
  uint16_t padding;
};

struct ServiceEntry {
  uint32_t firstBackend = 0;  // index into the backend array
  uint32_t backendCount = 0;  // 0: reject new connections (kube-proxy's REJECT)
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
  /// served there, limited to `nodePortAddresses` when that is not empty).
  /// Throws std::runtime_error when DPDK cannot allocate the hashes.
  static std::unique_ptr<FastServiceTable> build(const ServiceTable& table,
                                                 const std::vector<PortSubnet>& ports,
                                                 const std::vector<Ipv4Cidr>& nodePortAddresses,
                                                 int socket);
  ~FastServiceTable();
  FastServiceTable(const FastServiceTable&) = delete;
  FastServiceTable& operator=(const FastServiceTable&) = delete;

  const ServiceEntry* lookup(const ServiceKey& key) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(frontends_, &key, &data) < 0) return nullptr;
    return &entries_[reinterpret_cast<uintptr_t>(data)];
  }
  const Backend& backend(const ServiceEntry& entry, uint32_t i) const {
    return backends_[entry.firstBackend + i];
  }
  /// LocalAddressFlags of `address`, 0 when it is not ours.
  uint32_t localAddressFlags(rte_be32_t address) const {
    void* data = nullptr;
    if (rte_hash_lookup_data(localAddresses_, &address, &data) < 0) return 0;
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
  }
  /// Distinct backend addresses, for resolving their MACs ahead of traffic.
  const std::vector<rte_be32_t>& backendAddresses() const { return backendAddresses_; }

  size_t frontendCount() const { return entries_.size(); }
  size_t backendCount() const { return backends_.size(); }

 private:
  FastServiceTable() = default;

  rte_hash* frontends_ = nullptr;       // ServiceKey -> index into entries_
  rte_hash* localAddresses_ = nullptr;  // address -> LocalAddressFlags
  std::vector<ServiceEntry> entries_;
  std::vector<Backend> backends_;
  std::vector<rte_be32_t> backendAddresses_;
};

}  // namespace nicproxy
