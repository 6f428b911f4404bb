#include "dpdk_app/worker.hpp"

#include <cstring>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_prefetch.h>
#include <rte_random.h>

#include "dpdk_app/nat.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

namespace {

constexpr uint32_t kSnatAttempts = 32;
constexpr uint32_t kExpiryBudget = 64;
constexpr uint32_t kProbesPerRound = 64;
constexpr uint8_t kReplyTtl = 64;

void drop(WorkerContext& ctx, rte_mbuf* m, DropReason reason) {
  ctx.counters.drop(reason);
  rte_pktmbuf_free(m);
}

void enqueueTx(WorkerContext& ctx, uint16_t port, rte_mbuf* m) {
  TxBatch& batch = ctx.tx[port];
  if (batch.count == TxBatch::kCapacity) {
    drop(ctx, m, DropReason::TxFull);
    return;
  }
  batch.packets[batch.count++] = m;
}

/// Where a packet to `destination` leaves, and the next hop's address.
struct Route {
  uint16_t port;
  rte_be32_t nextHop;
};

bool route(const DataPlane& plane, rte_be32_t destination, Route& out) {
  for (uint16_t i = 0; i < plane.ports.size(); ++i) {
    const PortInfo& p = plane.ports[i];
    if ((destination & p.mask) == (p.address & p.mask)) {
      out = Route{i, destination};
      return true;
    }
  }
  for (uint16_t i = 0; i < plane.ports.size(); ++i) {
    if (plane.ports[i].gateway != 0) {
      out = Route{i, plane.ports[i].gateway};
      return true;
    }
  }
  return false;
}

void sendArpRequest(WorkerContext& ctx, uint16_t port, rte_be32_t target) {
  rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
  if (m == nullptr) return;  // pool empty: the next retry asks again
  const PortInfo& p = ctx.plane->ports[port];
  constexpr uint16_t kLength = sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, kLength));
  std::memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
  rte_ether_addr_copy(&p.mac, &eth->src_addr);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = sizeof(rte_be32_t);
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  rte_ether_addr_copy(&p.mac, &arp->arp_data.arp_sha);
  arp->arp_data.arp_sip = p.address;
  std::memset(&arp->arp_data.arp_tha, 0, RTE_ETHER_ADDR_LEN);
  arp->arp_data.arp_tip = target;
  ++ctx.counters.arpRequests;
  enqueueTx(ctx, port, m);
}

/// Fills in the Ethernet header towards `nextHop` on `port`; false (and an ARP request
/// when it is time to ask) when the MAC is not known yet.
bool addressFrame(WorkerContext& ctx, const ParsedFrame& f, uint16_t port, rte_be32_t nextHop, uint64_t now) {
  rte_ether_addr mac;
  const Timeouts& t = ctx.plane->timeouts;
  if (!ctx.plane->neighbors.lookup(nextHop, mac)) {
    if (ctx.plane->neighbors.claimRequest(nextHop, now, t.arpRetry, t.arpRefresh)) {
      sendArpRequest(ctx, port, nextHop);
    }
    return false;
  }
  rte_ether_addr_copy(&mac, &f.eth->dst_addr);
  rte_ether_addr_copy(&ctx.plane->ports[port].mac, &f.eth->src_addr);
  return true;
}

