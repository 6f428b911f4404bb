// The workers' half of the exception path (exception_path.hpp): what a worker hands to
// the kernel interface of a port, and what it does with the frames the kernel sends out
// of it. Per packet on a worker; same rules as worker.hpp.
#include <rte_ring.h>

#include "dpdk_app/arp_rules.hpp"
#include "dpdk_app/exception_path.hpp"
#include "dpdk_app/flow_forward.hpp"
#include "dpdk_app/local_replies.hpp"
#include "dpdk_app/icmp_errors.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

namespace {

/// One multi-producer enqueue for what the worker gathered for port `port`: a worker
/// contends for the ring's producer head once per burst rather than once per frame.
void flushKernelBatch(WorkerContext& ctx, uint16_t port) {
  KernelBatch& batch = ctx.kernelBatches[port];
  const unsigned taken = rte_ring_mp_enqueue_burst(ctx.plane->ports[port].toKernel,
                                                   reinterpret_cast<void* const*>(batch.packets.data()), batch.count,
                                                   nullptr);
  for (unsigned i = taken; i < batch.count; ++i) dropPacket(ctx, batch.packets[i], DropReason::ExceptionRingFull);
  ctx.counters.ports[port].toKernelPackets += taken;
  batch.count = 0;
}

/// Queues `m` for port `port`'s toKernel ring (which exists) until flushToKernel().
void enqueueToKernel(WorkerContext& ctx, uint16_t port, rte_mbuf* m) {
  KernelBatch& batch = ctx.kernelBatches[port];
  if (batch.count == batch.packets.size()) flushKernelBatch(ctx, port);
  batch.packets[batch.count++] = m;
}

}  // namespace

void flushToKernel(WorkerContext& ctx) {
  for (uint16_t port = 0; port < ctx.plane->ports.size(); ++port) {
    if (ctx.kernelBatches[port].count != 0) flushKernelBatch(ctx, port);
  }
}

void sendToKernel(WorkerContext& ctx, uint16_t port, rte_mbuf* m, DropReason otherwise) {
  if (ctx.plane->ports[port].toKernel == nullptr) {
    dropPacket(ctx, m, otherwise);
    return;
  }
  // Per worker, so that a flood of frames nicproxy does not handle (a broadcast storm,
  // a scan of the node's ports) costs the exception thread and the kernel a bounded rate.
  if (!ctx.exceptionLimiter.allow(ctx.now)) {
    dropPacket(ctx, m, DropReason::ExceptionRateLimited);
    return;
  }
  enqueueToKernel(ctx, port, m);
}

void sendFlowToKernel(WorkerContext& ctx, uint16_t port, rte_mbuf* m) {
  if (ctx.plane->ports[port].toKernel == nullptr) {
    dropPacket(ctx, m, DropReason::NoRoute);  // kernelPort names a port without one: never set up so
    return;
  }
  enqueueToKernel(ctx, port, m);
}

namespace {

/// The kernel asks who has an address nicproxy answers for on this port (an extra SNAT
/// address, an external or LB IP: a local endpoint's reply goes there). Answered in
/// place, back into the kernel. False for every other ARP frame: it leaves by the port.
bool answerKernelArp(WorkerContext& ctx, const FastServiceTable* services, uint16_t port, rte_mbuf* m,
                     const ParsedFrame& f) {
  rte_arp_hdr* arp = f.arp;
  if (arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) ||
      arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != sizeof(rte_be32_t)) {
    return false;
  }
  const PortInfo& p = ctx.plane->ports[port];
  const rte_be32_t target = arp->arp_data.arp_tip;
  const rte_be32_t sender = arp->arp_data.arp_sip;
  // The port address is the kernel's own; sender == target is its announcement (or its
  // duplicate address probe): both are for the segment.
  if (target == p.address || target == sender) return false;
  if (arpTargetOf(*ctx.plane, services, port, target) != ArpTarget::Ours) return false;
  answerArpInPlace(ctx, port, f);
  sendFlowToKernel(ctx, port, m);  // the kernel asked: no token (the bucket is for the wire's frames)
  return true;
}

