#pragma once
// Choosing an endpoint for a new connection on a worker: ClientIP affinity first, then
// the service port's scheduler (Maglev over the 5-tuple, round-robin, random); and the
// loadBalancerSourceRanges check. Same rules as worker.hpp: never blocks, allocates or
// logs. Inline: called once per new connection from processBurst().
#include <atomic>
#include <cstdint>

#include <rte_hash_crc.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

inline constexpr uint32_t kMaglevSeed = 0x6d61676c;
inline constexpr uint32_t kAffinitySeed = 0x61666669;

/// The Maglev slot of a connection (the hash of its 5-tuple as received) in `s`'s table.
inline uint32_t maglevSlot(const ServiceEntry& s, const FlowKey& forward) {
  return rte_hash_crc(&forward, sizeof forward, kMaglevSeed) % s.maglevSize;
}

/// True when chooseBackend() will pick `s`'s endpoint by maglevSlot() alone.
inline bool choosesByMaglevSlot(const ServiceEntry& s, const WorkerContext& ctx) {
  return s.scheduler == Scheduler::Maglev && s.maglevSize != 0 && (s.affinitySeconds == 0 || ctx.affinity == nullptr);
}

/// Starts loading what chooseBackend() will read for `n` new connections (services[i]
/// with forward keys[i]), level by level for all of them: the service entries, then the
/// Maglev slots, then the endpoints there, so that each level's cache misses overlap.
inline void prefetchChoices(const WorkerContext& ctx, const ServiceEntry* const* services, const FlowKey* const* keys,
                            uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) rte_prefetch0(services[i]);
  for (uint16_t i = 0; i < n; ++i) {
    if (choosesByMaglevSlot(*services[i], ctx)) rte_prefetch0(&services[i]->maglev[maglevSlot(*services[i], *keys[i])]);
  }
  for (uint16_t i = 0; i < n; ++i) {
    const ServiceEntry& s = *services[i];
    if (choosesByMaglevSlot(s, ctx)) rte_prefetch0(&s.backends[s.maglev[maglevSlot(s, *keys[i])]]);
  }
}

/// The endpoint for a new connection: the ClientIP affinity record's, else the
/// scheduler's choice. `s` has at least one backend.
inline const Backend& chooseBackend(WorkerContext& ctx, const ServiceEntry& s, const FlowKey& forward, uint64_t now) {
  if (s.affinitySeconds != 0 && ctx.affinity != nullptr) {
    const rte_be32_t client = forward.sourceAddress;
    const Backend* chosen = nullptr;
    AffinityRecord r;
    if (ctx.affinity->find(client, s.affinityId, now, r)) {
      // Only while the endpoint still serves this frontend; the set is small.
      for (uint32_t i = 0; i < s.backendCount; ++i) {
        if (s.backends[i].address == r.backendAddress && s.backends[i].port == r.backendPort) {
          chosen = &s.backends[i];
          ++ctx.counters.affinityHits;
          break;
        }
      }
    }
    if (chosen == nullptr) {
      // Every worker computes the same first choice for a client: see affinity.hpp.
      chosen = &s.backends[s.maglev[rte_hash_crc_4byte(client, kAffinitySeed) % s.maglevSize]];
    }
    ctx.affinity->remember(client, s.affinityId, chosen->address, chosen->port,
                           now + uint64_t{s.affinitySeconds} * ctx.plane->timeouts.hz);
    return *chosen;
  }
  switch (s.scheduler) {
    case Scheduler::Maglev:
      return s.backends[s.maglev[maglevSlot(s, forward)]];
    case Scheduler::RoundRobin:
      // Shared by the workers: a relaxed add is enough for an even spread.
      return s.backends[s.roundRobin->fetch_add(1, std::memory_order_relaxed) % s.backendCount];
    case Scheduler::Random:
      break;
  }
  return s.backends[rte_rand_max(s.backendCount)];
}

/// loadBalancerSourceRanges: true when `source` may use the frontend.
inline bool sourceAllowed(const ServiceEntry& s, rte_be32_t source) {
  if (s.sourceRangeCount == 0) return true;
  for (uint16_t i = 0; i < s.sourceRangeCount; ++i) {
    if ((source & s.sourceRanges[i].mask) == s.sourceRanges[i].network) return true;
  }
  return false;
}

}  // namespace nicproxy
