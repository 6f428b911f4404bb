#include "dpdk_app/worker.hpp"

#include <cstring>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>
#include <rte_random.h>
#include <rte_ring.h>

#include "dpdk_app/flow_timers.hpp"
#include "dpdk_app/fragments.hpp"
#include "dpdk_app/local_replies.hpp"
#include "dpdk_app/nat.hpp"
#include "dpdk_app/next_hop.hpp"
#include "dpdk_app/packet.hpp"
#include "dpdk_app/scheduler.hpp"

namespace nicproxy {

namespace {

constexpr uint32_t kSnatAttempts = 32;
constexpr uint32_t kProbesPerRound = 64;


FlowKey keyOf(const ParsedFrame& f) {
  return FlowKey{f.ip->src_addr, f.ip->dst_addr, l4SourcePort(f), l4DestinationPort(f), f.protocol, {0, 0, 0}};
}

/// Sends a packet of an existing connection in its direction.
void forwardOnFlow(WorkerContext& ctx, rte_mbuf* m, const ParsedFrame& f, uint32_t index,
                   FlowDirection direction, uint64_t now) {
  FlowEntry& e = ctx.flows->entry(index);
  if (f.ip->time_to_live <= 1) {
    dropPacket(ctx, m, DropReason::TtlExceeded);
    return;
  }
  if (direction == FlowDirection::Forward) {
    rte_ether_addr mac;
    if (e.neighborSlot == FlowEntry::kNoNeighborSlot || !ctx.plane->neighbors.lookupSlot(e.neighborSlot, mac)) {
      DropReason reason = DropReason::NeighborUnresolved;
      if (!resolveBackendHop(ctx, e, now, mac, reason)) {
        dropPacket(ctx, m, reason);
        return;
      }
    }
    rte_ether_addr_copy(&mac, &f.eth->dst_addr);
    rte_ether_addr_copy(&ctx.plane->ports[e.backendPort].mac, &f.eth->src_addr);
    touchFlow(ctx.plane->timeouts, e, ctx.flows->window(index), f, direction, now);
    applyTranslation(f, Translation{e.reverse.destinationAddress, e.reverse.sourceAddress,
                                    e.reverse.destinationPort, e.reverse.sourcePort});
    ++ctx.counters.natForward;
    enqueueTx(ctx, e.backendPort, m);
  } else {
    touchFlow(ctx.plane->timeouts, e, ctx.flows->window(index), f, direction, now);
    rte_ether_addr_copy(&e.clientHop, &f.eth->dst_addr);
    rte_ether_addr_copy(&ctx.plane->ports[e.clientPort].mac, &f.eth->src_addr);
    applyTranslation(f, Translation{e.forward.destinationAddress, e.forward.sourceAddress,
                                    e.forward.destinationPort, e.forward.sourcePort});
    ++ctx.counters.natReverse;
    enqueueTx(ctx, e.clientPort, m);
  }
}

/// Picks a free SNAT port owned by this worker for (backend, snatAddress). Writes the
/// reverse key; false when none was found in kSnatAttempts tries.
bool pickSnatPort(const WorkerContext& ctx, FlowKey& reverse) {
  const uint32_t workers = ctx.plane->workerCount;
  const uint32_t slots = (65536u - kSnatPortMin) / workers;  // ports this worker owns
  for (uint32_t attempt = 0; attempt < kSnatAttempts; ++attempt) {
    const uint32_t slot = static_cast<uint32_t>(rte_rand_max(slots));
    // Port p belongs to worker p % workers, so a reply's port names its owner.
    uint32_t candidate = kSnatPortMin + slot * workers;
    candidate += (ctx.index + workers - candidate % workers) % workers;
    if (candidate > 65535 || !isSnatPort(static_cast<uint16_t>(candidate))) continue;
    reverse.destinationPort = rte_cpu_to_be_16(static_cast<uint16_t>(candidate));
    if (!ctx.flows->contains(reverse)) return true;
  }
  return false;
}

/// A packet that matched no connection: a new connection to a service, a reject, or a drop.
/// `service` is the frontend's entry in `services` (null: none), looked up by the caller.
void handleNewConnection(WorkerContext& ctx, const FastServiceTable* services, const ServiceEntry* service,
                         uint16_t rxPort, rte_mbuf* m, const ParsedFrame& f, uint64_t now, bool flowsChanged) {
  if (service == nullptr) {
    const bool local = f.ip->dst_addr == ctx.plane->ports[rxPort].address ||
                       (services != nullptr && services->localAddressFlags(f.ip->dst_addr) != 0);
    if (!local) {
      dropPacket(ctx, m, DropReason::NotForUs);
    } else if (f.ip->dst_addr == ctx.plane->ports[rxPort].address &&
               rte_be_to_cpu_16(l4DestinationPort(f)) >= kSnatPortMin) {
      dropPacket(ctx, m, DropReason::NoFlow);
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
  // The bulk lookup ran before this burst's earlier packets were handled: a
  // retransmitted SYN in the same burst finds the connection its twin just made. Only
  // needed when the table changed since the bulk lookup.
  uint64_t existing = 0;
  const FlowKey forward = keyOf(f);
  if (flowsChanged && ctx.flows->lookup(forward, existing)) {
    forwardOnFlow(ctx, m, f, FlowTable::entryIndex(existing), FlowTable::direction(existing), now);
    return;
  }
  const Backend& backend = chooseBackend(ctx, *service, forward, now);
  Route r;
  if (!route(*ctx.plane, backend.address, r)) {
    dropPacket(ctx, m, DropReason::NoRoute);
    return;
  }
  FlowKey reverse{backend.address, ctx.plane->ports[r.port].address, backend.port, 0, f.protocol, {0, 0, 0}};
  if (!pickSnatPort(ctx, reverse)) {
    dropPacket(ctx, m, DropReason::SnatPortsExhausted);
    return;
  }
  const int64_t index = ctx.flows->insert(forward, reverse);
  if (index < 0) {
    dropPacket(ctx, m, DropReason::FlowTableFull);
    return;
  }
  FlowEntry& e = ctx.flows->entry(static_cast<uint32_t>(index));
  rte_ether_addr_copy(&f.eth->src_addr, &e.clientHop);
  e.clientPort = rxPort;
  e.backendPort = r.port;
  e.serviceId = service->serviceId;
  e.tcpState = f.protocol == IPPROTO_TCP ? TcpState::SynSent : TcpState::None;
  // The next hop's neighbour slot, if it has one yet: forwardOnFlow() then reads the MAC
  // through it, and only falls back to resolveBackendHop() while the MAC is unknown.
  const uint32_t neighborSlot = ctx.plane->neighbors.slotOf(r.nextHop);
  if (neighborSlot != NeighborTable::kNoSlot) e.neighborSlot = static_cast<uint16_t>(neighborSlot);
  ++ctx.counters.flowsCreated;
  // Arm the timer now: if the first packet waits for ARP, the entry must outlive the
  // expiry scan until the client retransmits.
  touchFlow(ctx.plane->timeouts, e, ctx.flows->window(static_cast<uint32_t>(index)), f, FlowDirection::Forward, now);
  // The connection exists from now on, so a retransmitted SYN that waited for ARP
  // reaches the same backend.
  forwardOnFlow(ctx, m, f, static_cast<uint32_t>(index), FlowDirection::Forward, now);
}

/// A client that reuses its source port after closing starts a new connection: a bare
/// SYN on a closing flow drops the old entry so that the SYN is balanced afresh.
bool isNewSynOnClosedFlow(WorkerContext& ctx, const ParsedFrame& f, uint64_t value) {
  if (f.protocol != IPPROTO_TCP || FlowTable::direction(value) != FlowDirection::Forward) return false;
  const uint8_t flags = tcpHeader(f)->tcp_flags;
  if ((flags & (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) != RTE_TCP_SYN_FLAG) return false;
  const uint32_t index = FlowTable::entryIndex(value);
  const TcpState state = ctx.flows->entry(index).tcpState;
  if (state != TcpState::FinWait && state != TcpState::Close) return false;
  ctx.flows->remove(index);
  return true;
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

  while (count > kBurstSize) {  // callers normally pass at most one burst
    processBurst(ctx, services, rxPort, packets, kBurstSize, now);
    packets += kBurstSize;
    count = static_cast<uint16_t>(count - kBurstSize);
  }

  // Pass 1: parse, answer ARP and ICMP, collect flow keys of TCP and UDP.
  uint16_t keyCount = 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (i + 3 < count) rte_prefetch0(rte_pktmbuf_mtod(packets[i + 3], void*));
    lookupSlot[i] = kNone;
    rte_mbuf* m = packets[i];
    ++ctx.counters.rxPackets;
    ParsedFrame& f = frames[i];
    f = ParsedFrame{};
    DropReason reason = DropReason::TooShort;
    const FrameKind kind = parseFrame(m, f, reason);
    if (kind == FrameKind::Drop) {
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
      dropPacket(ctx, m, DropReason::NotForUs);
      packets[i] = nullptr;
      continue;
    }
    if (kind == FrameKind::Fragment) {
      // The fragment completes its datagram, which goes on from here, or it waits.
      m = reassembleFragment(ctx, services, rxPort, m, f, now);
      packets[i] = m;
      if (m == nullptr) continue;
    }
    if (f.protocol == IPPROTO_ICMP) {
      const bool local = f.ip->dst_addr == port.address ||
                         (services != nullptr && services->localAddressFlags(f.ip->dst_addr) != 0);
      handleIcmp(ctx, rxPort, m, f, local);
      packets[i] = nullptr;
      continue;
    }
    if (!ctx.plane->redirect.empty() && f.ip->dst_addr == port.address) {
      // A reply to a SNAT port owned by another worker.
      const uint16_t destinationPort = rte_be_to_cpu_16(l4DestinationPort(f));
      const uint16_t owner = static_cast<uint16_t>(destinationPort % ctx.plane->workerCount);
      if (isSnatPort(destinationPort) && owner != ctx.index) {
        m->port = rxPort;  // the owner needs the receiving port's index
        if (rte_ring_mp_enqueue(ctx.plane->redirect[owner], m) != 0) {
          dropPacket(ctx, m, DropReason::RedirectFull);
        } else {
          ++ctx.counters.redirected;
        }
        packets[i] = nullptr;
        continue;
      }
    }
    keys[keyCount] = keyOf(f);
    keyPointers[keyCount] = &keys[keyCount];
    lookupSlot[i] = keyCount++;
  }

  // Pass 2: one bulk lookup for the burst, then translate or start connections.
  uint64_t values[kBurstSize];
  const uint64_t hits = keyCount > 0 ? ctx.flows->lookupBulk(keyPointers, keyCount, values) : 0;
  // Every hit's entry is a cache miss in a large table: start loading all of them now,
  // so that the misses overlap instead of stalling each packet in turn.
  for (uint64_t pending = hits; pending != 0; pending &= pending - 1) {
    ctx.flows->prefetch(FlowTable::entryIndex(values[__builtin_ctzll(pending)]));
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
  const uint64_t changesAtLookup = ctx.flows->changes();
  for (uint16_t i = 0; i < count; ++i) {
    if (lookupSlot[i] == kNone) continue;
    const uint16_t slot = lookupSlot[i];
    const bool hit = (hits & (uint64_t{1} << slot)) != 0;
    if (hit && !isNewSynOnClosedFlow(ctx, frames[i], values[slot])) {
      forwardOnFlow(ctx, packets[i], frames[i], FlowTable::entryIndex(values[slot]),
                    FlowTable::direction(values[slot]), now);
      continue;
    }
    const ParsedFrame& f = frames[i];
    const ServiceEntry* service = nullptr;
    if (services != nullptr) {
      service = hit ? services->lookup(ServiceKey{f.ip->dst_addr, l4DestinationPort(f), f.protocol, 0}) : serviceOf[i];
    }
    handleNewConnection(ctx, services, service, rxPort, packets[i], f, now, ctx.flows->changes() != changesAtLookup);
  }
}

void probeNeighbors(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  const Timeouts& t = ctx.plane->timeouts;
  for (uint16_t i = 0; i < ctx.plane->ports.size(); ++i) {
    const rte_be32_t gateway = ctx.plane->ports[i].gateway;
    if (gateway != 0 && ctx.plane->neighbors.claimRequest(gateway, now, t.arpRetry, t.arpRefresh)) {
      sendArpRequest(ctx, i, gateway);
    }
  }
  if (services == nullptr) return;
  const auto& addresses = services->backendAddresses();
  const uint32_t total = static_cast<uint32_t>(addresses.size());
  for (uint32_t n = 0; n < kProbesPerRound && n < total; ++n) {
    if (ctx.probeCursor >= total) ctx.probeCursor = 0;
    const rte_be32_t address = addresses[ctx.probeCursor++];
    Route r;
    if (route(*ctx.plane, address, r) && r.nextHop == address &&
        ctx.plane->neighbors.claimRequest(address, now, t.arpRetry, t.arpRefresh)) {
      sendArpRequest(ctx, r.port, address);
    }
  }
}

void flushTx(WorkerContext& ctx) {
  for (uint16_t i = 0; i < ctx.plane->ports.size(); ++i) {
    TxBatch& batch = ctx.tx[i];
    if (batch.count == 0) continue;
    const uint16_t sent = rte_eth_tx_burst(ctx.plane->ports[i].portId, ctx.queue, batch.packets.data(), batch.count);
    ctx.counters.txPackets += sent;
    for (uint16_t j = sent; j < batch.count; ++j) dropPacket(ctx, batch.packets[j], DropReason::TxFull);
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
  while (plane.running.load(std::memory_order_relaxed)) {
    const uint64_t now = rte_rdtsc();
    // Loop lengths: what "no worker loop pauses longer than 100 us" is measured by.
    if (previous != 0) {
      const uint64_t loop = now - previous;
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
