#include "dpdk_app/dpdk_provider.hpp"

#include <spdlog/spdlog.h>

namespace nicproxy {

DpdkProvider::DpdkProvider(DataPlane& plane, std::vector<Ipv4Cidr> nodePortAddresses, int socket)
    : plane_(plane), nodePortAddresses_(std::move(nodePortAddresses)), socket_(socket) {
  for (const PortInfo& p : plane_.ports) subnets_.push_back(PortSubnet{p.address, p.mask});
}

DpdkProvider::~DpdkProvider() { plane_.services.store(nullptr, std::memory_order_release); }

void DpdkProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  // Every sync rebuilds the whole fast-path table for now; the snapshot tells which
  // ports changed, which an incremental build will use.
  std::unique_ptr<FastServiceTable> next = FastServiceTable::build(table, subnets_, nodePortAddresses_, socket_);
  // release: the table is completely built before a worker can load its pointer.
  plane_.services.store(next.get(), std::memory_order_release);
  // Wait until every online worker has passed a quiescent state: none can still be
  // using the previous table after this returns.
  rte_rcu_qsbr_synchronize(plane_.qsbr, RTE_QSBR_THRID_INVALID);
  current_ = std::move(next);
  spdlog::info("dpdk: synced generation {}: {} frontends, {} backends ({} service ports changed{})",
               table.generation(), current_->frontendCount(), current_->backendCount(), changed.size(),
               fullSync ? ", full sync" : "");
}

}  // namespace nicproxy
