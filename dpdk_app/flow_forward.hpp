#pragma once
// Moving a packet of a known connection on, shared by the burst path (worker.cpp) and the
// frames the kernel sends back from local endpoints (exception_worker.cpp). Per packet on
// a worker; same rules as worker.hpp.
#include <cstdint>

#include <rte_mbuf.h>

#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/packet.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

/// The connection key of a parsed TCP or UDP packet as it arrived.
inline FlowKey keyOf(const ParsedFrame& f) {
  return FlowKey{f.ip->src_addr, f.ip->dst_addr, l4SourcePort(f), l4DestinationPort(f), f.protocol, {0, 0, 0}};
}

/// Sends a packet of connection `index` in `direction`: tracks it, translates it and
/// queues it towards the backend (through the kernel for a local endpoint, kViaKernel)
/// or back to the client; drops and counts what tracking or the next hop refuse.
void forwardOnFlow(WorkerContext& ctx, rte_mbuf* m, const ParsedFrame& f, uint32_t index, FlowDirection direction,
                   uint64_t now);

/// Hands a packet of an accepted connection to a local endpoint (kViaKernel, already
/// translated) to port `port`'s kernel interface: onto its toKernel ring (else dropped as
/// ExceptionRingFull), counted in toKernelPackets. Takes no token from the exception
/// path's bucket, which is for the frames nicproxy does not handle itself (a flood at the
/// node's address must not cut the node's pods off their services). exception_worker.cpp.
void sendFlowToKernel(WorkerContext& ctx, uint16_t port, rte_mbuf* m);

/// The port index of connection `e`'s backend side, without the kViaKernel bit.
inline uint16_t backendPortIndex(const FlowEntry& e) {
  return static_cast<uint16_t>(e.backendPort & ~FlowEntry::kViaKernel);
}

}  // namespace nicproxy
