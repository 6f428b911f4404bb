#include "dpdk_app/worker.hpp"

#include <cstring>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "dpdk_app/exception_path.hpp"
#include "dpdk_app/flow_forward.hpp"
#include "dpdk_app/flow_timers.hpp"
#include "dpdk_app/fragments.hpp"
#include "dpdk_app/icmp_errors.hpp"
#include "dpdk_app/ingress_filter.hpp"
#include "dpdk_app/local_replies.hpp"
#include "dpdk_app/nat.hpp"
#include "dpdk_app/next_hop.hpp"
#include "dpdk_app/packet.hpp"
#include "dpdk_app/scheduler.hpp"
#include "dpdk_app/snat_allocator.hpp"
#include "dpdk_app/tcp_tracker.hpp"

namespace nicproxy {

namespace {

// Entries an early drop looks at before giving up (FlowTable::evictUnassured). Under a
// flood of half-open connections nearly every entry qualifies, so the first few do.
constexpr uint32_t kEarlyDropScan = 64;


/// Moves connection `index` on by one packet in `direction` (TCP state and windows,
/// expiry). False, with the packet dropped and counted, when tracking refuses it.
bool trackPacket(WorkerContext& ctx, rte_mbuf* m, const ParsedFrame& f, uint32_t index, FlowDirection direction,
                 uint64_t now) {
  FlowEntry& e = ctx.flows->entry(index);
  if (f.protocol != IPPROTO_TCP) {
    touchUdp(ctx.plane->timeouts, e, direction, now);
    return true;
  }
  switch (trackTcp(e, ctx.flows->window(index), f, direction, ctx.plane->tcpBeLiberal)) {
    case TcpVerdict::Accept:
      e.expiresAt = now + tcpTimeout(ctx.plane->timeouts, e.tcpState);
      break;
    case TcpVerdict::Ignore:
      break;
    case TcpVerdict::InvalidState:
      dropPacket(ctx, m, DropReason::TcpInvalidState);
      return false;
    case TcpVerdict::OutOfWindow:
      dropPacket(ctx, m, DropReason::TcpOutOfWindow);
      return false;
  }
  // The client has heard from the backend: a RST from nicproxy can reach it (purge).
  if (direction == FlowDirection::Reverse) e.sawReply = true;
  return true;
}

/// A packet towards a local endpoint (kViaKernel): into the kernel interface that reaches
/// it, addressed to the interface's MAC (the port's), from that MAC too: the kernel routes
/// it to the pod as any packet it received.
[[gnu::noinline]] void forwardToKernel(WorkerContext& ctx, rte_mbuf* m, const ParsedFrame& f, const FlowEntry& e) {
  const uint16_t port = backendPortIndex(e);
  const rte_ether_addr& mac = ctx.plane->ports[port].mac;
  rte_ether_addr_copy(&mac, &f.eth->dst_addr);
  rte_ether_addr_copy(&mac, &f.eth->src_addr);
  applyTranslation(f, Translation{e.reverse.destinationAddress, e.reverse.sourceAddress, e.reverse.destinationPort,
                                  e.reverse.sourcePort});
  ++ctx.counters.natForward;
  sendFlowToKernel(ctx, port, m);
}

}  // namespace

void forwardOnFlow(WorkerContext& ctx, rte_mbuf* m, const ParsedFrame& f, uint32_t index, FlowDirection direction,
                   uint64_t now) {
  FlowEntry& e = ctx.flows->entry(index);
  if (f.ip->time_to_live <= 1) {
    dropPacket(ctx, m, DropReason::TtlExceeded);
    return;
  }
  if (!trackPacket(ctx, m, f, index, direction, now)) return;
  if (direction == FlowDirection::Forward) {
    if ((e.backendPort & FlowEntry::kViaKernel) != 0) [[unlikely]] {
      forwardToKernel(ctx, m, f, e);
      return;
    }
    rte_ether_addr mac;
    DropReason reason = DropReason::NeighborUnresolved;
    if (!backendHopMac(ctx, e, now, mac, reason)) {
      dropPacket(ctx, m, reason);
      return;
    }
    rte_ether_addr_copy(&mac, &f.eth->dst_addr);
    rte_ether_addr_copy(&ctx.plane->ports[e.backendPort].mac, &f.eth->src_addr);
    applyTranslation(f, Translation{e.reverse.destinationAddress, e.reverse.sourceAddress,
                                    e.reverse.destinationPort, e.reverse.sourcePort});
    ++ctx.counters.natForward;
    enqueueTx(ctx, e.backendPort, m);
  } else {
    // The reply came from the next hop towards the backend: it is alive (see confirmSlot).
    if (e.neighborSlot != FlowEntry::kNoNeighborSlot) {
      ctx.plane->neighbors.confirmSlot(e.neighborSlot, e.neighborGeneration, f.eth->src_addr, now,
                                       ctx.plane->timeouts.arpRetry);
    }
    rte_ether_addr_copy(&e.clientHop, &f.eth->dst_addr);
    rte_ether_addr_copy(&ctx.plane->ports[e.clientPort].mac, &f.eth->src_addr);
    applyTranslation(f, Translation{e.forward.destinationAddress, e.forward.sourceAddress,
                                    e.forward.destinationPort, e.forward.sourcePort});
    ++ctx.counters.natReverse;
    enqueueTx(ctx, e.clientPort, m);
  }
}

namespace {

/// Where a new connection to `backend` goes: the backend side's port index (with
/// kViaKernel for a local endpoint reached through the kernel), and `reverse` filled in
/// as far as it can be before SNAT. Sets `snatFrom` to the port whose SNAT addresses the
/// connection takes, `extraOnly` when only its extra ones will do, or null: no SNAT.
/// False when no port reaches it (no_route).
bool backendSide(const DataPlane& plane, const ServiceEntry& service, const Backend& backend, const ParsedFrame& f,
                 FlowKey& reverse, uint16_t& backendPort, const PortInfo*& snatFrom, bool& extraOnly) {
  reverse = FlowKey{backend.address, 0, backend.port, 0, f.protocol, {0, 0, 0}};
  if ((backend.flags & kBackendLocal) != 0 && plane.kernelPort != DataPlane::kNoKernelPort) [[unlikely]] {
    // A pod behind this node's kernel: through the exception interface. The kernel owns
    // the port address, so SNAT may use only the extra SNAT addresses; eTP Local, or a
    // port without extra addresses, keeps the client's (docs/exception-path.md).
    const PortInfo& port = plane.ports[plane.kernelPort];
    backendPort = static_cast<uint16_t>(plane.kernelPort | FlowEntry::kViaKernel);
    extraOnly = true;
    if (service.keepClientAddress || port.extraSnatCount == 0) {
      reverse.destinationAddress = f.ip->src_addr;
      reverse.destinationPort = l4SourcePort(f);
      snatFrom = nullptr;
    } else {
      snatFrom = &port;
    }
    return true;
  }
  Route r;
  if (!route(plane, backend.address, r)) return false;
  backendPort = r.port;
  snatFrom = &plane.ports[r.port];
  // With an exception path the port address is the kernel's too, and its connections
  // take their ports from the same range as SNAT: the extra SNAT addresses, when there
  // are any, leave it wholly to the kernel (docs/snat.md).
  extraOnly = snatFrom->toKernel != nullptr && snatFrom->extraSnatCount > 0;
  return true;
}

/// A frame parseFrame() refused. An EtherType or IP protocol nicproxy does not handle
/// (IPv6, VLAN, LLDP, IGMP, SCTP, GRE...) addressed to the port's MAC, or broadcast or
/// multicast, goes to the kernel when the port has an exception path; anything malformed,
/// and frames for other stations, are dropped as `reason`.
[[gnu::noinline, gnu::cold]] void dropUnparsed(WorkerContext& ctx, uint16_t rxPort, rte_mbuf* m, const ParsedFrame& f,
                                                DropReason reason) {
  const PortInfo& port = ctx.plane->ports[rxPort];
  const bool unsupported = reason == DropReason::UnsupportedL2 || reason == DropReason::UnsupportedL4;
  if (unsupported && hasExceptionPath(ctx, rxPort) &&
      (rte_is_same_ether_addr(&f.eth->dst_addr, &port.mac) || rte_is_multicast_ether_addr(&f.eth->dst_addr))) {
    if (ctx.plane->ingress.sourceMac && !isStationMac(f.eth->src_addr)) {
      dropPacket(ctx, m, DropReason::BadSourceMac);
      return;
    }
    sendToKernel(ctx, rxPort, m, reason);
    return;
  }
  dropPacket(ctx, m, reason);
}

/// A fragment the kernel takes instead of nicproxy's reassembly: one for an address that
/// is not ours (the kernel routes it, to a pod for instance), or for the port address and
/// neither TCP nor UDP (a large ping).
[[gnu::noinline]] bool fragmentForKernel(const PortInfo& port, const FastServiceTable* services, const ParsedFrame& f) {
  const rte_be32_t destination = f.ip->dst_addr;
  if (destination == port.address) return f.protocol != IPPROTO_TCP && f.protocol != IPPROTO_UDP;
  return !isNodeAddress(port, services, destination);
}

/// A packet that matched no connection: a new connection to a service, a reject, or a drop.
/// `service` is the frontend's entry in `services` (null: none), looked up by the caller.
void handleNewConnection(WorkerContext& ctx, const FastServiceTable* services, const ServiceEntry* service,
                         uint16_t rxPort, rte_mbuf* m, const ParsedFrame& f, uint64_t now) {
  if (service == nullptr) {
    // Not nicproxy's: with an exception path, what is the kernel's goes there (the port
    // address's own ports, and addresses that are not ours: the kernel routes them);
    // without one, dropped as before (sendToKernel's `otherwise`).
    const PortInfo& port = ctx.plane->ports[rxPort];
    const rte_be32_t destination = f.ip->dst_addr;
    const bool local = isNodeAddress(port, services, destination);
    const bool kernels = destination == port.address;
    if (!local) {
      sendToKernel(ctx, rxPort, m, DropReason::NotForUs);
    } else if (port.isOwnAddress(destination) && isSnatPort(rte_be_to_cpu_16(l4DestinationPort(f)))) {
      if (kernels) {
        sendToKernel(ctx, rxPort, m, DropReason::NoFlow);
      } else {
        dropPacket(ctx, m, DropReason::NoFlow);
      }
    } else if (kernels) {
      sendToKernel(ctx, rxPort, m, DropReason::NoService);
    } else {
      dropPacket(ctx, m, DropReason::NoService);
    }
    return;
  }
  if (!sourceAllowed(*service, f.ip->src_addr)) {
    dropPacket(ctx, m, DropReason::SourceRange);
    return;
  }
  if (service->backendCount == 0 && service->dropWhenEmpty) {
    dropPacket(ctx, m, DropReason::NoLocalEndpoints);
    return;
  }
  if (service->backendCount == 0) {
    if (f.protocol == IPPROTO_TCP) {
      rejectTcp(ctx, rxPort, m, f);
    } else {
      rejectUdp(ctx, rxPort, m, f);
    }
    return;
  }
  if (f.protocol == IPPROTO_TCP) {
    // Only a bare SYN opens a connection (the flags are valid: processBurst checked them);
    // a FIN, RST or ACK of a connection nobody tracks is dropped and never makes a flow.
    const uint8_t flags = tcpHeader(f)->tcp_flags;
    if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG)) != RTE_TCP_SYN_FLAG) {
      dropPacket(ctx, m, DropReason::TcpNotSyn);
      return;
    }
  }
  if (f.ip->time_to_live <= 1) {
    dropPacket(ctx, m, DropReason::TtlExceeded);
    return;
  }
  const FlowKey forward = keyOf(f);
  const Backend& backend = chooseBackend(ctx, *service, forward, now);
  FlowKey reverse;
  uint16_t backendPort = 0;
  const PortInfo* snatFrom = nullptr;
  bool extraOnly = false;
  if (!backendSide(*ctx.plane, *service, backend, f, reverse, backendPort, snatFrom, extraOnly)) {
    dropPacket(ctx, m, DropReason::NoRoute);
    return;
  }
  if (snatFrom == nullptr) {
    // The client's own address and port: another connection of the client's may hold
    // that reply key already (the same endpoint through two frontends), and a second
    // insert would take it over.
    if (ctx.flows->contains(reverse)) {
      dropPacket(ctx, m, DropReason::SnatPortsExhausted);
      return;
    }
  } else if (!(extraOnly ? pickExtraSnatPort(ctx, *snatFrom, reverse, now)
                          : pickSnatPort(ctx, *snatFrom, reverse, now))) {
    // Every SNAT port to this backend is taken. The early drop again, for this backend: a
    // connection to it that is not established gives up its SNAT address and port, so that
    // a flood of half-open connections to one backend cannot lock its new clients out.
    if (!ctx.flows->evictUnassuredTo(reverse, kEarlyDropScan)) {
      dropPacket(ctx, m, DropReason::SnatPortsExhausted);
      return;
    }
    ++ctx.counters.flowsEarlyDropped;
  }
  // Past the high-water mark, make room first from connections that are not established
  // (conntrack's early drop), so that a flood of half-open ones cannot lock new clients out.
  if (ctx.flows->underPressure() && ctx.flows->evictUnassured(kEarlyDropScan)) ++ctx.counters.flowsEarlyDropped;
  const int64_t index = ctx.flows->insert(forward, reverse);
  if (index < 0) {
    dropPacket(ctx, m, DropReason::FlowTableFull);
    return;
  }
  FlowEntry& e = ctx.flows->entry(static_cast<uint32_t>(index));
  rte_ether_addr_copy(&f.eth->src_addr, &e.clientHop);
  e.clientPort = rxPort;
  e.backendPort = backendPort;
  e.serviceId = service->serviceId;
  ++ctx.counters.flowsCreated;
  // The connection exists from now on, so a retransmitted SYN that waited for ARP reaches
  // the same backend. forwardOnFlow() tracks the SYN (state SynSent, the client's window)
  // and arms the timer, before it may drop the packet for ARP: the entry must outlive the
  // expiry scan until the client retransmits.
  forwardOnFlow(ctx, m, f, static_cast<uint32_t>(index), FlowDirection::Forward, now);
}

}  // namespace

