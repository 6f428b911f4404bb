#include "dpdk_app/dpdk_provider.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

namespace nicproxy {

DpdkProvider::DpdkProvider(DataPlane& plane, std::vector<Ipv4Cidr> nodePortAddresses, int socket,
                           Scheduler defaultScheduler)
    : plane_(plane), nodePortAddresses_(std::move(nodePortAddresses)), socket_(socket),
      defaultScheduler_(defaultScheduler) {
  for (const PortInfo& p : plane_.ports) subnets_.push_back(PortSubnet{p.address, p.mask});
}

DpdkProvider::~DpdkProvider() { plane_.services.store(nullptr, std::memory_order_release); }

std::vector<RemovedBackend> DpdkProvider::removedBackends(const ServiceTable& table, const ChangedPorts& changed,
                                                          bool fullSync) {
  const auto now = std::chrono::steady_clock::now();
  if (current_ != nullptr) {
    auto compare = [&](const ServicePortName& name, const PortState& before) {
      const ServicePort* after = table.find(name);
      std::vector<uint64_t> keys;
      if (after != nullptr) {
        const uint8_t protocol = ipProtocolOf(after->name.protocol);
        for (const Endpoint& e : after->endpoints) keys.push_back(backendKey(e.address, e.port, protocol));
        std::sort(keys.begin(), keys.end());
      }
      for (uint64_t key : before.backendKeys) {
        if (!std::binary_search(keys.begin(), keys.end(), key)) recentlyRemoved_[{before.serviceId, key}] = now;
      }
      // Back again (any condition): its new flows must not be torn down.
      for (uint64_t key : keys) recentlyRemoved_.erase({before.serviceId, key});
    };
    if (fullSync) {
      for (const auto& [name, state] : current_->portStates()) compare(name, *state);
    } else {
      for (const ServicePortName& name : changed) {
        const auto it = current_->portStates().find(name);
        if (it != current_->portStates().end()) compare(name, *it->second);
      }
    }
  }
  std::erase_if(recentlyRemoved_, [&](const auto& item) { return now - item.second > kRemovedMemory; });
  std::vector<RemovedBackend> result;
  for (const auto& [removed, when] : recentlyRemoved_) result.push_back(removed);
  return result;
}

void DpdkProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_ptr<FastServiceTable> next =
      FastServiceTable::build(table, subnets_, nodePortAddresses_, socket_, defaultScheduler_, current_.get(),
                              removedBackends(table, changed, fullSync));
  const auto built = std::chrono::steady_clock::now();
  // release: the table (and every PortState it points at) is completely built before a
  // worker can load its pointer; workers load it with acquire (runWorker).
  plane_.services.store(next.get(), std::memory_order_release);
  // Wait until every online worker has passed a quiescent state: none can still be
  // using the previous table after this returns, so freeing it (and the PortStates
  // only it held) is safe.
  rte_rcu_qsbr_synchronize(plane_.qsbr, RTE_QSBR_THRID_INVALID);
  current_ = std::move(next);
  const auto done = std::chrono::steady_clock::now();
  lastBuild_ = built - start;
  lastPublish_ = done - built;
  spdlog::info("dpdk: synced generation {}: {} frontends, {} backends; {} service ports changed{}, {} rebuilt, {} "
               "reused, {} removed endpoints; build {} us, publish {} us",
               table.generation(), current_->frontendCount(), current_->backendCount(), changed.size(),
               fullSync ? " (full sync)" : "", current_->builtPorts(), current_->reusedPorts(),
               current_->removedBackends().size(),
               std::chrono::duration_cast<std::chrono::microseconds>(lastBuild_).count(),
               std::chrono::duration_cast<std::chrono::microseconds>(lastPublish_).count());
}

}  // namespace nicproxy
