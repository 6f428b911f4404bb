#include "dpdk_app/next_hop.hpp"

#include "dpdk_app/local_replies.hpp"

namespace nicproxy {

static_assert(NeighborTable::kSlots <= FlowEntry::kNoNeighborSlot, "a neighbour slot fits FlowEntry::neighborSlot");

[[gnu::noinline, gnu::cold]] bool resolveBackendHop(WorkerContext& ctx, FlowEntry& e, uint64_t now,
                                                    rte_ether_addr& mac, DropReason& reason) {
  if ((e.backendPort & FlowEntry::kViaKernel) != 0) {
    // A local endpoint has no next hop on the wire: its packets go to the kernel
    // (forwardOnFlow, handleIcmpError). Never route it, nor lose the bit.
    reason = DropReason::NoRoute;
    return false;
  }
  Route r;
  if (!route(*ctx.plane, e.reverse.sourceAddress, r)) {
    reason = DropReason::NoRoute;
    return false;
  }
  NeighborTable& neighbors = ctx.plane->neighbors;
  NeighborTable::Ref ref;
  if (!neighbors.find(r.nextHop, ref, mac)) {
    const Timeouts& t = ctx.plane->timeouts;
    if (neighbors.claimRequest(r.nextHop, now, t.arpRetry, t.arpRefresh)) sendArpRequest(ctx, r.port, r.nextHop);
    reason = DropReason::NeighborUnresolved;
    return false;
  }
  // (slot, generation): forwardOnFlow() uses the slot only while it is in this tenure.
  e.neighborSlot = static_cast<uint16_t>(ref.slot);
  e.neighborGeneration = ref.generation;
  e.backendPort = r.port;
  return true;
}

}  // namespace nicproxy
