// The workers' half of the exception path (exception_path.hpp). SKELETON: part A fills it.
#include "dpdk_app/exception_path.hpp"

namespace nicproxy {

void sendToKernel(WorkerContext& ctx, uint16_t port, rte_mbuf* m, DropReason otherwise) {
  (void)port;
  dropPacket(ctx, m, otherwise);
}

uint16_t processFromKernel(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  (void)ctx;
  (void)services;
  (void)now;
  return 0;
}

}  // namespace nicproxy
