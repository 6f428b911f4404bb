// Worker 0's neighbour chores, once per probe interval: ask for the MACs of gateways and
// backends ahead of traffic, ask who else owns the external / LB IPs nicproxy answers ARP
// for, and a slice of the neighbour table's expiry. Same rules as worker.hpp: bounded work
// per call, never blocks, throws or logs.
#include "dpdk_app/local_replies.hpp"
#include "dpdk_app/next_hop.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

namespace {
constexpr uint32_t kProbesPerRound = 64;  // backends, and as many answered addresses
// Slots scanned for expiry per round: the whole table every 4096 / 512 = 8 rounds (4 s).
constexpr uint32_t kExpirySlice = 512;

/// Asks for up to kProbesPerRound of `addresses` from `cursor` on, those on a port's
/// subnet, with `claim` (claimRequest or claimProbe) deciding which are due.
template <typename Claim>
void probeSome(WorkerContext& ctx, const std::vector<rte_be32_t>& addresses, uint32_t& cursor, uint64_t now,
               Claim claim) {
  const uint32_t total = static_cast<uint32_t>(addresses.size());
  for (uint32_t n = 0; n < kProbesPerRound && n < total; ++n) {
    if (cursor >= total) cursor = 0;
    const rte_be32_t address = addresses[cursor++];
    Route r;
    if (route(*ctx.plane, address, r) && r.nextHop == address && claim(address, now)) {
      sendArpRequest(ctx, r.port, address);
    }
  }
}
}  // namespace

void probeNeighbors(WorkerContext& ctx, const FastServiceTable* services, uint64_t now) {
  const Timeouts& t = ctx.plane->timeouts;
  NeighborTable& neighbors = ctx.plane->neighbors;
  for (uint16_t i = 0; i < ctx.plane->ports.size(); ++i) {
    const rte_be32_t gateway = ctx.plane->ports[i].gateway;
    if (gateway != 0 && neighbors.claimRequest(gateway, now, t.arpRetry, t.arpRefresh)) {
      sendArpRequest(ctx, i, gateway);
    }
  }
  if (services != nullptr) {
    probeSome(ctx, services->backendAddresses(), ctx.probeCursor, now, [&](rte_be32_t address, uint64_t at) {
      return neighbors.claimRequest(address, at, t.arpRetry, t.arpRefresh);
    });
    // Does another host own an address we answer for? Its answer makes it a neighbour,
    // and arpTargetOf() stops answering for it.
    probeSome(ctx, services->answeredAddresses(), ctx.ownerProbeCursor, now, [&](rte_be32_t address, uint64_t at) {
      return neighbors.claimProbe(address, at, t.arpRetry, t.arpRefresh);
    });
  }
  neighbors.expire(now, t.arpRefresh, t.arpFail, t.arpExpire, kExpirySlice);
}

}  // namespace nicproxy
