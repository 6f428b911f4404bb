#pragma once
// The control thread's side of the fast-path service table: it owns a FrontendIndex
// and keeps it equal to a ServiceTable, changing only the keys of the service ports
// that changed.
//
// Who reads and writes: the control thread only (DpdkProvider). Workers read the
// FrontendIndex, never this. Everything a worker can reach (a PortFrontends record, its
// ServiceEntries and PortState, an erased key's slot) that an update replaces is handed
// to the caller by takeRetired(), to be released once an RCU grace period has passed.
//
// Incremental or full: update() applies the changed ports in place. When the index has
// no room for them, update() returns false and the caller makes a new writer with
// rebuild() (room for twice as many), which is also what a full sync does: it builds a
// fresh index off to the side, reusing every PortState whose ServicePort did not
// change, so that their Maglev tables (and flows' backends) stay as they were.
#include <array>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "control/model.hpp"
#include "dpdk_app/frontend_index.hpp"
#include "dpdk_app/service_table.hpp"

namespace nicproxy {

/// What one service port puts into the index: its PortState, its ServiceEntries (the
/// index points at them, so a record never changes after it is built) and its frontends.
struct PortFrontends {
  enum EntryKind : uint8_t { kInternal = 0, kExternal = 1, kBalancer = 2 };
  struct Frontend {
    ServiceKey key;
    EntryKind entry;
    bool answerArp;  // an external / LB IP inside a port's subnet, or a NodePort's port address
  };
  std::shared_ptr<const PortState> state;
  std::array<ServiceEntry, 3> entries{};
  std::vector<Frontend> frontends;
};

class ServiceTableWriter {
 public:
  struct Settings {
    std::vector<PortSubnet> ports;
    std::vector<Ipv4Cidr> nodePortAddresses;  // empty: NodePorts on every port address
    int socket = 0;
    Scheduler defaultScheduler = Scheduler::Maglev;
  };

  /// A writer whose index holds all of `table`. `previous` (may be null) lends the
  /// PortStates of the ports that did not change. Throws std::runtime_error when
  /// DPDK cannot allocate the index.
  static std::unique_ptr<ServiceTableWriter> rebuild(const Settings& settings, const ServiceTable& table,
                                                     const ServiceTableWriter* previous);

  /// Brings the index in line with `table` for the ports in `changed`. Returns false,
  /// having changed nothing, when the index has no room for them.
  bool update(const ServiceTable& table, const ChangedPorts& changed);

  const FrontendIndex& index() const { return *index_; }
  /// Distinct backend addresses; a new vector only when the set changed.
  std::shared_ptr<const std::vector<rte_be32_t>> backendAddresses();
  size_t backendCount() const { return backendTotal_; }
  /// External and LB IPs inside a port's subnet, which nicproxy answers ARP for (port
  /// addresses excluded); a new vector only when the set changed.
  std::shared_ptr<const std::vector<rte_be32_t>> answeredAddresses();
  /// The first service port (in name order) whose frontend makes nicproxy answer ARP for
  /// `address`; nullptr when none. A scan of every record: for rare messages only.
  const ServicePortName* answeringPort(rte_be32_t address) const;
  const std::map<ServicePortName, std::shared_ptr<const PortFrontends>>& records() const { return records_; }
  /// Ports built and reused by the last update() or rebuild().
  size_t builtPorts() const { return builtPorts_; }
  size_t reusedPorts() const { return reusedPorts_; }

  /// What the updates since the last call replaced or unlinked. Keep it until an RCU
  /// grace period that began after the update has passed (every worker may still hold
  /// what it looked up before), then call release() on it.
  struct Retired {
    std::vector<std::shared_ptr<const PortFrontends>> records;
    FrontendIndex::ErasedSlots slots;
  };
  Retired takeRetired();
  void release(const Retired& retired) { index_->releaseErased(retired.slots); }

 private:
  explicit ServiceTableWriter(const Settings& settings, size_t frontends, size_t addresses);

  struct Claim {
    const PortFrontends* record;
    PortFrontends::EntryKind entry;
  };
  struct AddressUse {
    uint32_t frontends = 0;  // frontends on this address
    uint32_t arp = 0;        // of which answer ARP for it
  };
  struct BackendAddress {
    uint32_t ports = 0;      // service ports with a backend there
    uint32_t position = 0;   // in backendList_
  };

  /// The record for `port`: `former` itself when it still describes the port.
  static std::shared_ptr<const PortFrontends> buildRecord(const Settings& settings, const ServicePortPtr& port,
                                                          const std::shared_ptr<const PortFrontends>& former);
  void addRecord(const PortFrontends& record);
  void removeRecord(const PortFrontends& record);
  /// Installs the first claimant (in service-port name order) of each touched key.
  void settleTouched();
  /// Keeps `address` in (or out of) the answered-address list.
  void setAnswered(rte_be32_t address, bool answered);

  Settings settings_;
  std::unique_ptr<FrontendIndex> index_;
  std::map<ServicePortName, std::shared_ptr<const PortFrontends>> records_;
  // Every claim on a frontend key: two service ports can name the same frontend; the
  // first in name order gets it, as a stable rule (the API server normally prevents
  // this for cluster IPs).
  std::unordered_map<uint64_t, std::vector<Claim>> claims_;
  std::unordered_map<rte_be32_t, AddressUse> addressUses_;
  std::unordered_map<rte_be32_t, BackendAddress> backendAddresses_;
  std::vector<rte_be32_t> backendList_;
  std::shared_ptr<const std::vector<rte_be32_t>> publishedBackendList_;
  std::unordered_map<rte_be32_t, uint32_t> answeredPositions_;  // address -> position in answeredList_
  std::vector<rte_be32_t> answeredList_;
  std::shared_ptr<const std::vector<rte_be32_t>> publishedAnswered_;
  size_t backendTotal_ = 0;
  std::vector<uint64_t> touchedKeys_;
  std::vector<rte_be32_t> touchedAddresses_;
  std::vector<std::shared_ptr<const PortFrontends>> retired_;
  size_t builtPorts_ = 0;
  size_t reusedPorts_ = 0;
};

}  // namespace nicproxy
