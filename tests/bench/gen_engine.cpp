#include "tests/bench/gen_engine.hpp"

#include <cstring>

#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_udp.h>

namespace nicproxy::bench {

namespace {
constexpr uint8_t kHandshakeFlags = RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG | RTE_TCP_RST_FLAG | RTE_TCP_FIN_FLAG;
constexpr uint16_t kMaxBursts = 16;  // per poll(): bounded so that sending is not starved

/// True when the TCP or UDP checksum of a datagram in place is right. Summed over the
/// checksum field too, a right one leaves 0 (which rte_ipv4_udptcp_cksum turns into
/// 0xffff for UDP).
bool l4ChecksumRight(const rte_ipv4_hdr* ip, const void* l4) {
  const uint16_t sum = rte_ipv4_udptcp_cksum(ip, l4);
  return sum == 0 || sum == 0xffff;
}
}  // namespace

/// A received frame's headers (pointers into the mbuf).
struct Engine::Parsed {
  rte_ether_hdr* eth = nullptr;
  rte_ipv4_hdr* ip = nullptr;
  rte_tcp_hdr* tcp = nullptr;
  rte_udp_hdr* udp = nullptr;
  uint8_t* payload = nullptr;
  uint16_t payloadLength = 0;
  GenMarker* marker = nullptr;  // set when the payload starts with one
  bool foreignMac = false;      // addressed to a MAC that is not the generator's
};

Engine::Engine(GenPort& port, const GenOptions& options)
    : port_(port), options_(options), hz_(rte_get_tsc_hz()), tcp_(std::min<uint64_t>(options.flows, kMaxTcpFlows)),
      counts_(256) {}

rte_mbuf* Engine::allocate() {
  rte_mbuf* m = rte_pktmbuf_alloc(port_.pool());
  if (m == nullptr) ++poolEmpty_;
  return m;
}

FrameEnds Engine::clientEnds(uint64_t flow) const {
  FrameEnds e;
  e.sourceMac = port_.mac();
  e.destinationMac = options_.dutMac;
  e.destinationPort = options_.plan.servicePort;
  if (options_.layout == FlowLayout::Guarded) {
    e.source = flow == 0 ? GenPlan::kEstablishedClient : GenPlan::kProbeClient;
    e.sourcePort = flow == 0 ? GenPlan::kEstablishedClientPort : static_cast<uint16_t>(10000 + flow);
    e.destination = GenPlan::kGuardedVip;
  } else {
    e.source = options_.plan.client(flow);
    e.sourcePort = options_.plan.clientPort(flow);
    e.destination = options_.plan.vip(options_.plan.serviceOf(flow));
  }
  return e;
}

void Engine::sendUdpRequest(uint64_t flow) {
  rte_mbuf* m = allocate();
  if (m == nullptr) return;
  const GenMarker marker{kGenMagic, kGenRequest, trial_, static_cast<uint32_t>(flow)};
  writeUdp(m, clientEnds(flow), options_.frameSize, &marker);
  send(m, TxKind::Request);
}

void Engine::sendSyn(uint64_t flow) {
  rte_mbuf* m = allocate();
  if (m == nullptr) return;
  const uint32_t isn = kClientIsnTag | static_cast<uint32_t>(flow);
  writeTcp(m, clientEnds(flow), RTE_TCP_SYN_FLAG, isn, 0, 0, nullptr);
  send(m, TxKind::Handshake);
}

void Engine::sendTcpData(uint64_t flow) {
  rte_mbuf* m = allocate();
  if (m == nullptr) return;
  TcpFlow& t = tcp_[flow];
  const GenMarker marker{kGenMagic, kGenRequest, trial_, static_cast<uint32_t>(flow)};
  writeTcp(m, clientEnds(flow), RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, t.clientNext, t.clientAck, options_.tcpPayload,
           &marker);
  t.clientNext += std::max<uint16_t>(options_.tcpPayload, sizeof(GenMarker));
  send(m, TxKind::Request);
}

unsigned Engine::poll() {
  rte_mbuf* packets[32];
  unsigned total = 0;
  for (uint16_t b = 0; b < kMaxBursts; ++b) {
    const uint16_t n = rte_eth_rx_burst(port_.id(), 0, packets, 32);
    for (uint16_t i = 0; i < n; ++i) handle(packets[i]);
    total += n;
    if (n < 32) break;
  }
  port_.flush();
  return total;
}

void Engine::pollFor(uint64_t cycles) {
  const uint64_t end = rte_rdtsc() + cycles;
  while (rte_rdtsc() < end) poll();
}

bool Engine::backendSide(uint32_t destination) const {
  // Through nicproxy a backend's frames are addressed to it; through an io-forward DUT
  // the clients' frames come back unchanged, still addressed to the VIP.
  return options_.plan.isBackend(destination) || (options_.promiscuous && options_.plan.isVip(destination));
}

void Engine::handle(rte_mbuf* m) {
  RxCounts& c = counts_[trial_];
  ++c.total;
  const uint32_t length = rte_pktmbuf_data_len(m);
  Parsed p;
  if (length < sizeof(rte_ether_hdr)) {
    ++c.other;
    rte_pktmbuf_free(m);
    return;
  }
  p.eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  const bool groupMac = rte_is_multicast_ether_addr(&p.eth->dst_addr);
  p.foreignMac = !options_.promiscuous && !groupMac && !rte_is_same_ether_addr(&p.eth->dst_addr, &port_.mac());
  if (p.foreignMac) ++c.toOtherMacs;
  const uint16_t etherType = rte_be_to_cpu_16(p.eth->ether_type);
  if (etherType == RTE_ETHER_TYPE_ARP && length >= sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
    handleArp(m, p.eth);
    return;
  }
  if (etherType != RTE_ETHER_TYPE_IPV4 || length < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr)) {
    ++c.other;
    rte_pktmbuf_free(m);
    return;
  }
  if (groupMac) ++c.toBroadcastMac;
  p.ip = reinterpret_cast<rte_ipv4_hdr*>(p.eth + 1);
  const uint32_t headerLength = static_cast<uint32_t>(p.ip->version_ihl & 0x0f) * 4;
  const uint32_t ipLength = rte_be_to_cpu_16(p.ip->total_length);
  if (headerLength < sizeof(rte_ipv4_hdr) || ipLength < headerLength || sizeof(rte_ether_hdr) + ipLength > length ||
      (options_.verifyChecksums && rte_ipv4_cksum(p.ip) != 0)) {
    ++c.badChecksum;
    rte_pktmbuf_free(m);
    return;
  }
  uint8_t* l4 = reinterpret_cast<uint8_t*>(p.ip) + headerLength;
  const uint32_t l4Length = ipLength - headerLength;
  if (p.ip->next_proto_id == IPPROTO_ICMP) {
    ++c.icmp;
    rte_pktmbuf_free(m);
    return;
  }
  if (p.ip->next_proto_id == IPPROTO_TCP && l4Length >= sizeof(rte_tcp_hdr)) {
    p.tcp = reinterpret_cast<rte_tcp_hdr*>(l4);
    const uint32_t dataOffset = static_cast<uint32_t>(p.tcp->data_off >> 4) * 4;
    if (dataOffset < sizeof(rte_tcp_hdr) || dataOffset > l4Length ||
        (options_.verifyChecksums && !l4ChecksumRight(p.ip, p.tcp))) {
      ++c.badChecksum;
      rte_pktmbuf_free(m);
      return;
    }
    p.payload = l4 + dataOffset;
    p.payloadLength = static_cast<uint16_t>(l4Length - dataOffset);
  } else if (p.ip->next_proto_id == IPPROTO_UDP && l4Length >= sizeof(rte_udp_hdr)) {
    p.udp = reinterpret_cast<rte_udp_hdr*>(l4);
    if (options_.verifyChecksums && p.udp->dgram_cksum != 0 && !l4ChecksumRight(p.ip, p.udp)) {
      ++c.badChecksum;
      rte_pktmbuf_free(m);
      return;
    }
    p.payload = l4 + sizeof(rte_udp_hdr);
    p.payloadLength = static_cast<uint16_t>(l4Length - sizeof(rte_udp_hdr));
  } else {
    ++c.other;
    rte_pktmbuf_free(m);
    return;
  }
  if (p.payloadLength >= sizeof(GenMarker)) {
    auto* marker = reinterpret_cast<GenMarker*>(p.payload);
    if (marker->magic == kGenMagic) p.marker = marker;
  }
  if (p.marker != nullptr && handleMarked(m, p)) return;
  if (p.tcp != nullptr) {
    handleTcp(m, p);
    return;
  }
  if (backendSide(rte_be_to_cpu_32(p.ip->dst_addr))) {
    ++c.floodAtBackend;
  } else {
    ++c.floodRepliesAtClient;
  }
  rte_pktmbuf_free(m);
}

