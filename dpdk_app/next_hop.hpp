#pragma once
// Where a packet leaves and to which MAC: the port whose subnet holds the destination
// (else the first port with a gateway), and the next hop's MAC from the neighbour table,
// asking ARP while it is unknown. Per packet on a worker; same rules as worker.hpp.
#include <cstdint>

#include <rte_byteorder.h>
#include <rte_ether.h>

#include "dpdk_app/counters.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

/// Where a packet to `destination` leaves, and the next hop's address.
struct Route {
  uint16_t port;
  rte_be32_t nextHop;
};

/// False when no port's subnet holds `destination` and no port has a gateway.
inline bool route(const DataPlane& plane, rte_be32_t destination, Route& out) {
  for (uint16_t i = 0; i < plane.ports.size(); ++i) {
    const PortInfo& p = plane.ports[i];
    if ((destination & p.mask) == (p.address & p.mask)) {
      out = Route{i, destination};
      return true;
    }
  }
  for (uint16_t i = 0; i < plane.ports.size(); ++i) {
    if (plane.ports[i].gateway != 0) {
      out = Route{i, plane.ports[i].gateway};
      return true;
    }
  }
  return false;
}

/// The slow part of forwarding towards a backend, taken until the next hop's MAC is known:
/// routes the backend's address, asks ARP when it is time, and on success remembers the
/// next hop's neighbour slot and its generation in the entry so that later packets skip
/// all of this (until the slot changes hands or the neighbour turns unresolved). False
/// (with `reason`) when the packet cannot leave yet.
bool resolveBackendHop(WorkerContext& ctx, FlowEntry& e, uint64_t now, rte_ether_addr& mac, DropReason& reason);

/// The MAC of connection `e`'s next hop towards its backend: through the neighbour slot
/// the entry keeps while its generation still matches (one atomic load), else the slow
/// path above. False (with `reason`) when the packet cannot leave yet. Not for a local
/// endpoint reached through the kernel (FlowEntry::kViaKernel): it has no next hop here.
inline bool backendHopMac(WorkerContext& ctx, FlowEntry& e, uint64_t now, rte_ether_addr& mac, DropReason& reason) {
  if (e.neighborSlot != FlowEntry::kNoNeighborSlot &&
      ctx.plane->neighbors.lookupSlot(e.neighborSlot, e.neighborGeneration, mac)) {
    return true;
  }
  reason = DropReason::NeighborUnresolved;
  return resolveBackendHop(ctx, e, now, mac, reason);
}

}  // namespace nicproxy
