#include "dpdk_app/local_replies.hpp"

#include <cstring>

#include "dpdk_app/arp_rules.hpp"
#include "dpdk_app/checksum.hpp"
#include "dpdk_app/exception_path.hpp"

namespace nicproxy {

namespace {
constexpr uint8_t kReplyTtl = 64;

/// Takes a token for one reply of nicproxy's own (dpdk.replyRateLimit).
bool replyAllowed(WorkerContext& ctx) { return ctx.replyLimiter.allow(ctx.now); }
}  // namespace

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

void handleArp(WorkerContext& ctx, const FastServiceTable* services, uint16_t port, rte_mbuf* m,
               const ParsedFrame& f, uint64_t now) {
  rte_arp_hdr* arp = f.arp;
  const PortInfo& p = ctx.plane->ports[port];
  if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != sizeof(rte_be32_t)) {
    dropPacket(ctx, m, DropReason::ArpIgnored);
    return;
  }
  const rte_be32_t target = arp->arp_data.arp_tip;
  const rte_be32_t sender = arp->arp_data.arp_sip;
  const bool request = arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  // The sender first: answering rewrites the frame. Learns only what we asked for.
  const bool solicited = hearArpSender(ctx, port, *arp, now) == NeighborTable::Heard::Solicited;
  const ArpTarget answer = request ? arpTargetOf(*ctx.plane, services, port, target) : ArpTarget::NotOurs;
  if (answer == ArpTarget::Conflict) {
    dropPacket(ctx, m, DropReason::ArpConflict);
    return;
  }
  if (hasExceptionPath(ctx, port) && (answer == ArpTarget::NotOurs || target == p.address)) {
    // The kernel interface owns the port address now: it answers for it, and hears every
    // ARP nicproxy does not answer itself (after the neighbour table learnt from it above),
    // as it would on a NIC of its own. Frames for another station stay nobody's.
    if (solicited) ++ctx.counters.arpLearned;
    if (rte_is_same_ether_addr(&f.eth->dst_addr, &p.mac) || rte_is_multicast_ether_addr(&f.eth->dst_addr)) {
      sendToKernel(ctx, port, m, DropReason::ArpIgnored);
    } else if (solicited) {
      rte_pktmbuf_free(m);
    } else {
      dropPacket(ctx, m, request && sender != target ? DropReason::ArpIgnored : DropReason::ArpUnsolicited);
    }
    return;
  }
  if (answer == ArpTarget::NotOurs) {
    if (solicited) {
      ++ctx.counters.arpLearned;  // an answer to our request: learnt above
      rte_pktmbuf_free(m);
    } else {
      // A request for another host is normal chatter; anything else (a reply, a
      // gratuitous announcement: sender == target) is an ARP we did not ask for.
      dropPacket(ctx, m, request && sender != target ? DropReason::ArpIgnored : DropReason::ArpUnsolicited);
    }
    return;
  }
  answerArpInPlace(ctx, port, f);
  enqueueTx(ctx, port, m);
}

void answerArpInPlace(WorkerContext& ctx, uint16_t port, const ParsedFrame& f) {
  rte_arp_hdr* arp = f.arp;
  const PortInfo& p = ctx.plane->ports[port];
  const rte_be32_t target = arp->arp_data.arp_tip;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
  arp->arp_data.arp_tha = arp->arp_data.arp_sha;
  arp->arp_data.arp_tip = arp->arp_data.arp_sip;
  rte_ether_addr_copy(&p.mac, &arp->arp_data.arp_sha);
  arp->arp_data.arp_sip = target;
  rte_ether_addr_copy(&f.eth->src_addr, &f.eth->dst_addr);
  rte_ether_addr_copy(&p.mac, &f.eth->src_addr);
  ++ctx.counters.arpReplies;
}

/// Answers an ICMP echo request to one of our addresses in place.
void handleIcmp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f, bool toLocalAddress) {
  rte_icmp_hdr* icmp = icmpHeader(f);
  if (!toLocalAddress || icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) {
    dropPacket(ctx, m, toLocalAddress ? DropReason::IcmpIgnored : DropReason::NotForUs);
    return;
  }
  if (!replyAllowed(ctx)) {
    dropPacket(ctx, m, DropReason::ReplyRateLimited);
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
void sendResetToClient(WorkerContext& ctx, const FlowEntry& e, uint32_t sequence) {
  if (!replyAllowed(ctx)) {
    ctx.counters.drop(DropReason::ReplyRateLimited);  // no packet to free: the RST itself is what is dropped
    return;
  }
  rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
  if (m == nullptr) return;  // pool empty: the client finds out on its next packet (no flow, NoFlow drop)
  constexpr uint16_t kLength = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, kLength));
  rte_ether_addr_copy(&e.clientHop, &eth->dst_addr);
  rte_ether_addr_copy(&ctx.plane->ports[e.clientPort].mac, &eth->src_addr);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr));
  ip->time_to_live = kReplyTtl;
  ip->next_proto_id = IPPROTO_TCP;
  ip->src_addr = e.forward.destinationAddress;
  ip->dst_addr = e.forward.sourceAddress;
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  std::memset(tcp, 0, sizeof *tcp);
  tcp->src_port = e.forward.destinationPort;
  tcp->dst_port = e.forward.sourcePort;
  tcp->sent_seq = rte_cpu_to_be_32(sequence);
  tcp->tcp_flags = RTE_TCP_RST_FLAG;
  tcp->data_off = static_cast<uint8_t>((sizeof(rte_tcp_hdr) / 4) << 4);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  enqueueTx(ctx, e.clientPort, m);
}

void rejectTcp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f) {
  const rte_tcp_hdr in = *tcpHeader(f);
  if ((in.tcp_flags & RTE_TCP_RST_FLAG) != 0) {
    dropPacket(ctx, m, DropReason::NoService);  // never answer a RST with a RST
    return;
  }
  if (!replyAllowed(ctx)) {
    dropPacket(ctx, m, DropReason::ReplyRateLimited);
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
  if (m->next != nullptr) {
    // A reassembled segment is a chain (fragments.hpp), and rte_pktmbuf_trim() trims only
    // the last mbuf: the RST needs the first one alone, which holds the headers.
    rte_pktmbuf_free(m->next);
    m->next = nullptr;
    m->nb_segs = 1;
    m->pkt_len = m->data_len;
  }
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_pkt_len(m) - length));
  rte_ether_addr_copy(&f.eth->src_addr, &f.eth->dst_addr);
  rte_ether_addr_copy(&ctx.plane->ports[port].mac, &f.eth->src_addr);
  ++ctx.counters.rejected;
  enqueueTx(ctx, port, m);
}

/// Answers a UDP datagram with ICMP port unreachable (kube-proxy's REJECT for UDP).
void rejectUdp(WorkerContext& ctx, uint16_t port, rte_mbuf* m, const ParsedFrame& f) {
  if (!replyAllowed(ctx)) {
    dropPacket(ctx, m, DropReason::ReplyRateLimited);
    return;
  }
  rte_mbuf* reply = rte_pktmbuf_alloc(ctx.pool);
  if (reply == nullptr) {
    dropPacket(ctx, m, DropReason::NoService);
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

}  // namespace nicproxy
