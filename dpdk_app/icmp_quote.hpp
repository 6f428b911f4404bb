#pragma once
// The bytes of an ICMP error (destination unreachable, time exceeded, parameter
// problem): the packet it quotes, checked without reading past the message, and the
// rewrite that makes the error fit the other side of a NATed connection, the way Linux
// conntrack's NAT does it (nf_nat_icmp_reply_translation): the outer addresses, the
// quoted packet's addresses and ports, and every checksum that covers them.
//
// A quote holds the offending IP header and at least 8 bytes of its payload (RFC 792);
// Linux quotes up to 576 bytes in all (RFC 1812). 8 bytes of TCP are its ports and
// sequence number, without its checksum; 8 bytes of UDP include the checksum.
// Per packet on a worker: never throws, allocates or logs.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "dpdk_app/checksum.hpp"
#include "dpdk_app/counters.hpp"
#include "dpdk_app/nat.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

inline constexpr uint8_t kIcmpDestinationUnreachable = 3;  // every code, 4 = fragmentation needed
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpParameterProblem = 12;

/// The ICMP types that quote a packet and are translated for NATed connections.
inline bool isIcmpError(uint8_t type) {
  return type == kIcmpDestinationUnreachable || type == kIcmpTimeExceeded || type == kIcmpParameterProblem;
}

/// The packet an ICMP error quotes: pointers into the error's first segment.
struct QuotedPacket {
  rte_ipv4_hdr* ip = nullptr;
  uint8_t* l4 = nullptr;  // TCP or UDP header: its first 8 bytes at least
  uint16_t l4Length = 0;  // bytes of it the quote holds (not its original length)
  uint8_t protocol = 0;

  rte_be16_t sourcePort() const { return reinterpret_cast<const rte_udp_hdr*>(l4)->src_port; }
  rte_be16_t destinationPort() const { return reinterpret_cast<const rte_udp_hdr*>(l4)->dst_port; }
};