void handleArp(WorkerContext& ctx, const FastServiceTable* services, uint16_t port, rte_mbuf* m,
               const ParsedFrame& f, uint64_t now) {
  rte_arp_hdr* arp = f.arp;
  const PortInfo& p = ctx.plane->ports[port];
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != sizeof(rte_be32_t)) {
    drop(ctx, m, DropReason::ArpIgnored);
    return;
  }
  const rte_be32_t target = arp->arp_data.arp_tip;
  const rte_be32_t sender = arp->arp_data.arp_sip;
  const bool forUs = target == p.address ||
                     (services != nullptr && (services->localAddressFlags(target) & kAnswerArp) != 0 &&
                      (target & p.mask) == (p.address & p.mask));
  // Learn like the kernel does: from ARP addressed to us, and refresh entries we
  // already have (gratuitous ARP after a pod moves), but never fill the table with
  // every host that talks on the segment.
  const bool senderOnLink = sender != 0 && (sender & p.mask) == (p.address & p.mask);
  if (senderOnLink) {
    if (forUs) {
      ctx.plane->neighbors.learn(sender, arp->arp_data.arp_sha, now);
    } else {
      ctx.plane->neighbors.refresh(sender, arp->arp_data.arp_sha, now);
    }
  }
  if (!forUs || arp->arp_opcode != rte_cpu_to_be_16(RTE_ARP_OP_REQUEST)) {
    if (forUs) {
      ++ctx.counters.arpLearned;  // a reply to our request: learnt above
      rte_pktmbuf_free(m);
    } else {
      drop(ctx, m, DropReason::ArpIgnored);
    }
    return;
  }
  // Answer in place.
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
  arp->arp_data.arp_tha = arp->arp_data.arp_sha;
  arp->arp_data.arp_tip = sender;
  rte_ether_addr_copy(&p.mac, &arp->arp_data.arp_sha);
  arp->arp_data.arp_sip = target;
  rte_ether_addr_copy(&f.eth->src_addr, &f.eth->dst_addr);
  rte_ether_addr_copy(&p.mac, &f.eth->src_addr);
  ++ctx.counters.arpReplies;
  enqueueTx(ctx, port, m);
}

/// Answers an ICMP echo request to one of our addresses in place.
void handleIcmp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f, bool toLocalAddress) {
  rte_icmp_hdr* icmp = icmpHeader(f);
  if (!toLocalAddress || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
    drop(ctx, m, toLocalAddress ? DropReason::UnsupportedL4 : DropReason::NotForUs);
    return;
  }
  uint16_t before;
  std::memcpy(&before, icmp, sizeof before);
  icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  uint16_t after;
  std::memcpy(&after, icmp, sizeof after);
  icmp->icmp_cksum = checksumReplace16(icmp->icmp_cksum, before, after);
  const rte_be32_t requester = f.ip->src_addr;
  f.ip->src_addr = f.ip->dst_addr;
  f.ip->dst_addr = requester;
  f.ip->time_to_live = kReplyTtl;
  f.ip->hdr_checksum = 0;
  f.ip->hdr_checksum = rte_ipv4_cksum(f.ip);
  rte_ether_addr_copy(&f.eth->src_addr, &f.eth->dst_addr);
  rte_ether_addr_copy(&ctx.plane->ports[port].mac, &f.eth->src_addr);
  ++ctx.counters.icmpEchoReplies;
  enqueueTx(ctx, port, m);
}

/// Answers a TCP segment with a RST, in place (kube-proxy's REJECT for TCP).
void rejectTcp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f) {
  const rte_tcp_hdr in = *tcpHeader(f);
  if ((in.tcp_flags & RTE_TCP_RST_FLAG) != 0) {
    drop(ctx, m, DropReason::NoService);  // never answer a RST with a RST
    return;
  }
  const uint32_t headerLength = static_cast<uint32_t>(in.data_off >> 4) * 4;
  uint32_t segmentLength = f.l4Length - headerLength;
  if (in.tcp_flags & RTE_TCP_SYN_FLAG) ++segmentLength;
  if (in.tcp_flags & RTE_TCP_FIN_FLAG) ++segmentLength;
  const rte_be32_t client = f.ip->src_addr;
  const rte_be32_t frontend = f.ip->dst_addr;

  // Rebuild a bare IPv4 + TCP header right after the Ethernet header.
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(f.eth + 1);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr));
  ip->time_to_live = kReplyTtl;
  ip->next_proto_id = IPPROTO_TCP;
  ip->src_addr = frontend;
  ip->dst_addr = client;
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  std::memset(tcp, 0, sizeof *tcp);
  tcp->src_port = in.dst_port;
  tcp->dst_port = in.src_port;
  if (in.tcp_flags & RTE_TCP_ACK_FLAG) {
    tcp->sent_seq = in.recv_ack;
    tcp->tcp_flags = RTE_TCP_RST_FLAG;
  } else {
    tcp->recv_ack = rte_cpu_to_be_32(rte_be_to_cpu_32(in.sent_seq) + segmentLength);
    tcp->tcp_flags = RTE_TCP_RST_FLAG | RTE_TCP_ACK_FLAG;
  }
  tcp->data_off = static_cast<uint8_t>((sizeof(rte_tcp_hdr) / 4) << 4);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);

  const uint32_t length = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - length));
  rte_ether_addr_copy(&f.eth->src_addr, &f.eth->dst_addr);
  rte_ether_addr_copy(&ctx.plane->ports[port].mac, &f.eth->src_addr);
  ++ctx.counters.rejected;
  enqueueTx(ctx, port, m);
}