void processBurst(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort,
                  rte_mbuf** packets, uint16_t count, uint64_t now) {
  ParsedFrame frames[kBurstSize];
  FlowKey keys[kBurstSize];
  const FlowKey* keyPointers[kBurstSize];
  uint16_t lookupSlot[kBurstSize];  // packet i -> index in keys, or kNone
  constexpr uint16_t kNone = 0xffff;
  const PortInfo& port = ctx.plane->ports[rxPort];
  ctx.now = now;

  refillSnatScanBudget(ctx);
  while (count > kBurstSize) {  // callers normally pass at most one burst
    processBurst(ctx, services, rxPort, packets, kBurstSize, now);
    packets += kBurstSize;
    count = static_cast<uint16_t>(count - kBurstSize);
  }

  // Counted once per burst: each counter update is an atomic store (counters.hpp), which
  // the compiler cannot merge; the bytes add up in a register in pass 1.
  ctx.counters.rxPackets += count;
  uint64_t bytes = 0;

  // Pass 1: parse, answer ARP and ICMP echo, translate ICMP errors, collect flow keys of TCP and UDP.
  uint16_t keyCount = 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (i + 3 < count) rte_prefetch0(rte_pktmbuf_mtod(packets[i + 3], void*));
    lookupSlot[i] = kNone;
    rte_mbuf* m = packets[i];
    bytes += rte_pktmbuf_pkt_len(m);
    ParsedFrame& f = frames[i];
    f = ParsedFrame{};
    DropReason reason = DropReason::TooShort;
    const FrameKind kind = parseFrame(m, f, reason);
    if (kind == FrameKind::Drop) {
      dropUnparsed(ctx, rxPort, m, f, reason);
      packets[i] = nullptr;
      continue;
    }
    if (!passesFrameChecks(*ctx.plane, kind, f, reason)) {
      dropPacket(ctx, m, reason);
      packets[i] = nullptr;
      continue;
    }
    if (kind == FrameKind::Arp) {
      handleArp(ctx, services, rxPort, m, f, now);
      packets[i] = nullptr;
      continue;
    }
    if (!rte_is_same_ether_addr(&f.eth->dst_addr, &port.mac)) {
      // Broadcast and multicast IPv4 (DHCP, mDNS, VRRP...) are the kernel's, unchecked:
      // a DHCP client's source is 0.0.0.0. Unicast to another MAC is nobody's here.
      if (rte_is_multicast_ether_addr(&f.eth->dst_addr)) {
        sendToKernel(ctx, rxPort, m, DropReason::NotForUs);
      } else {
        dropPacket(ctx, m, DropReason::NotForUs);
      }
      packets[i] = nullptr;
      continue;
    }
    if (!passesIpv4Checks(*ctx.plane, m, f, reason)) {
      dropPacket(ctx, m, reason);
      packets[i] = nullptr;
      continue;
    }
    if (kind == FrameKind::Fragment) {
      if (hasExceptionPath(ctx, rxPort) && fragmentForKernel(port, services, f)) {
        sendToKernel(ctx, rxPort, m, DropReason::IpFragment);
        packets[i] = nullptr;
        continue;
      }
      // The fragment completes its datagram, which goes on from here, or it waits.
      m = reassembleFragment(ctx, services, rxPort, m, f, now);
      packets[i] = m;
      if (m == nullptr) continue;
    }
    if (f.protocol == IPPROTO_ICMP) {
      if (isIcmpError(icmpHeader(f)->icmp_type)) {
        handleIcmpError(ctx, services, rxPort, m, f, now);
      } else {
        const bool local = isNodeAddress(port, services, f.ip->dst_addr);
        if (hasExceptionPath(ctx, rxPort) && (!local || f.ip->dst_addr == port.address)) {
          // The kernel answers pings to the port address now, and routes what is not ours.
          sendToKernel(ctx, rxPort, m, DropReason::NotForUs);
        } else {
          handleIcmp(ctx, rxPort, m, f, local);
        }
      }
      packets[i] = nullptr;
      continue;
    }
    if (!ctx.plane->redirect.empty() && port.isOwnAddress(f.ip->dst_addr)) {
      // A reply to a SNAT port owned by another worker.
      const uint16_t destinationPort = rte_be_to_cpu_16(l4DestinationPort(f));
      const uint16_t owner = ownerOfSnatPort(destinationPort, ctx.plane->workerCount);
      if (isSnatPort(destinationPort) && owner != ctx.index) {
        redirectToWorker(ctx, m, rxPort, owner);
        packets[i] = nullptr;
        continue;
      }
    }
    if (f.protocol == IPPROTO_TCP && !tcpFlagsValid(tcpHeader(f)->tcp_flags)) {
      // SYN+FIN, SYN+RST, no flags...: no stack sends them; they neither make nor move a flow.
      dropPacket(ctx, m, DropReason::TcpInvalidFlags);
      packets[i] = nullptr;
      continue;
    }
    keys[keyCount] = keyOf(f);
    keyPointers[keyCount] = &keys[keyCount];
    lookupSlot[i] = keyCount++;
  }

  if (ctx.countOnPort) {
    PortCounters& counted = ctx.counters.ports[rxPort];
    counted.rxPackets += count;
    counted.rxBytes += bytes;
  }

  // Pass 2: one bulk lookup for the burst, then translate or start connections.
  uint64_t values[kBurstSize];
  const uint64_t hits = keyCount > 0 ? ctx.flows->lookupBulk(keyPointers, keyCount, values) : 0;
  // Every hit's entry (and, for TCP, its windows) is a cache miss in a large table: start
  // loading all of them now, so that the misses overlap instead of stalling each packet in turn.
  for (uint64_t pending = hits; pending != 0; pending &= pending - 1) {
    const uint32_t slot = static_cast<uint32_t>(__builtin_ctzll(pending));
    ctx.flows->prefetch(FlowTable::entryIndex(values[slot]));
    if (keys[slot].protocol == IPPROTO_TCP) ctx.flows->prefetchWindow(FlowTable::entryIndex(values[slot]));
  }
  // The misses are new connections (or drops). Their service entry, Maglev slot and
  // endpoint are cache misses in large tables too: look the services up and prefetch
  // each level for the whole burst before handling any of them.
  const ServiceEntry* serviceOf[kBurstSize];  // per packet, set for the misses
  if (services != nullptr) {
    const ServiceEntry* found[kBurstSize];
    const FlowKey* foundKeys[kBurstSize];
    uint16_t foundCount = 0;
    for (uint16_t i = 0; i < count; ++i) {
      if (lookupSlot[i] == kNone || (hits & (uint64_t{1} << lookupSlot[i]))) continue;
      const ParsedFrame& f = frames[i];
      serviceOf[i] = services->lookup(ServiceKey{f.ip->dst_addr, l4DestinationPort(f), f.protocol, 0});
      if (serviceOf[i] != nullptr) {
        found[foundCount] = serviceOf[i];
        foundKeys[foundCount++] = &keys[lookupSlot[i]];
      }
    }
    prefetchChoices(ctx, found, foundKeys, foundCount);
  }
  // The bulk lookup saw the table as it was before this burst. Once a packet of the burst
  // has changed it (a new connection, a reopened or evicted one), every later packet is
  // looked up again, hits as well as misses: a stale hit could hand a segment of a
  // connection that is gone to the one that replaced it, a stale miss would make a second
  // flow for a retransmitted SYN.
  const uint64_t changesAtLookup = ctx.flows->changes();
  for (uint16_t i = 0; i < count; ++i) {
    if (lookupSlot[i] == kNone) continue;
    const uint16_t slot = lookupSlot[i];
    const ParsedFrame& f = frames[i];
    bool hit = (hits & (uint64_t{1} << slot)) != 0;
    bool serviceKnown = !hit;  // serviceOf[i] was filled for the bulk misses
    uint64_t value = values[slot];
    if (ctx.flows->changes() != changesAtLookup) {
      hit = ctx.flows->lookup(keys[slot], value);
      serviceKnown = false;
    }
    if (hit && f.protocol == IPPROTO_TCP &&
        reopensConnection(ctx.flows->entry(FlowTable::entryIndex(value)), tcpHeader(f)->tcp_flags,
                          FlowTable::direction(value))) {
      // The client reuses its port after the connection ended: balance the SYN afresh.
      ctx.flows->remove(FlowTable::entryIndex(value));
      hit = false;
      serviceKnown = false;
    }
    if (hit) {
      forwardOnFlow(ctx, packets[i], f, FlowTable::entryIndex(value), FlowTable::direction(value), now);
      continue;
    }
    const ServiceEntry* service = nullptr;
    if (services != nullptr) {
      service = serviceKnown ? serviceOf[i]
                             : services->lookup(ServiceKey{f.ip->dst_addr, l4DestinationPort(f), f.protocol, 0});
    }
    handleNewConnection(ctx, services, service, rxPort, packets[i], f, now);
  }
}

