#pragma once
// The DPDK dataplane's Provider: turns a ServiceTable snapshot into a
// FastServiceTable and publishes it to the workers.
//
// Who reads and writes: sync() runs on the control thread only. It builds the new
// table off to the side (reusing the PortState of every unchanged service port),
// publishes it with one release store into DataPlane::services, waits for an RCU
// grace period (every online worker has reported quiescent, so none still holds the
// old pointer) and only then frees the old table, and with it the PortStates no newer
// table shares. Workers never wait for the control thread.
//
// Removed endpoints: an endpoint that disappears from a service port (not one that is
// merely terminating) is listed in the next tables for kRemovedMemory, so that every
// worker's purge scan sees it at least once and resets (TCP) or deletes (UDP) the
// flows still pointing at it.
#include <chrono>
#include <map>
#include <memory>
#include <vector>

#include "control/config.hpp"
#include "control/provider.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/service_table.hpp"

namespace nicproxy {

class DpdkProvider : public Provider {
 public:
  static constexpr std::chrono::seconds kRemovedMemory{10};

  DpdkProvider(DataPlane& plane, std::vector<Ipv4Cidr> nodePortAddresses, int socket,
               Scheduler defaultScheduler = Scheduler::Maglev);
  /// Unpublishes and frees the current table; call after the workers stopped.
  ~DpdkProvider() override;

  std::string name() const override { return "dpdk"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;

  const FastServiceTable* current() const { return current_.get(); }
  /// Time the last sync took to build and to publish (wait for the grace period).
  std::chrono::nanoseconds lastBuildTime() const { return lastBuild_; }
  std::chrono::nanoseconds lastPublishTime() const { return lastPublish_; }

 private:
  std::vector<RemovedBackend> removedBackends(const ServiceTable& table, const ChangedPorts& changed, bool fullSync);

  DataPlane& plane_;
  std::vector<PortSubnet> subnets_;
  std::vector<Ipv4Cidr> nodePortAddresses_;
  int socket_;
  Scheduler defaultScheduler_;
  std::unique_ptr<FastServiceTable> current_;
  std::map<RemovedBackend, std::chrono::steady_clock::time_point> recentlyRemoved_;
  std::chrono::nanoseconds lastBuild_{0};
  std::chrono::nanoseconds lastPublish_{0};
};

}  // namespace nicproxy
