#pragma once
// Ingress filtering: what no frame from the wire may carry, checked on every frame right
// after parseFrame() and before anything answers, learns or creates a flow. What Linux
// does on its receive path (rp_filter's martians, ip_rcv's header checksum,
// accept_source_route=0, the bridge's source MAC check), for a data path that would
// otherwise reply to a broadcast MAC, make flows for 127.0.0.1 or trust a corrupt header.
//
// Each check can be switched off (DataPlane::ingress, dpdk.ingress.* in the
// configuration); docs/ingress.md says what each costs. Per packet on a worker: never
// blocks, allocates or logs; a failed check yields the drop reason that names it.
#include <cstdint>
#include <cstring>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "dpdk_app/counters.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

/// IPv4 options that ask routers to follow a path the sender chose (RFC 791): loose and
/// strict source and record route. Dropped like Linux's accept_source_route=0 does.
inline constexpr uint8_t kIpOptionLsrr = 0x83;
inline constexpr uint8_t kIpOptionSsrr = 0x89;

/// A station address: not broadcast, not multicast (the I/G bit), not all zeros. Frames
/// from anything else are forged or broken, and an answer to them (ARP, ICMP, a RST)
/// would go to the whole segment or nowhere.
inline bool isStationMac(const rte_ether_addr& mac) {
  return (mac.addr_bytes[0] & 0x01) == 0 && !rte_is_zero_ether_addr(&mac);
}

/// A source address no IPv4 packet from the wire can have: "this network" 0.0.0.0/8,
/// loopback 127.0.0.0/8, multicast 224.0.0.0/4, class E and the limited broadcast
/// 240.0.0.0/4 (RFC 1122 3.2.1.3, RFC 5735), a port subnet's broadcast address, or one
/// of this node's own addresses (a port or SNAT address on any port: a packet "from"
/// them came from someone else). `source` in network order. An ARP probe's sender
/// 0.0.0.0 (RFC 5227) is the caller's exception.
inline bool isMartianSource(const DataPlane& plane, rte_be32_t source) {
  const uint8_t first = reinterpret_cast<const uint8_t*>(&source)[0];
  if (first == 0 || first == 127 || first >= 224) return true;
  for (const PortInfo& p : plane.ports) {
    // Every own address and the broadcast address lie inside the port's subnet
    // (config.cpp checks the SNAT addresses), so one mask test skips a port.
    if (((source ^ p.address) & p.mask) != 0) continue;
    if (p.isOwnAddress(source)) return true;
    // /31 and /32 subnets have no broadcast address (RFC 3021).
    const uint32_t hostBits = ~rte_be_to_cpu_32(p.mask);
    if (hostBits > 1 && (source | p.mask) == 0xffffffffu) return true;
  }
  return false;
}

/// True when the one's-complement sum of the IPv4 header (checksum field included) is
/// all ones: the stored checksum is right, whichever of its two zero forms it uses.
/// `headerLength` is a multiple of 4 (the IHL), checked by parseFrame().
inline bool ipv4ChecksumValid(const rte_ipv4_hdr* ip, uint32_t headerLength) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(ip);
  // 32-bit words summed in 64 bits: 2^16 = 1 modulo 0xffff, so folding the wide sum
  // gives the same one's-complement sum as 16-bit words would, in the same byte order.
  auto word = [bytes](uint32_t offset) {
    uint32_t w;
    std::memcpy(&w, bytes + offset, sizeof w);
    return uint64_t{w};
  };
  // Nearly every header has no options: five words, summed without a loop.
  uint64_t sum = word(0) + word(4) + word(8) + word(12) + word(16);
  for (uint32_t i = 20; i < headerLength; i += 4) sum += word(i);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return sum == 0xffffu;
}

