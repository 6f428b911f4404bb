#include "dpdk_app/dpdk_provider.hpp"

#include <algorithm>
#include <atomic>

#include <spdlog/spdlog.h>

namespace nicproxy {

DpdkProvider::DpdkProvider(DataPlane& plane, std::vector<Ipv4Cidr> nodePortAddresses, int socket,
                           Scheduler defaultScheduler)
    : plane_(plane) {
  for (const PortInfo& p : plane_.ports) settings_.ports.push_back(PortSubnet{p.address, p.mask});
  settings_.nodePortAddresses = std::move(nodePortAddresses);
  settings_.socket = socket;
  settings_.defaultScheduler = defaultScheduler;
}

std::map<ServicePortName, std::shared_ptr<const PortState>> DpdkProvider::portStates() const {
  std::map<ServicePortName, std::shared_ptr<const PortState>> states;
  if (writer_ == nullptr) return states;
  for (const auto& [name, record] : writer_->records()) states.emplace(name, record->state);
  return states;
}

DpdkProvider::~DpdkProvider() {
  plane_.services.store(nullptr, std::memory_order_release);
  for (Replaced& replaced : pending_) release(replaced);  // the workers have stopped
}

void DpdkProvider::release(Replaced& replaced) {
  if (replaced.owner != nullptr) replaced.owner->release(replaced.retired);
  replaced = Replaced{};  // frees the records, the table and a replaced writer
}

void DpdkProvider::reclaim() {
  while (!pending_.empty() && rte_rcu_qsbr_check(plane_.qsbr, pending_.front().token, false) == 1) {
    release(pending_.front());
    pending_.pop_front();
  }
  publishOccupancy();
}

void DpdkProvider::publishOccupancy() {
  if (writer_ == nullptr) return;
  const FrontendIndex& index = writer_->index();
  frontendsUsed_.store(index.frontendSlotsUsed(), std::memory_order_relaxed);
  frontendCapacity_.store(index.frontendCapacity(), std::memory_order_relaxed);
  addressesUsed_.store(index.addressSlotsUsed(), std::memory_order_relaxed);
  addressCapacity_.store(index.addressCapacity(), std::memory_order_relaxed);
}

std::vector<RemovedBackend> DpdkProvider::removedBackends(const ServiceTable& table, const ChangedPorts& changed,
                                                          bool fullSync) {
  const auto now = std::chrono::steady_clock::now();
  if (writer_ != nullptr) {
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
    const auto& records = writer_->records();
    if (fullSync) {
      for (const auto& [name, record] : records) compare(name, *record->state);
    } else {
      for (const ServicePortName& name : changed) {
        const auto it = records.find(name);
        if (it != records.end()) compare(name, *it->second->state);
      }
    }
  }
  std::erase_if(recentlyRemoved_, [&](const auto& item) { return now - item.second > kRemovedMemory; });
  std::vector<RemovedBackend> result;
  for (const auto& [removed, when] : recentlyRemoved_) result.push_back(removed);
  return result;
}

void DpdkProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  static std::atomic<uint64_t> generations{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<RemovedBackend> removed = removedBackends(table, changed, fullSync);
  // An incremental update changes the index in place (and has changed nothing when it
  // returns false); otherwise a new writer and index are built off to the side.
  reclaim();
  std::unique_ptr<ServiceTableWriter> formerWriter;
  lastRebuilt_ = writer_ == nullptr || fullSync || !writer_->update(table, changed);
  if (lastRebuilt_) {
    std::unique_ptr<ServiceTableWriter> rebuilt = ServiceTableWriter::rebuild(settings_, table, writer_.get());
    formerWriter = std::move(writer_);
    writer_ = std::move(rebuilt);
  }
  auto next = std::make_unique<FastServiceTable>(writer_->index(),
                                                 generations.fetch_add(1, std::memory_order_relaxed) + 1,
                                                 std::move(removed), writer_->backendAddresses(),
                                                 writer_->backendCount(), writer_->answeredAddresses());
  const auto built = std::chrono::steady_clock::now();
  // release: the table is completely built before a worker can load its pointer;
  // workers load it with acquire (runWorker). (The index's own keys were published by
  // rte_hash with release stores as they were written.)
  plane_.services.store(next.get(), std::memory_order_release);
  Replaced replaced;
  replaced.table = std::move(current_);
  replaced.owner = writer_.get();
  replaced.retired = writer_->takeRetired();
  replaced.writer = std::move(formerWriter);
  // The token is taken after every unlink and the store above: a worker that can
  // still hold anything in `replaced` loaded it before, and has not reported
  // quiescent since, so rte_rcu_qsbr_check() on this token waits for it.
  replaced.token = rte_rcu_qsbr_start(plane_.qsbr);
  pending_.push_back(std::move(replaced));
  current_ = std::move(next);
  reclaim();
  checkAnsweredAddresses();
  const auto done = std::chrono::steady_clock::now();
  lastBuild_ = built - start;
  lastPublish_ = done - built;
  spdlog::info("dpdk: synced generation {}: {} frontends, {} backends; {} service ports changed{}, {} rebuilt, {} "
               "reused, {} removed endpoints; {} us to update, {} us to publish; {} syncs awaiting reclaim",
               table.generation(), current_->frontendCount(), current_->backendCount(), changed.size(),
               lastRebuilt_ ? " (new index)" : "", writer_->builtPorts(), writer_->reusedPorts(),
               current_->removedBackends().size(),
               std::chrono::duration_cast<std::chrono::microseconds>(lastBuild_).count(),
               std::chrono::duration_cast<std::chrono::microseconds>(lastPublish_).count(), pending_.size());
}

size_t DpdkProvider::checkAnsweredAddresses() {
  if (current_ == nullptr) return 0;
  std::map<rte_be32_t, MacAddress> owned;
  for (rte_be32_t address : current_->answeredAddresses()) {
    rte_ether_addr mac;
    // Lock-free and read-only: see the header on why the control thread may do this.
    if (!plane_.neighbors.lookup(address, mac)) continue;
    MacAddress bytes;
    std::copy(std::begin(mac.addr_bytes), std::end(mac.addr_bytes), bytes.begin());
    owned.emplace(address, bytes);
    const auto before = ownedByOthers_.find(address);
    if (before != ownedByOthers_.end() && before->second == bytes) continue;
    const ServicePortName* port = writer_->answeringPort(address);
    spdlog::warn("dpdk: {} (an external or LB IP of {}) belongs to {} with MAC {}: another host answers ARP "
                 "for it, so nicproxy does not; fix the service or that host",
                 formatIpv4(rte_be_to_cpu_32(address)), port != nullptr ? port->toString() : "a service",
                 plane_.neighbors.isPermanent(address) ? "the permanent neighbour" : "a neighbour",
                 formatMac(bytes));
  }
  ownedByOthers_ = std::move(owned);
  return ownedByOthers_.size();
}

}  // namespace nicproxy