bool Engine::answerIsRight(const Parsed& p, uint64_t flow) const {
  const FrameEnds e = clientEnds(flow);
  return rte_be_to_cpu_32(p.ip->dst_addr) == e.source && rte_be_to_cpu_32(p.ip->src_addr) == e.destination &&
         rte_be_to_cpu_16(p.udp != nullptr ? p.udp->dst_port : p.tcp->dst_port) == e.sourcePort &&
         rte_be_to_cpu_16(p.udp != nullptr ? p.udp->src_port : p.tcp->src_port) == e.destinationPort;
}

/// Frames with a marker: the measured requests and answers, and flood frames. Returns
/// false for frames it leaves to the caller.
bool Engine::handleMarked(rte_mbuf* m, Parsed& p) {
  GenMarker& marker = *p.marker;
  const uint8_t trial = marker.trial;
  const uint64_t flow = marker.flow;
  RxCounts& c = counts_[trial];
  if (marker.kind == kGenFlood) {
    ++counts_[trial_].floodAtBackend;
    rte_pktmbuf_free(m);
    return true;
  }
  if (p.foreignMac) {
    ++c.misaddressed;
    rte_pktmbuf_free(m);
    return true;
  }
  if (marker.kind == kGenRequest) {
    if (p.tcp != nullptr && flow >= tcp_.size()) return false;
    ++c.requestsAtBackend;
    const uint32_t seq = rte_be_to_cpu_32(p.tcp != nullptr ? p.tcp->sent_seq : 0);
    turnAround(p.eth, p.ip, port_.mac());
    marker.kind = kGenAnswer;
    if (p.tcp != nullptr) {
      TcpFlow& t = tcp_[flow];
      p.tcp->sent_seq = rte_cpu_to_be_32(t.backendNext);
      p.tcp->recv_ack = rte_cpu_to_be_32(seq + p.payloadLength);
      p.tcp->tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
      t.backendNext += p.payloadLength;
      setTcpChecksum(p.ip);
    }
    send(m, TxKind::Answer, trial);
    return true;
  }
  if (marker.kind == kGenAnswer) {
    if (answerIsRight(p, flow)) {
      ++c.answersAtClient;
      if (p.tcp != nullptr && flow < tcp_.size()) {
        TcpFlow& t = tcp_[flow];
        const uint32_t end = rte_be_to_cpu_32(p.tcp->sent_seq) + p.payloadLength;
        if (static_cast<int32_t>(end - t.clientAck) > 0) t.clientAck = end;
      }
    } else {
      ++c.wrongAnswers;
    }
    rte_pktmbuf_free(m);
    return true;
  }
  return false;
}

