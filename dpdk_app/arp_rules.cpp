#include "dpdk_app/arp_rules.hpp"

#include "dpdk_app/local_replies.hpp"

namespace nicproxy {

ArpTarget arpTargetOf(const DataPlane& plane, const FastServiceTable* services, uint16_t port, rte_be32_t target) {
  const PortInfo& p = plane.ports[port];
  if (p.isOwnAddress(target)) return ArpTarget::Ours;  // the port address or one of its SNAT addresses
  const bool inSubnet = (target & p.mask) == (p.address & p.mask);
  if (!inSubnet || services == nullptr || (services->localAddressFlags(target) & kAnswerArp) == 0) {
    return ArpTarget::NotOurs;
  }
  for (const PortInfo& other : plane.ports) {
    if (target == other.gateway || other.isOwnAddress(target)) return ArpTarget::Conflict;
  }
  // A bucket search of the neighbour table: ARP requests for external IPs only.
  if (plane.neighbors.knownHost(target)) return ArpTarget::Conflict;
  return ArpTarget::Ours;
}

NeighborTable::Heard hearArpSender(WorkerContext& ctx, uint16_t port, const rte_arp_hdr& arp, uint64_t now) {
  const PortInfo& p = ctx.plane->ports[port];
  const rte_be32_t sender = arp.arp_data.arp_sip;
  if (sender == 0 || p.isOwnAddress(sender) || (sender & p.mask) != (p.address & p.mask)) {
    return NeighborTable::Heard::Unknown;
  }
  // Only a reply to our port address can answer our request (we ask from it).
  const bool answersUs = arp.arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) && arp.arp_data.arp_tip == p.address;
  NeighborTable& neighbors = ctx.plane->neighbors;
  const Timeouts& t = ctx.plane->timeouts;
  const NeighborTable::Heard heard = neighbors.hear(sender, arp.arp_data.arp_sha, now, answersUs, t.arpRetry);
  // Someone says the neighbour moved (or a late or forged answer): believe only the
  // answer to a request of our own, sent now.
  if (heard == NeighborTable::Heard::Differs && neighbors.claimConfirmation(sender, now, t.arpRetry)) {
    sendArpRequest(ctx, port, sender);
  }
  return heard;
}

}  // namespace nicproxy