/// Answers a UDP datagram with ICMP port unreachable (kube-proxy's REJECT for UDP).
void rejectUdp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f) {
  rte_mbuf* reply = rte_pktmbuf_alloc(ctx.pool);
  if (reply == nullptr) {
    drop(ctx, m, DropReason::NoService);
    return;
  }
  // RFC 792: the offending IP header and the first 8 bytes of its payload.
  const uint32_t quotedLength = static_cast<uint32_t>(f.ip->version_ihl & 0x0f) * 4 + 8;
  const uint32_t length = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_icmp_hdr) + quotedLength;
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(reply, static_cast<uint16_t>(length)));
  rte_ether_addr_copy(&f.eth->src_addr, &eth->dst_addr);
  rte_ether_addr_copy(&ctx.plane->ports[port].mac, &eth->src_addr);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(length - sizeof(rte_ether_hdr)));
  ip->time_to_live = kReplyTtl;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->src_addr = f.ip->dst_addr;
  ip->dst_addr = f.ip->src_addr;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  std::memset(icmp, 0, sizeof *icmp);
  icmp->icmp_type = 3;  // destination unreachable
  icmp->icmp_code = 3;  // port unreachable
  std::memcpy(icmp + 1, f.ip, quotedLength);
  icmp->icmp_cksum = static_cast<uint16_t>(~rte_raw_cksum(icmp, sizeof *icmp + quotedLength));
  rte_pktmbuf_free(m);
  ++ctx.counters.rejected;
  enqueueTx(ctx, port, reply);
}

uint64_t tcpTimeout(const Timeouts& t, TcpState state) {
  switch (state) {
    case TcpState::Established: return t.tcpEstablished;
    case TcpState::Closing: return t.tcpClosing;
    default: return t.tcpSynSent;
  }
}

/// Advances the TCP state from one packet's flags and sets the entry's expiry.
void touchFlow(const Timeouts& t, FlowEntry& e, const ParsedFrame& f, FlowDirection direction, uint64_t now) {
  if (f.protocol != IPPROTO_TCP) {
    e.expiresAt = now + t.udp;
    return;
  }
  const uint8_t flags = tcpHeader(f)->tcp_flags;
  if (flags & (RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG)) {
    e.tcpState = TcpState::Closing;
  } else if (e.tcpState == TcpState::SynSent && direction == FlowDirection::Reverse &&
             (flags & RTE_TCP_ACK_FLAG)) {
    e.tcpState = TcpState::Established;
  }
  e.expiresAt = now + tcpTimeout(t, e.tcpState);
}

FlowKey keyOf(const ParsedFrame& f) {
  return FlowKey{f.ip->src_addr, f.ip->dst_addr, l4SourcePort(f), l4DestinationPort(f), f.protocol, {0, 0, 0}};
}