void Engine::handleTcp(rte_mbuf* m, Parsed& p) {
  RxCounts& c = counts_[trial_];
  const uint8_t flags = p.tcp->tcp_flags & kHandshakeFlags;
  const uint32_t seq = rte_be_to_cpu_32(p.tcp->sent_seq);
  const uint32_t ack = rte_be_to_cpu_32(p.tcp->recv_ack);
  if (backendSide(rte_be_to_cpu_32(p.ip->dst_addr))) {
    if (flags == RTE_TCP_SYN_FLAG) {
      const uint64_t flow = seq & (kMaxTcpFlows - 1);
      const bool measured = (seq & ~(kMaxTcpFlows - 1)) == kClientIsnTag && flow < tcp_.size();
      if (measured && p.foreignMac) {
        ++c.misaddressed;
        rte_pktmbuf_free(m);
        return;
      }
      if (!measured && !options_.answerFloodSyns) {
        ++c.floodAtBackend;
        rte_pktmbuf_free(m);
        return;
      }
      uint32_t isn;
      if (measured) {
        ++c.synsAtBackend;
        TcpFlow& t = tcp_[flow];
        t.synSeen = true;
        t.snatAddress = rte_be_to_cpu_32(p.ip->src_addr);
        t.snatPort = rte_be_to_cpu_16(p.tcp->src_port);
        t.backendAddress = rte_be_to_cpu_32(p.ip->dst_addr);
        t.backendPort = rte_be_to_cpu_16(p.tcp->dst_port);
        isn = kBackendIsnTag | static_cast<uint32_t>(flow);
        t.backendNext = isn + 1;
      } else {
        ++c.floodAtBackend;
        isn = static_cast<uint32_t>(xorshift(random_)) & ~kBackendIsnTag;
      }
      turnAround(p.eth, p.ip, port_.mac());
      p.tcp->sent_seq = rte_cpu_to_be_32(isn);
      p.tcp->recv_ack = rte_cpu_to_be_32(seq + 1);
      p.tcp->tcp_flags = RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG;
      setTcpChecksum(p.ip);
      send(m, measured ? TxKind::Handshake : TxKind::FloodAnswer);
      return;
    }
    if (flags & RTE_TCP_RST_FLAG) {
      ++c.rstAtBackend;
    } else if (flags == RTE_TCP_ACK_FLAG && p.payloadLength == 0 &&
               ((seq - 1) & ~(kMaxTcpFlows - 1)) == kClientIsnTag) {
      ++c.acksAtBackend;
    } else {
      ++c.floodAtBackend;
    }
    rte_pktmbuf_free(m);
    return;
  }
  // The client side.
  if (flags == (RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG)) {
    const uint32_t isn = ack - 1;
    const uint64_t flow = isn & (kMaxTcpFlows - 1);
    if ((isn & ~(kMaxTcpFlows - 1)) == kClientIsnTag && flow < tcp_.size() && !p.foreignMac) {
      ++c.synAcksAtClient;
      TcpFlow& t = tcp_[flow];
      if (!t.established) {
        t.established = true;
        t.clientNext = isn + 1;
      }
      t.clientAck = seq + 1;
      turnAround(p.eth, p.ip, port_.mac());
      p.eth->dst_addr = options_.dutMac;  // the client sends to its next hop, not back to the source MAC
      p.tcp->sent_seq = rte_cpu_to_be_32(isn + 1);
      p.tcp->recv_ack = rte_cpu_to_be_32(seq + 1);
      p.tcp->tcp_flags = RTE_TCP_ACK_FLAG;
      setTcpChecksum(p.ip);
      send(m, TxKind::Handshake);
      return;
    }
    if ((isn & ~(kMaxTcpFlows - 1)) == kClientIsnTag && flow < tcp_.size()) {
      ++c.misaddressed;
    } else {
      ++c.floodRepliesAtClient;
    }
  } else if (flags & RTE_TCP_RST_FLAG) {
    ++c.rstAtClient;
  } else {
    ++c.floodRepliesAtClient;
  }
  rte_pktmbuf_free(m);
}

void Engine::handleArp(rte_mbuf* m, rte_ether_hdr* eth) {
  RxCounts& c = counts_[trial_];
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  const uint16_t opcode = rte_be_to_cpu_16(arp->arp_opcode);
  const uint32_t target = rte_be_to_cpu_32(arp->arp_data.arp_tip);
  if (opcode == RTE_ARP_OP_REQUEST && plays(target)) {
    ++c.arpAnswered;
    const rte_ether_addr requester = arp->arp_data.arp_sha;
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = requester;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    arp->arp_data.arp_sha = port_.mac();
    arp->arp_data.arp_sip = rte_cpu_to_be_32(target);
    eth->dst_addr = requester;
    eth->src_addr = port_.mac();
    send(m, TxKind::Arp);
    return;
  }
  if (opcode == RTE_ARP_OP_REPLY) {
    ++c.arpReplies;
  } else {
    ++c.arpOther;
  }
  rte_pktmbuf_free(m);
}

}  // namespace nicproxy::bench