void flushTx(WorkerContext& ctx) {
  flushToKernel(ctx);
  for (uint16_t i = 0; i < ctx.plane->ports.size(); ++i) {
    TxBatch& batch = ctx.tx[i];
    if (batch.count == 0) continue;
    // The bytes are summed before the burst: a PMD may free what it sent before returning.
    uint64_t bytes = 0;
    for (uint16_t j = 0; j < batch.count; ++j) bytes += rte_pktmbuf_pkt_len(batch.packets[j]);
    const uint16_t sent = rte_eth_tx_burst(ctx.plane->ports[i].portId, ctx.queue, batch.packets.data(), batch.count);
    for (uint16_t j = sent; j < batch.count; ++j) {
      bytes -= rte_pktmbuf_pkt_len(batch.packets[j]);
      dropPacket(ctx, batch.packets[j], DropReason::TxFull);
    }
    ctx.counters.txPackets += sent;
    PortCounters& port = ctx.counters.ports[i];
    port.txPackets += sent;
    port.txBytes += bytes;
    batch.count = 0;
  }
}

int runWorker(void* arg) {
  auto& ctx = *static_cast<WorkerContext*>(arg);
  DataPlane& plane = *ctx.plane;
  rte_rcu_qsbr_thread_register(plane.qsbr, ctx.index);
  rte_rcu_qsbr_thread_online(plane.qsbr, ctx.index);
  rte_mbuf* packets[kBurstSize];
  uint64_t previous = 0;
  const uint64_t slowLoop = plane.timeouts.hz / 10000;  // 100 us
  std::array<uint64_t, kLoopBucketsUs.size()> bucketCycles{};  // the histogram's bounds in TSC cycles
  for (size_t b = 0; b < kLoopBucketsUs.size(); ++b) bucketCycles[b] = plane.timeouts.hz / 1000000 * kLoopBucketsUs[b];
  while (plane.running.load(std::memory_order_relaxed)) {
    const uint64_t now = rte_rdtsc();
    // Loop lengths: what "no worker loop pauses longer than 100 us" is measured by, and
    // the pause histogram (nearly every loop falls in the first bucket: one comparison).
    if (previous != 0) {
      const uint64_t loop = now - previous;
      ctx.counters.loopCycles += loop;
      size_t bucket = 0;
      while (bucket < bucketCycles.size() && loop > bucketCycles[bucket]) ++bucket;
      ++ctx.counters.loopBuckets[bucket];
      if (loop > ctx.counters.loopMaxCycles) ctx.counters.loopMaxCycles = loop;
      if (loop > slowLoop) {
        ctx.slowLoops[ctx.counters.loopsOver100us % WorkerContext::kSlowLoopLog] = {previous, loop};
        ++ctx.counters.loopsOver100us;
      }
    }
    ++ctx.counters.loops;
    previous = now;
    // acquire: pairs with the provider's release store, so the table's contents are
    // visible before its pointer; the pointer is not used after the quiescent report.
    const FastServiceTable* services = plane.services.load(std::memory_order_acquire);
    for (uint16_t p = 0; p < plane.ports.size(); ++p) {
      const uint16_t n = rte_eth_rx_burst(plane.ports[p].portId, ctx.queue, packets, kBurstSize);
      if (n > 0) processBurst(ctx, services, p, packets, n, now);
    }
    processRedirected(ctx, services, now);
    if (!plane.fromKernel.empty()) processFromKernel(ctx, services, now);
    if (ctx.index == 0 && now >= ctx.nextProbeAt) {
      probeNeighbors(ctx, services, now);
      ctx.nextProbeAt = now + plane.timeouts.probeInterval;
    }
    flushTx(ctx);
    housekeeping(ctx, services, now);
    rte_rcu_qsbr_quiescent(plane.qsbr, ctx.index);
  }
  rte_rcu_qsbr_thread_offline(plane.qsbr, ctx.index);
  rte_rcu_qsbr_thread_unregister(plane.qsbr, ctx.index);
  return 0;
}

}  // namespace nicproxy
