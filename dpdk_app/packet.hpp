#pragma once
// Bounds-checked header parsing for the fast path. Nothing here trusts a length
// field before checking it against the bytes the mbuf really holds; a frame that
// fails a check yields a DropReason, never a read past the end.
#include <cstdint>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dpdk_app/counters.hpp"

namespace nicproxy {

/// Fragment: an IPv4 fragment whose IP header checked out; f.l4 and f.l4Length are its
/// payload (fragments.hpp reassembles it).
enum class FrameKind : uint8_t { Ipv4, Arp, Fragment, Drop };

/// Pointers into the first segment of an mbuf; valid while the mbuf is unchanged.
struct ParsedFrame {
  rte_ether_hdr* eth = nullptr;
  rte_ipv4_hdr* ip = nullptr;       // set for Ipv4
  rte_arp_hdr* arp = nullptr;       // set for Arp
  uint8_t* l4 = nullptr;            // TCP, UDP or ICMP header (Ipv4 only)
  uint16_t l4Length = 0;            // L4 header + payload, from the IP total length
  uint8_t protocol = 0;             // IPPROTO_*
};

inline rte_tcp_hdr* tcpHeader(const ParsedFrame& f) { return reinterpret_cast<rte_tcp_hdr*>(f.l4); }
inline rte_udp_hdr* udpHeader(const ParsedFrame& f) { return reinterpret_cast<rte_udp_hdr*>(f.l4); }
inline rte_icmp_hdr* icmpHeader(const ParsedFrame& f) { return reinterpret_cast<rte_icmp_hdr*>(f.l4); }

/// Source and destination L4 ports (network order) for TCP and UDP; both share the layout.
inline rte_be16_t l4SourcePort(const ParsedFrame& f) { return udpHeader(f)->src_port; }
inline rte_be16_t l4DestinationPort(const ParsedFrame& f) { return udpHeader(f)->dst_port; }

/// Classifies a frame and checks its headers. Headers must sit in the first segment
/// (true for every PMD at standard MTU); the rest of a chained payload is not touched.
inline FrameKind parseFrame(rte_mbuf* m, ParsedFrame& f, DropReason& reason) {
  const uint32_t headLength = rte_pktmbuf_data_len(m);
  if (headLength < sizeof(rte_ether_hdr)) {
    reason = DropReason::TooShort;
    return FrameKind::Drop;
  }
  f.eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  const uint16_t etherType = rte_be_to_cpu_16(f.eth->ether_type);
  uint8_t* l3 = reinterpret_cast<uint8_t*>(f.eth + 1);
  const uint32_t l3Available = headLength - sizeof(rte_ether_hdr);

  if (etherType == RTE_ETHER_TYPE_ARP) {
    if (l3Available < sizeof(rte_arp_hdr)) {
      reason = DropReason::TooShort;
      return FrameKind::Drop;
    }
    f.arp = reinterpret_cast<rte_arp_hdr*>(l3);
    return FrameKind::Arp;
  }
  if (etherType != RTE_ETHER_TYPE_IPV4) {
    reason = DropReason::UnsupportedL2;
    return FrameKind::Drop;
  }
  if (l3Available < sizeof(rte_ipv4_hdr)) {
    reason = DropReason::TooShort;
    return FrameKind::Drop;
  }
  f.ip = reinterpret_cast<rte_ipv4_hdr*>(l3);
  const uint32_t headerLength = static_cast<uint32_t>(f.ip->version_ihl & 0x0f) * 4;
  const uint32_t totalLength = rte_be_to_cpu_16(f.ip->total_length);
  if ((f.ip->version_ihl >> 4) != 4 || headerLength < sizeof(rte_ipv4_hdr) ||
      totalLength < headerLength) {
    reason = DropReason::BadIpHeader;
    return FrameKind::Drop;
  }
  // The whole datagram must be in the frame (padding after it is allowed), and the
  // IP header in the first segment.
  if (totalLength > rte_pktmbuf_pkt_len(m) - sizeof(rte_ether_hdr) || headerLength > l3Available) {
    reason = DropReason::TooShort;
    return FrameKind::Drop;
  }
  f.protocol = f.ip->next_proto_id;
  f.l4 = l3 + headerLength;
  f.l4Length = static_cast<uint16_t>(totalLength - headerLength);
  const uint16_t fragment = rte_be_to_cpu_16(f.ip->fragment_offset);
  if ((fragment & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) return FrameKind::Fragment;
  const uint32_t l4InHead = l3Available - headerLength;

  uint32_t needed = 0;
  switch (f.protocol) {
    case IPPROTO_TCP: needed = sizeof(rte_tcp_hdr); break;
    case IPPROTO_UDP: needed = sizeof(rte_udp_hdr); break;
    case IPPROTO_ICMP: needed = sizeof(rte_icmp_hdr); break;
    default:
      reason = DropReason::UnsupportedL4;
      return FrameKind::Drop;
  }
  if (f.l4Length < needed || l4InHead < needed) {
    reason = DropReason::BadL4Header;
    return FrameKind::Drop;
  }
  if (f.protocol == IPPROTO_TCP) {
    // The whole TCP header, options included, in the first segment: tracking reads them.
    const uint32_t dataOffset = static_cast<uint32_t>(tcpHeader(f)->data_off >> 4) * 4;
    if (dataOffset < sizeof(rte_tcp_hdr) || dataOffset > f.l4Length || dataOffset > l4InHead) {
      reason = DropReason::BadL4Header;
      return FrameKind::Drop;
    }
  } else if (f.protocol == IPPROTO_UDP) {
    const uint32_t udpLength = rte_be_to_cpu_16(udpHeader(f)->dgram_len);
    if (udpLength < sizeof(rte_udp_hdr) || udpLength > f.l4Length) {
      reason = DropReason::BadL4Header;
      return FrameKind::Drop;
    }
  }
  return FrameKind::Ipv4;
}

}  // namespace nicproxy
