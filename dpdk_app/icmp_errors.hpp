#pragma once
// ICMP errors about NATed connections: destination unreachable (fragmentation needed
// included), time exceeded and parameter problem that quote a packet of a connection in
// the flow table are translated to the other side, as Linux conntrack's NAT does for
// "related" ICMP. The quoted packet turned back into the one the receiver sent, the outer
// packet made to come from the address that receiver talks to:
//
//   backend side (to the SNAT address, quoting SNAT:port -> backend:port, what nicproxy sent):
//     to the client: frontend -> client, quoting client:port -> frontend:port
//   client side (to a frontend, quoting frontend:port -> client:port, a translated reply):
//     to the backend: SNAT address -> backend, quoting backend:port -> SNAT:port
//
// whoever sent the error (a router on the way, or the peer itself). An error changes no
// connection state and refreshes no timer. Path-MTU discovery through nicproxy depends
// on this: "fragmentation needed" from a router on the client's path reaches the backend.
//
// Which worker: the connection belongs to one worker. A backend-side error names it by
// the SNAT port it quotes (port % workers, flow_table.hpp) and goes straight there. A
// client-side error does not (RSS put the client's packets on a queue by their 5-tuple,
// which the error's outer header does not carry): a worker that does not have the
// connection hands it on to the next worker, through the redirect rings, until one has it
// or every worker has looked (at most workers - 1 hand-overs, for rare packets). The
// count travels in the high byte of mbuf->port on the ring (see processRedirected()).
//
// Same rules as worker.hpp: per lcore, never blocks, throws, allocates or logs.
#include <cstdint>

#include "dpdk_app/icmp_quote.hpp"
#include "dpdk_app/packet.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

/// Translates the ICMP error `f` (isIcmpError() of its type) received on port index
/// `rxPort`, hands it to the worker that may own its connection, or drops and counts it.
void handleIcmpError(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort, rte_mbuf* m,
                     const ParsedFrame& f, uint64_t now);

}  // namespace nicproxy
