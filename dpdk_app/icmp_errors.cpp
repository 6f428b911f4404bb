#include "dpdk_app/icmp_errors.hpp"

#include "dpdk_app/exception_path.hpp"
#include "dpdk_app/flow_forward.hpp"
#include "dpdk_app/next_hop.hpp"

namespace nicproxy {

namespace {

bool isOwnAddress(const DataPlane& plane, rte_be32_t address) {
  for (const PortInfo& p : plane.ports) {
    if (p.isOwnAddress(address)) return true;  // the port address or one of its SNAT addresses
  }
  return false;
}

/// An error nicproxy has no connection for, that the kernel behind the port's exception
/// interface may: to the port address (about the node's own traffic), or to an address
/// that is not ours (the kernel routes it, to a pod for instance).
bool kernelsError(const WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort, rte_be32_t destination) {
  if (!hasExceptionPath(ctx, rxPort)) return false;
  const PortInfo& port = ctx.plane->ports[rxPort];
  if (destination == port.address) return true;
  return !isOwnAddress(*ctx.plane, destination) &&
         (services == nullptr || services->localAddressFlags(destination) == 0);
}

}  // namespace

void handleIcmpError(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort, rte_mbuf* m,
                     const ParsedFrame& f, uint64_t now) {
  QuotedPacket q;
  DropReason reason = DropReason::IcmpErrorMalformed;
  if (!parseQuote(m, f, q, reason)) {
    // An error about ICMP (the node's own pings) is no connection of nicproxy's.
    if (reason == DropReason::IcmpErrorUnsupported && kernelsError(ctx, services, rxPort, f.ip->dst_addr)) {
      sendToKernel(ctx, rxPort, m, reason);
    } else {
      dropPacket(ctx, m, reason);
    }
    return;
  }
  // The error must go back to where the quoted packet came from: the SNAT address or the
  // frontend that nicproxy sent it from.
  if (q.ip->src_addr != f.ip->dst_addr) {
    dropPacket(ctx, m, DropReason::IcmpErrorMismatch);
    return;
  }
  const DataPlane& plane = *ctx.plane;
  const uint16_t quotedSourcePort = rte_be_to_cpu_16(q.sourcePort());
  // A quote from a port address and a SNAT port names its owner, as a reply to that port would.
  const bool ownerKnown = isOwnAddress(plane, f.ip->dst_addr) && isSnatPort(quotedSourcePort);
  if (!plane.redirect.empty() && ownerKnown) {
    const uint16_t owner = ownerOfSnatPort(quotedSourcePort, plane.workerCount);
    if (owner != ctx.index) {
      redirectToWorker(ctx, m, rxPort, owner);
      return;
    }
  }

  // The quoted packet reversed is a key of its connection: the reverse key for a packet
  // nicproxy sent to a backend, the forward key for a reply it sent to a client.
  const FlowKey key{q.ip->dst_addr, q.ip->src_addr, q.destinationPort(), q.sourcePort(), q.protocol, {0, 0, 0}};
  uint64_t value = 0;
  if (!ctx.flows->lookup(key, value)) {
    const bool local = isOwnAddress(plane, f.ip->dst_addr) ||
                       (services != nullptr && services->localAddressFlags(f.ip->dst_addr) != 0);
    if (!local) {
      sendToKernel(ctx, rxPort, m, DropReason::NotForUs);
    } else if (!plane.redirect.empty() && !ownerKnown && ctx.icmpErrorHops + 1u < plane.workerCount) {
      redirectToWorker(ctx, m, rxPort, static_cast<uint16_t>((ctx.index + 1) % plane.workerCount),
             static_cast<uint8_t>(ctx.icmpErrorHops + 1));
    } else if (kernelsError(ctx, services, rxPort, f.ip->dst_addr)) {
      sendToKernel(ctx, rxPort, m, DropReason::IcmpErrorNoFlow);  // about the node's own traffic
    } else {
      dropPacket(ctx, m, DropReason::IcmpErrorNoFlow);
    }
    return;
  }
  // Checked only now: a flood of errors about nothing costs a lookup, not a checksum.
  if (!icmpChecksumGood(f)) {
    dropPacket(ctx, m, DropReason::IcmpErrorBadChecksum);
    return;
  }
  if (f.ip->time_to_live <= 1) {
    dropPacket(ctx, m, DropReason::TtlExceeded);  // never an ICMP error about an ICMP error
    return;
  }
  FlowEntry& e = ctx.flows->entry(FlowTable::entryIndex(value));
  if (FlowTable::direction(value) == FlowDirection::Reverse) {
    // About a packet to the backend: the client hears it about the packet it sent.
    rewriteIcmpError(f, q, e.forward.destinationAddress, e.forward.sourceAddress,
                     Translation{e.forward.sourceAddress, e.forward.destinationAddress, e.forward.sourcePort,
                                 e.forward.destinationPort});
    rte_ether_addr_copy(&e.clientHop, &f.eth->dst_addr);
    rte_ether_addr_copy(&plane.ports[e.clientPort].mac, &f.eth->src_addr);
    ++ctx.counters.icmpErrorsToClient;
    enqueueTx(ctx, e.clientPort, m);
    return;
  }
  // About a reply to the client: the backend hears it about the packet it sent.
  if ((e.backendPort & FlowEntry::kViaKernel) != 0) {
    // A local endpoint: through the kernel interface, addressed to its MAC (forwardOnFlow).
    const uint16_t port = backendPortIndex(e);
    rewriteIcmpError(f, q, e.reverse.destinationAddress, e.reverse.sourceAddress,
                     Translation{e.reverse.sourceAddress, e.reverse.destinationAddress, e.reverse.sourcePort,
                                 e.reverse.destinationPort});
    rte_ether_addr_copy(&plane.ports[port].mac, &f.eth->dst_addr);
    rte_ether_addr_copy(&plane.ports[port].mac, &f.eth->src_addr);
    ++ctx.counters.icmpErrorsToBackend;
    sendFlowToKernel(ctx, port, m);
    return;
  }
  rte_ether_addr mac;
  if (!backendHopMac(ctx, e, now, mac, reason)) {
    dropPacket(ctx, m, reason);
    return;
  }
  rewriteIcmpError(f, q, e.reverse.destinationAddress, e.reverse.sourceAddress,
                   Translation{e.reverse.sourceAddress, e.reverse.destinationAddress, e.reverse.sourcePort,
                               e.reverse.destinationPort});
  rte_ether_addr_copy(&mac, &f.eth->dst_addr);
  rte_ether_addr_copy(&plane.ports[e.backendPort].mac, &f.eth->src_addr);
  ++ctx.counters.icmpErrorsToBackend;
  enqueueTx(ctx, e.backendPort, m);
}

}  // namespace nicproxy
