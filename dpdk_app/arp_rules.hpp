#pragma once
// What a received ARP frame means: whether nicproxy answers a request for its target,
// and what its sender tells the neighbour table. handleArp() (local_replies.cpp) acts
// on both. Per packet on a worker; same rules as worker.hpp (never blocks, allocates
// only mbufs from the worker's pool, never logs).
#include <cstdint>

#include <rte_arp.h>
#include <rte_byteorder.h>

#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/neighbor.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

enum class ArpTarget : uint8_t {
  NotOurs,   // nicproxy does not answer for it
  Ours,      // the port address, or an external / LB IP in the port's subnet: answered
  Conflict,  // an external / LB IP that another host answers for: not answered (arp_conflict)
};

/// Whether nicproxy answers ARP for `target` on port index `port`. An external / LB IP
/// in the port's subnet is answered unless it is a gateway, another port's address, a
/// permanent neighbour or a neighbour that answered nicproxy's own request: those hosts
/// answer for themselves, and a second answer would take their address over.
ArpTarget arpTargetOf(const DataPlane& plane, const FastServiceTable* services, uint16_t port, rte_be32_t target);

/// Tells the neighbour table what `arp`, received on `port`, says of its sender: sets the
/// MAC of a neighbour nicproxy asked for (Heard::Solicited), confirms one whose MAC it
/// repeats, and sends a request at once when it claims another MAC (Heard::Differs).
/// Senders off the port's subnet and senders with no entry change nothing.
NeighborTable::Heard hearArpSender(WorkerContext& ctx, uint16_t port, const rte_arp_hdr& arp, uint64_t now);

}  // namespace nicproxy
