#pragma once
// The DPDK dataplane's Provider: keeps the workers' FrontendIndex equal to the
// ServiceTable snapshots it is given, and publishes a FastServiceTable per sync.
//
// Who reads and writes: sync() runs on the control thread only. An incremental sync
// changes the frontends of the changed service ports in place in the index (lock-free
// for the workers, see frontend_index.hpp); a full sync, or an index out of room,
// builds a new index off to the side instead (reusing the PortState of every unchanged
// service port). Either way sync() then publishes a new FastServiceTable with one
// release store into DataPlane::services and returns: the workers use the new state
// from then on. What the sync replaced (the old table, the replaced entries and
// PortStates, the erased keys' slots and, after a rebuild, the old index) waits in a
// queue with an RCU token taken after the store (rte_rcu_qsbr_start) and is freed by a
// later sync() or reclaim() once rte_rcu_qsbr_check() says every worker online at that
// time has since reported quiescent, so none can still hold it. Neither side waits for
// the other: a worker that is slow to report only delays the freeing.
//
// The neighbour table (DataPlane::neighbors) is read here, never written: lookups are
// lock-free loads that prove their result belongs to the address (neighbor.hpp), and
// its slots are never deallocated while the plane lives, so the control thread reads it
// as safely as a worker does.
//
// Removed endpoints: an endpoint that disappears from a service port (not one that is
// merely terminating) is listed in the next tables for kRemovedMemory, so that every
// worker's purge scan sees it at least once and resets (TCP) or deletes (UDP) the
// flows still pointing at it.
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "control/config.hpp"
#include "control/provider.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/service_table_writer.hpp"

namespace nicproxy {

class DpdkProvider : public Provider {
 public:
  static constexpr std::chrono::seconds kRemovedMemory{10};

  DpdkProvider(DataPlane& plane, std::vector<Ipv4Cidr> nodePortAddresses, int socket,
               Scheduler defaultScheduler = Scheduler::Maglev);
  /// Unpublishes and frees everything; call after the workers stopped.
  ~DpdkProvider() override;

  std::string name() const override { return "dpdk"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;

  /// Frees what earlier syncs replaced, as far as their grace periods are over.
  /// Cheap; the control loop calls it on every round.
  void reclaim();
  /// Warns, once per (address, MAC), about each external / LB IP nicproxy answers ARP for
  /// that turns out to be another host's (a permanent neighbour, or one that answered
  /// the workers' probe): the workers stop answering for it. Called by sync() and by the
  /// control loop (the probes' answers come between syncs). Returns how many addresses
  /// are owned by another host now.
  size_t checkAnsweredAddresses();
  /// Syncs whose replaced state is still waiting for its grace period.
  size_t awaitingReclaim() const { return pending_.size(); }

  const FastServiceTable* current() const { return current_.get(); }
  /// The control thread's view of the workers' index (null before the first sync); for
  /// the telemetry commands (inspect.hpp), on the control thread only.
  const ServiceTableWriter* writer() const { return writer_.get(); }
  /// The PortState of every service port in the data path (for tests and diagnostics).
  std::map<ServicePortName, std::shared_ptr<const PortState>> portStates() const;
  /// Service ports built and reused by the last sync, and whether it rebuilt the index.
  size_t builtPorts() const { return writer_ != nullptr ? writer_->builtPorts() : 0; }
  size_t reusedPorts() const { return writer_ != nullptr ? writer_->reusedPorts() : 0; }
  bool lastSyncRebuilt() const { return lastRebuilt_; }
  /// Time the last sync took to update or build the index, and to publish the table.
  std::chrono::nanoseconds lastBuildTime() const { return lastBuild_; }
  std::chrono::nanoseconds lastPublishTime() const { return lastPublish_; }

  /// The frontend index's slots in use (FrontendIndex::*SlotsUsed) and its capacity, as
  /// of the last sync() or reclaim(). Any thread (the metrics scrape): relaxed atomics,
  /// each value on its own, never the index itself, which only the control thread reads.
  struct IndexOccupancy {
    uint64_t frontends = 0, frontendCapacity = 0, addresses = 0, addressCapacity = 0;
  };
  IndexOccupancy indexOccupancy() const {
    return {frontendsUsed_.load(std::memory_order_relaxed), frontendCapacity_.load(std::memory_order_relaxed),
            addressesUsed_.load(std::memory_order_relaxed), addressCapacity_.load(std::memory_order_relaxed)};
  }

 private:
  void publishOccupancy();
  std::vector<RemovedBackend> removedBackends(const ServiceTable& table, const ChangedPorts& changed, bool fullSync);

  DataPlane& plane_;
  ServiceTableWriter::Settings settings_;
  std::unique_ptr<ServiceTableWriter> writer_;  // owns the index current_ points at
  std::unique_ptr<FastServiceTable> current_;
  bool lastRebuilt_ = false;
  // What one sync replaced, freed once its grace period (token) is over. In sync
  // order: the slots of an older batch belong to a writer that a newer batch may free.
  struct Replaced {
    uint64_t token = 0;
    std::unique_ptr<FastServiceTable> table;
    ServiceTableWriter* owner = nullptr;  // whose index the slots are in
    ServiceTableWriter::Retired retired;
    std::unique_ptr<ServiceTableWriter> writer;  // replaced by a rebuild
  };
  void release(Replaced& replaced);
  std::deque<Replaced> pending_;
  std::map<RemovedBackend, std::chrono::steady_clock::time_point> recentlyRemoved_;
  std::map<rte_be32_t, MacAddress> ownedByOthers_;  // warned about, with the MAC
  std::chrono::nanoseconds lastBuild_{0};
  std::chrono::nanoseconds lastPublish_{0};
  std::atomic<uint64_t> frontendsUsed_{0}, frontendCapacity_{0}, addressesUsed_{0}, addressCapacity_{0};
};

}  // namespace nicproxy