/// Walks the IPv4 options (the bytes between the fixed header and the IHL, all in the
/// first segment: parseFrame() checked that). Source routes and option lengths that do
/// not fit give a drop reason; every other option (record route, timestamp, router
/// alert...) is forwarded unchanged, as a router does.
inline bool ipOptionsAcceptable(const rte_ipv4_hdr* ip, uint32_t headerLength, DropReason& reason) {
  const auto* option = reinterpret_cast<const uint8_t*>(ip) + sizeof(rte_ipv4_hdr);
  const auto* end = reinterpret_cast<const uint8_t*>(ip) + headerLength;
  while (option < end) {
    const uint8_t type = option[0];
    if (type == 0) break;  // end of option list
    if (type == 1) {       // no operation: one byte
      ++option;
      continue;
    }
    if (end - option < 2 || option[1] < 2 || option[1] > end - option) {
      reason = DropReason::BadIpHeader;
      return false;
    }
    if (type == kIpOptionLsrr || type == kIpOptionSsrr) {
      reason = DropReason::IpSourceRoute;
      return false;
    }
    option += option[1];
  }
  return true;
}

/// The IPv4 header checksum: the NIC's verdict where the PMD gives one (rx offload
/// RTE_ETH_RX_OFFLOAD_IPV4_CKSUM, port.cpp), else computed here.
inline bool ipChecksumAcceptable(rte_mbuf* m, rte_ipv4_hdr* ip, uint32_t headerLength) {
  switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
    case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
      return true;
    case RTE_MBUF_F_RX_IP_CKSUM_BAD:
      return false;
    case RTE_MBUF_F_RX_IP_CKSUM_NONE:
      // The NIC vouches for the header but the field is not filled in (DPDK's
      // definition of NONE). The NAT step updates the checksum incrementally, which
      // needs a right one to start from: write it.
      ip->hdr_checksum = 0;
      ip->hdr_checksum = rte_ipv4_cksum(ip);
      return true;
    default:  // UNKNOWN: the PMD said nothing
      return ipv4ChecksumValid(ip, headerLength);
  }
}

/// The checks of any frame parseFrame() accepted (`kind` Ipv4, Fragment or Arp), before
/// anything answers or learns from it: its source MAC, and an ARP sender's address. False,
/// with `reason`, when the frame must be dropped.
[[gnu::always_inline]] inline bool passesFrameChecks(const DataPlane& plane, FrameKind kind, const ParsedFrame& f,
                                                      DropReason& reason) {
  const IngressChecks& checks = plane.ingress;
  if (checks.sourceMac && !isStationMac(f.eth->src_addr)) {
    reason = DropReason::BadSourceMac;
    return false;
  }
  if (kind == FrameKind::Arp) {
    // The ARP sender is what the neighbour table would learn and a reply would be sent
    // to. 0.0.0.0 is an address probe (RFC 5227), answered as a request.
    const rte_be32_t sender = f.arp->arp_data.arp_sip;
    if (checks.martianSource && sender != 0 && isMartianSource(plane, sender)) {
      reason = DropReason::MartianSource;
      return false;
    }
  }
  return true;
}

/// The checks of an IPv4 frame (or fragment) addressed to this port's MAC: header
/// checksum, options, source address. IPv4 frames to another MAC skip them: the worker
/// drops those as not_for_us first (a segment's DHCP broadcasts from 0.0.0.0 are not
/// attacks on us, and counting them as martians would hide the ones that are).
[[gnu::always_inline]] inline bool passesIpv4Checks(const DataPlane& plane, rte_mbuf* m, const ParsedFrame& f,
                                                     DropReason& reason) {
  const IngressChecks& checks = plane.ingress;
  const uint32_t headerLength = static_cast<uint32_t>(f.ip->version_ihl & 0x0f) * 4;
  // Integrity first: a corrupt header's addresses and options mean nothing.
  if (checks.ipChecksum) {
    if (!ipChecksumAcceptable(m, f.ip, headerLength)) {
      reason = DropReason::BadIpChecksum;
      return false;
    }
  } else if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_NONE) {
    // Not a check but a repair the NAT step needs whatever the setting: the field was
    // left unfilled, and the incremental update must start from a right checksum.
    f.ip->hdr_checksum = 0;
    f.ip->hdr_checksum = rte_ipv4_cksum(f.ip);
  }
  if (checks.ipOptions && headerLength > sizeof(rte_ipv4_hdr) && !ipOptionsAcceptable(f.ip, headerLength, reason)) {
    return false;
  }
  if (checks.martianSource && isMartianSource(plane, f.ip->src_addr)) {
    reason = DropReason::MartianSource;
    return false;
  }
  return true;
}

}  // namespace nicproxy
