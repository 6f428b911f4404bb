#pragma once
// Address and port rewriting with incremental checksum updates. The IP header
// checksum covers addresses and TTL; TCP and UDP checksums cover the pseudo-header
// (both addresses) and the ports. A UDP checksum of zero means "none" and stays zero.
#include <cstdint>
#include <cstring>

#include "dpdk_app/checksum.hpp"
#include "dpdk_app/packet.hpp"

namespace nicproxy {

/// The four fields one NAT step sets (network byte order).
struct Translation {
  rte_be32_t sourceAddress;
  rte_be32_t destinationAddress;
  rte_be16_t sourcePort;
  rte_be16_t destinationPort;
};

/// Rewrites a parsed TCP or UDP packet to `to` and decrements its TTL.
/// The caller has checked that TTL > 1.
inline void applyTranslation(const ParsedFrame& f, const Translation& to) {
  rte_ipv4_hdr* ip = f.ip;
  uint16_t ipCheck = ip->hdr_checksum;
  const bool isTcp = f.protocol == IPPROTO_TCP;
  uint16_t l4Check = isTcp ? tcpHeader(f)->cksum : udpHeader(f)->dgram_cksum;
  const bool l4HasChecksum = isTcp || l4Check != 0;

  // TTL shares a 16-bit word with the protocol number.
  uint16_t ttlWordBefore;
  uint16_t ttlWordAfter;
  std::memcpy(&ttlWordBefore, &ip->time_to_live, sizeof ttlWordBefore);
  ip->time_to_live = static_cast<uint8_t>(ip->time_to_live - 1);
  std::memcpy(&ttlWordAfter, &ip->time_to_live, sizeof ttlWordAfter);
  // The addresses are in both checksums (the L4 one through the pseudo-header): their
  // terms are summed once, and each checksum is folded once.
  const uint32_t addressTerms =
      checksumTerms32(ip->src_addr, to.sourceAddress) + checksumTerms32(ip->dst_addr, to.destinationAddress);
  ipCheck = checksumApply(ipCheck, addressTerms + checksumTerms16(ttlWordBefore, ttlWordAfter));
  if (l4HasChecksum) {
    l4Check = checksumApply(l4Check, addressTerms + checksumTerms16(l4SourcePort(f), to.sourcePort) +
                                         checksumTerms16(l4DestinationPort(f), to.destinationPort));
    // For UDP a computed zero is sent as all ones (RFC 768); for TCP both mean the same.
    if (l4Check == 0 && f.protocol == IPPROTO_UDP) l4Check = 0xffff;
    if (isTcp) {
      tcpHeader(f)->cksum = l4Check;
    } else {
      udpHeader(f)->dgram_cksum = l4Check;
    }
  }
  ip->src_addr = to.sourceAddress;
  ip->dst_addr = to.destinationAddress;
  ip->hdr_checksum = ipCheck;
  udpHeader(f)->src_port = to.sourcePort;
  udpHeader(f)->dst_port = to.destinationPort;
}

}  // namespace nicproxy
