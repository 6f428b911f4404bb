#include "dpdk_app/service_table.hpp"

#include <algorithm>

namespace nicproxy {

FastServiceTable::FastServiceTable(const FrontendIndex& index, uint64_t generation,
                                   std::vector<RemovedBackend> removedBackends,
                                   std::shared_ptr<const std::vector<rte_be32_t>> backendAddresses,
                                   size_t backendCount,
                                   std::shared_ptr<const std::vector<rte_be32_t>> answeredAddresses)
    : index_(index), generation_(generation), removedBackends_(std::move(removedBackends)),
      backendAddresses_(std::move(backendAddresses)), backendCount_(backendCount),
      answeredAddresses_(answeredAddresses != nullptr ? std::move(answeredAddresses)
                                                      : std::make_shared<const std::vector<rte_be32_t>>()) {
  std::sort(removedBackends_.begin(), removedBackends_.end());
}

bool FastServiceTable::isRemovedBackend(uint32_t serviceId, uint64_t backend) const {
  return std::binary_search(removedBackends_.begin(), removedBackends_.end(), RemovedBackend{serviceId, backend});
}

}  // namespace nicproxy