/// Sends a packet of an existing connection in its direction.
void forwardOnFlow(WorkerContext& ctx, rte_mbuf* m, const ParsedFrame& f, uint32_t index,
                   FlowDirection direction, uint64_t now) {
  FlowEntry& e = ctx.flows->entry(index);
  if (f.ip->time_to_live <= 1) {
    drop(ctx, m, DropReason::TtlExceeded);
    return;
  }
  if (direction == FlowDirection::Forward) {
    Route r;
    if (!route(*ctx.plane, e.reverse.sourceAddress, r)) {
      drop(ctx, m, DropReason::NoRoute);
      return;
    }
    if (!addressFrame(ctx, f, r.port, r.nextHop, now)) {
      drop(ctx, m, DropReason::NeighborUnresolved);
      return;
    }
    touchFlow(ctx.plane->timeouts, e, f, direction, now);
    applyTranslation(f, Translation{e.reverse.destinationAddress, e.reverse.sourceAddress,
                                    e.reverse.destinationPort, e.reverse.sourcePort});
    ++ctx.counters.natForward;
    enqueueTx(ctx, r.port, m);
  } else {
    touchFlow(ctx.plane->timeouts, e, f, direction, now);
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
    if (candidate > 65535) continue;
    reverse.destinationPort = rte_cpu_to_be_16(static_cast<uint16_t>(candidate));
    if (!ctx.flows->contains(reverse)) return true;
  }
  return false;
}

/// A packet that matched no connection: a new connection to a service, a reject, or a drop.
void handleNewConnection(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort,
                         rte_mbuf* m, const ParsedFrame& f, uint64_t now) {
  const ServiceEntry* service = nullptr;
  if (services != nullptr) {
    service = services->lookup(ServiceKey{f.ip->dst_addr, l4DestinationPort(f), f.protocol, 0});
  }
  if (service == nullptr) {
    const bool local = f.ip->dst_addr == ctx.plane->ports[rxPort].address ||
                       (services != nullptr && services->localAddressFlags(f.ip->dst_addr) != 0);
    if (!local) {
      drop(ctx, m, DropReason::NotForUs);
    } else if (f.ip->dst_addr == ctx.plane->ports[rxPort].address &&
               rte_be_to_cpu_16(l4DestinationPort(f)) >= kSnatPortMin) {
      drop(ctx, m, DropReason::NoFlow);
    } else {
      drop(ctx, m, DropReason::NoService);
    }
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
      drop(ctx, m, DropReason::TcpNotSyn);
      return;
    }
  }
  if (f.ip->time_to_live <= 1) {
    drop(ctx, m, DropReason::TtlExceeded);
    return;
  }
  // The bulk lookup ran before this burst's earlier packets were handled: a
  // retransmitted SYN in the same burst finds the connection its twin just made.
  uint64_t existing = 0;
  const FlowKey forward = keyOf(f);
  if (ctx.flows->lookup(forward, existing)) {
    forwardOnFlow(ctx, m, f, FlowTable::entryIndex(existing), FlowTable::direction(existing), now);
    return;
  }
  const Backend& backend = services->backend(*service, static_cast<uint32_t>(rte_rand_max(service->backendCount)));
  Route r;
  if (!route(*ctx.plane, backend.address, r)) {
    drop(ctx, m, DropReason::NoRoute);
    return;
  }
  FlowKey reverse{backend.address, ctx.plane->ports[r.port].address, backend.port, 0, f.protocol, {0, 0, 0}};
  if (!pickSnatPort(ctx, reverse)) {
    drop(ctx, m, DropReason::SnatPortsExhausted);
    return;
  }
  const int64_t index = ctx.flows->insert(forward, reverse);
  if (index < 0) {
    drop(ctx, m, DropReason::FlowTableFull);
    return;
  }
  FlowEntry& e = ctx.flows->entry(static_cast<uint32_t>(index));
  rte_ether_addr_copy(&f.eth->src_addr, &e.clientHop);
  e.clientPort = rxPort;
  e.backendPort = r.port;
  e.tcpState = f.protocol == IPPROTO_TCP ? TcpState::SynSent : TcpState::None;
  ++ctx.counters.flowsCreated;
  // Arm the timer now: if the first packet waits for ARP, the entry must outlive the
  // expiry scan until the client retransmits.
  touchFlow(ctx.plane->timeouts, e, f, FlowDirection::Forward, now);
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
  if (ctx.flows->entry(index).tcpState != TcpState::Closing) return false;
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
      drop(ctx, m, reason);
      packets[i] = nullptr;
      continue;
    }
    if (kind == FrameKind::Arp) {
      handleArp(ctx, services, rxPort, m, f, now);
      packets[i] = nullptr;
      continue;
    }
    if (!rte_is_same_ether_addr(&f.eth->dst_addr, &port.mac)) {
      drop(ctx, m, DropReason::NotForUs);
      packets[i] = nullptr;
      continue;
    }
    if (f.protocol == IPPROTO_ICMP) {
      const bool local = f.ip->dst_addr == port.address ||
                         (services != nullptr && services->localAddressFlags(f.ip->dst_addr) != 0);
      handleIcmp(ctx, rxPort, m, f, local);
      packets[i] = nullptr;
      continue;
    }
    keys[keyCount] = keyOf(f);
    keyPointers[keyCount] = &keys[keyCount];
    lookupSlot[i] = keyCount++;
  }

  // Pass 2: one bulk lookup for the burst, then translate or start connections.
  uint64_t values[kBurstSize];
  const uint64_t hits = keyCount > 0 ? ctx.flows->lookupBulk(keyPointers, keyCount, values) : 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (lookupSlot[i] == kNone) continue;
    const uint16_t slot = lookupSlot[i];
    if ((hits & (uint64_t{1} << slot)) && !isNewSynOnClosedFlow(ctx, frames[i], values[slot])) {
      forwardOnFlow(ctx, packets[i], frames[i], FlowTable::entryIndex(values[slot]),
                    FlowTable::direction(values[slot]), now);
    } else {
      handleNewConnection(ctx, services, rxPort, packets[i], frames[i], now);
    }
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
    for (uint16_t j = sent; j < batch.count; ++j) drop(ctx, batch.packets[j], DropReason::TxFull);
    batch.count = 0;
  }
}