/// One frame the kernel sent out of port `port`'s exception interface, `hops` workers
/// having looked for its connection before this one.
void fromKernel(WorkerContext& ctx, const FastServiceTable* services, rte_mbuf* m, uint16_t port, uint8_t hops,
                uint64_t now) {
  DataPlane& plane = *ctx.plane;
  ParsedFrame f;
  DropReason reason = DropReason::TooShort;
  const FrameKind kind = parseFrame(m, f, reason);
  if (kind == FrameKind::Arp) {
    if (!answerKernelArp(ctx, services, port, m, f)) enqueueTx(ctx, port, m);
    return;
  }
  // The connection a TCP or UDP packet belongs to, or the one an ICMP error (the pod's
  // port unreachable, say) quotes a packet of.
  FlowKey key;
  bool keyed = false;
  bool icmpError = false;
  if (kind == FrameKind::Ipv4 && (f.protocol == IPPROTO_TCP || f.protocol == IPPROTO_UDP)) {
    key = keyOf(f);
    keyed = true;
  } else if (kind == FrameKind::Ipv4 && f.protocol == IPPROTO_ICMP && isIcmpError(icmpHeader(f)->icmp_type)) {
    QuotedPacket q;
    DropReason unused = DropReason::IcmpErrorMalformed;
    if (parseQuote(m, f, q, unused)) {
      key = FlowKey{q.ip->dst_addr, q.ip->src_addr, q.destinationPort(), q.sourcePort(), q.protocol, {0, 0, 0}};
      keyed = icmpError = true;
    }
  }
  if (keyed) {
    uint64_t value = 0;
    if (ctx.flows->lookup(key, value)) {
      if (FlowTable::direction(value) == FlowDirection::Reverse) {
        // A local endpoint's reply (or its error about a packet of the connection): back
        // to the client, as one from the wire would go.
        if (icmpError) {
          handleIcmpError(ctx, services, port, m, f, now);
        } else {
          forwardOnFlow(ctx, m, f, FlowTable::entryIndex(value), FlowDirection::Reverse, now);
        }
        return;
      }
    } else if (!plane.ports[port].isOwnAddress(f.ip->src_addr) && hops + 1u < plane.workerCount) {
      // Not from the node's own addresses: perhaps the reply of a connection that kept
      // its client's address, which names no worker. The next one looks.
      m->port = static_cast<uint16_t>(port | (hops + 1u) << 8);
      const uint16_t next = static_cast<uint16_t>((ctx.index + 1) % plane.workerCount);
      if (rte_ring_mp_enqueue(plane.fromKernel[next], m) != 0) dropPacket(ctx, m, DropReason::KernelRingFull);
      return;
    }
  }
  // The node's own traffic (and anything nicproxy cannot parse: the exception thread
  // checked what must hold for the wire): out of the port as the kernel made it.
  enqueueTx(ctx, port, m);
}

}  // namespace

uint16_t processFromKernel(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  DataPlane& plane = *ctx.plane;
  rte_mbuf* packets[kBurstSize];
  const auto n = static_cast<uint16_t>(
      rte_ring_sc_dequeue_burst(plane.fromKernel[ctx.index], reinterpret_cast<void**>(packets), kBurstSize, nullptr));
  if (n == 0) return 0;
  ctx.now = now;  // what the handlers that take no time argument read (worker.hpp)
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = packets[i];
    if (i + 1 < n) rte_prefetch0(rte_pktmbuf_mtod(packets[i + 1], void*));
    const auto port = static_cast<uint16_t>(m->port & 0xff);
    const auto hops = static_cast<uint8_t>(m->port >> 8);
    if (port >= plane.ports.size()) {
      dropPacket(ctx, m, DropReason::KernelFrameMalformed);  // not from the exception thread
      continue;
    }
    // Counted once, by the worker the exception thread gave it to.
    if (hops == 0) ++ctx.counters.ports[port].fromKernelPackets;
    fromKernel(ctx, services, m, port, hops, now);
  }
  return n;
}

}  // namespace nicproxy
