// The worker's chores besides its own bursts: packets other workers redirected to it,
// the flow table's expiry slice, the removed-endpoint purge and the reassembly timeouts.
// Same rules as worker.hpp: per lcore, bounded work per call, never blocks, throws or logs.
#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_ring.h>

#include "dpdk_app/fragments.hpp"
#include "dpdk_app/inspect_mailbox.hpp"
#include "dpdk_app/local_replies.hpp"
#include "dpdk_app/snat_allocator.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

namespace {
// Up to 4 removals and 16 entries scanned per loop. Each scanned entry is a cache line of
// a table far larger than the cache, so the slice is kept small: a worker forwarding
// 10 Mpps in bursts of 32 still loops ~300,000 times a second, which scans ~5 million
// entries a second (a 1M-flow table every 0.2 s; an idle worker loops far more often).
constexpr uint32_t kExpiryBudget = 4;
constexpr uint32_t kPurgeSlice = 1024;  // flow entries checked per loop while a purge runs
}  // namespace

uint16_t processRedirected(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  if (ctx.plane->redirect.empty()) return 0;
  rte_mbuf* packets[kBurstSize];
  const auto n = static_cast<uint16_t>(rte_ring_sc_dequeue_burst(ctx.plane->redirect[ctx.index],
                                                                  reinterpret_cast<void**>(packets), kBurstSize,
                                                                  nullptr));
  // Runs of packets with the same mbuf->port go through processBurst together. Its low
  // byte is the receiving port's index; its high byte, for an ICMP error handed on, the
  // number of workers that looked for its connection already (icmp_errors.hpp).
  uint16_t start = 0;
  ctx.countOnPort = false;  // the receiving worker counted them on their port
  for (uint16_t i = 1; i <= n; ++i) {
    if (i == n || packets[i]->port != packets[start]->port) {
      ctx.icmpErrorHops = static_cast<uint8_t>(packets[start]->port >> 8);
      processBurst(ctx, services, static_cast<uint16_t>(packets[start]->port & 0xff), packets + start,
                   static_cast<uint16_t>(i - start), now);
      start = i;
    }
  }
  ctx.icmpErrorHops = 0;
  ctx.countOnPort = true;
  return n;
}

void purgeRemovedFlows(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  ctx.now = now;  // sendResetToClient's rate limit
  if (services == nullptr) return;
  if (services->generation() != ctx.seenGeneration) {
    ctx.seenGeneration = services->generation();
    // A new table with removals: (re)start counting a full pass from where the cursor
    // is, so that an update storm cannot starve the scan of its end.
    if (services->hasRemovedBackends()) ctx.purgeRemaining = ctx.flows->capacity();
  }
  if (ctx.purgeRemaining == 0) return;
  if (!services->hasRemovedBackends()) {
    ctx.purgeRemaining = 0;
    return;
  }
  const uint32_t capacity = ctx.flows->capacity();
  const uint32_t slice = ctx.purgeRemaining < kPurgeSlice ? ctx.purgeRemaining : kPurgeSlice;
  for (uint32_t n = 0; n < slice; ++n) {
    const uint32_t index = ctx.purgeCursor;
    if (++ctx.purgeCursor == capacity) ctx.purgeCursor = 0;
    const FlowEntry& e = ctx.flows->entry(index);
    if (!e.live) continue;
    const uint64_t key = backendKey(rte_be_to_cpu_32(e.reverse.sourceAddress), rte_be_to_cpu_16(e.reverse.sourcePort),
                                    e.forward.protocol);
    if (!services->isRemovedBackend(e.serviceId, key)) continue;
    if (e.forward.protocol == IPPROTO_TCP) {
      // A client that never heard from the backend gets no RST (it could not match
      // one); its retransmitted SYN makes a new connection to a live endpoint.
      if (e.sawReply && e.tcpState != TcpState::Close) sendResetToClient(ctx, e, ctx.flows->window(index).peer[1].end);
      ++ctx.counters.flowsReset;
    } else {
      ++ctx.counters.flowsPurged;
    }
    ctx.flows->remove(index);
  }
  ctx.purgeRemaining -= slice;
}

void housekeeping(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  ctx.counters.flowsExpired += ctx.flows->expire(now, kExpiryBudget);
  // Once per loop, not per packet: the scrape reads the size here, never the table.
  ctx.counters.flowsInTable = ctx.flows->size();
  purgeRemovedFlows(ctx, services, now);
  continueSnatScans(ctx, now);
  expireFragments(ctx, now);
  serveInspection(ctx);
}

}  // namespace nicproxy