int runWorker(void* arg) {
  auto& ctx = *static_cast<WorkerContext*>(arg);
  DataPlane& plane = *ctx.plane;
  rte_rcu_qsbr_thread_register(plane.qsbr, ctx.index);
  rte_rcu_qsbr_thread_online(plane.qsbr, ctx.index);
  rte_mbuf* packets[kBurstSize];
  while (plane.running.load(std::memory_order_relaxed)) {
    const uint64_t now = rte_rdtsc();
    // acquire: pairs with the provider's release store, so the table's contents are
    // visible before its pointer; the pointer is not used after the quiescent report.
    const FastServiceTable* services = plane.services.load(std::memory_order_acquire);
    for (uint16_t p = 0; p < plane.ports.size(); ++p) {
      const uint16_t n = rte_eth_rx_burst(plane.ports[p].portId, ctx.queue, packets, kBurstSize);
      if (n > 0) processBurst(ctx, services, p, packets, n, now);
    }
    if (ctx.index == 0 && now >= ctx.nextProbeAt) {
      probeNeighbors(ctx, services, now);
      ctx.nextProbeAt = now + plane.timeouts.probeInterval;
    }
    flushTx(ctx);
    ctx.counters.flowsExpired += ctx.flows->expire(now, kExpiryBudget);
    rte_rcu_qsbr_quiescent(plane.qsbr, ctx.index);
  }
  rte_rcu_qsbr_thread_offline(plane.qsbr, ctx.index);
  rte_rcu_qsbr_thread_unregister(plane.qsbr, ctx.index);
  return 0;
}

}  // namespace nicproxy