/// Finds the quoted TCP or UDP packet of the ICMP error `f` (in mbuf `m`). False, with
/// `reason`, when the message is not all in the first segment, the quote is too short
/// for an IPv4 header and 8 bytes of its payload or disagrees with itself
/// (IcmpErrorMalformed), or quotes another protocol or a non-first fragment, whose
/// ports are not in it (IcmpErrorUnsupported).
inline bool parseQuote(const rte_mbuf* m, const ParsedFrame& f, QuotedPacket& q, DropReason& reason) {
  reason = DropReason::IcmpErrorMalformed;
  const auto* head = rte_pktmbuf_mtod(m, const uint8_t*);
  if (static_cast<size_t>(f.l4 - head) + f.l4Length > rte_pktmbuf_data_len(m)) return false;
  if (f.l4Length < sizeof(rte_icmp_hdr) + sizeof(rte_ipv4_hdr)) return false;
  const uint32_t quoteLength = f.l4Length - sizeof(rte_icmp_hdr);
  q.ip = reinterpret_cast<rte_ipv4_hdr*>(f.l4 + sizeof(rte_icmp_hdr));
  const uint32_t headerLength = static_cast<uint32_t>(q.ip->version_ihl & 0x0f) * 4;
  if ((q.ip->version_ihl >> 4) != 4 || headerLength < sizeof(rte_ipv4_hdr) || headerLength + 8 > quoteLength ||
      rte_be_to_cpu_16(q.ip->total_length) < headerLength + 8) {
    return false;
  }
  reason = DropReason::IcmpErrorUnsupported;
  q.protocol = q.ip->next_proto_id;
  if (q.protocol != IPPROTO_TCP && q.protocol != IPPROTO_UDP) return false;
  if ((rte_be_to_cpu_16(q.ip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) != 0) return false;
  q.l4 = reinterpret_cast<uint8_t*>(q.ip) + headerLength;
  q.l4Length = static_cast<uint16_t>(quoteLength - headerLength);
  return true;
}

/// True when the ICMP message's checksum is right.
inline bool icmpChecksumGood(const ParsedFrame& f) { return rte_raw_cksum(f.l4, f.l4Length) == 0xffff; }

/// Rewrites the ICMP error `f` quoting `q` in place: the outer packet goes from
/// `outerSource` to `outerDestination` with its TTL one lower (the caller has checked
/// that it is above 1), and the quoted packet becomes `quoted`. Updates the outer IP
/// checksum, the quoted IP header's, the quoted TCP/UDP checksum when the quote holds it
/// (a UDP checksum of 0, "none", stays 0), and the ICMP checksum over all of that.
/// Other fields, the next-hop MTU of "fragmentation needed" among them, stay.
inline void rewriteIcmpError(const ParsedFrame& f, const QuotedPacket& q, rte_be32_t outerSource,
                             rte_be32_t outerDestination, const Translation& quoted) {
  // The quoted packet first: the ICMP checksum sums the changes of its words. Each field
  // changed below sits at an even offset from the ICMP header, so its 16-bit words are
  // the words the ICMP checksum adds up.
  const uint32_t addressTerms = checksumTerms32(q.ip->src_addr, quoted.sourceAddress) +
                                checksumTerms32(q.ip->dst_addr, quoted.destinationAddress);
  const uint32_t portTerms =
      checksumTerms16(q.sourcePort(), quoted.sourcePort) + checksumTerms16(q.destinationPort(), quoted.destinationPort);
  uint32_t icmpTerms = addressTerms + portTerms;

  const uint16_t ipCheckBefore = q.ip->hdr_checksum;
  q.ip->hdr_checksum = checksumApply(ipCheckBefore, addressTerms);
  icmpTerms += checksumTerms16(ipCheckBefore, q.ip->hdr_checksum);

  // The quoted TCP/UDP checksum's offset in its header, when the quote holds it (0: not).
  size_t checkOffset = 0;
  if (q.protocol == IPPROTO_TCP) {
    if (q.l4Length >= offsetof(rte_tcp_hdr, cksum) + sizeof(uint16_t)) checkOffset = offsetof(rte_tcp_hdr, cksum);
  } else if (reinterpret_cast<const rte_udp_hdr*>(q.l4)->dgram_cksum != 0) {
    checkOffset = offsetof(rte_udp_hdr, dgram_cksum);
  }
  if (checkOffset != 0) {
    uint16_t before;
    std::memcpy(&before, q.l4 + checkOffset, sizeof before);
    uint16_t after = checksumApply(before, addressTerms + portTerms);  // the pseudo-header holds the addresses
    if (after == 0 && q.protocol == IPPROTO_UDP) after = 0xffff;      // RFC 768: 0 means "none"
    std::memcpy(q.l4 + checkOffset, &after, sizeof after);
    icmpTerms += checksumTerms16(before, after);
  }
  auto* udp = reinterpret_cast<rte_udp_hdr*>(q.l4);  // TCP's ports sit at the same offsets
  udp->src_port = quoted.sourcePort;
  udp->dst_port = quoted.destinationPort;
  q.ip->src_addr = quoted.sourceAddress;
  q.ip->dst_addr = quoted.destinationAddress;
  rte_icmp_hdr* icmp = icmpHeader(f);
  icmp->icmp_cksum = checksumApply(icmp->icmp_cksum, icmpTerms);

  // The outer header: addresses and TTL (which shares a 16-bit word with the protocol).
  rte_ipv4_hdr* ip = f.ip;
  uint16_t ttlWordBefore;
  uint16_t ttlWordAfter;
  std::memcpy(&ttlWordBefore, &ip->time_to_live, sizeof ttlWordBefore);
  ip->time_to_live = static_cast<uint8_t>(ip->time_to_live - 1);
  std::memcpy(&ttlWordAfter, &ip->time_to_live, sizeof ttlWordAfter);
  ip->hdr_checksum = checksumApply(ip->hdr_checksum, checksumTerms32(ip->src_addr, outerSource) +
                                                         checksumTerms32(ip->dst_addr, outerDestination) +
                                                         checksumTerms16(ttlWordBefore, ttlWordAfter));
  ip->src_addr = outerSource;
  ip->dst_addr = outerDestination;
}

}  // namespace nicproxy
