#pragma once
// What the exception thread checks in every frame the kernel sends out of an exception
// interface before a worker sends it out of the port (exception_path.cpp), and which
// worker gets it. Pure functions over the frame's first bytes: the dpdk tests call them
// on frames of their own.
//
// The kernel is trusted to build frames, not to respect the port: a frame longer than
// the port's MTU (a tap's MTU can be raised behind nicproxy's back, or GSO left on)
// would be cut or refused by the NIC, and an IPv4 header the workers would refuse on
// ingress must not leave the node either.
#include <cstdint>
#include <optional>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "dpdk_app/counters.hpp"
#include "dpdk_app/data_plane.hpp"

namespace nicproxy {

/// Where a frame from the kernel goes: the worker whose fromKernel ring takes it, or the
/// reason it is dropped.
struct KernelFrameVerdict {
  std::optional<DropReason> drop;  // set: not sent
  uint16_t worker = 0;
};

/// Checks a frame the kernel sent on the exception interface of `port`, and picks its
/// worker: a TCP/UDP datagram to one of the port's own addresses on a SNAT port is a
/// reply of a nicproxy connection to a local endpoint and goes to the worker owning that
/// port (ownerOfSnatPort); everything else to worker 0 (whose fromKernel ring passes on
/// what it does not know: exception_path.hpp).
///  - shorter than an Ethernet header, or (IPv4) a header that is not version 4, shorter
///    than 20 bytes, or a total length outside the frame: KernelFrameMalformed;
///  - longer than the port's MTU plus the Ethernet header (and one VLAN tag if tagged):
///    KernelFrameTooLong.
inline KernelFrameVerdict checkKernelFrame(const rte_mbuf* m, const PortInfo& port, uint16_t workerCount) {
  KernelFrameVerdict verdict;
  const uint32_t length = rte_pktmbuf_pkt_len(m);
  if (length < sizeof(rte_ether_hdr)) {
    verdict.drop = DropReason::KernelFrameMalformed;
    return verdict;
  }
  // The headers as far as they are needed, from however many segments hold them.
  struct Headers {
    rte_ether_hdr eth;
    rte_vlan_hdr vlan;
    rte_ipv4_hdr ip;
    uint16_t ports[2];
  } buffer;
  const auto* eth = static_cast<const rte_ether_hdr*>(rte_pktmbuf_read(m, 0, sizeof(rte_ether_hdr), &buffer.eth));
  uint32_t l3 = sizeof(rte_ether_hdr);
  uint16_t etherType = eth->ether_type;
  uint32_t longest = port.mtu + sizeof(rte_ether_hdr);
  if (etherType == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
    longest += sizeof(rte_vlan_hdr);
    const auto* vlan = static_cast<const rte_vlan_hdr*>(rte_pktmbuf_read(m, l3, sizeof(rte_vlan_hdr), &buffer.vlan));
    if (vlan == nullptr) {
      verdict.drop = DropReason::KernelFrameMalformed;
      return verdict;
    }
    etherType = vlan->eth_proto;
    l3 += sizeof(rte_vlan_hdr);
  }
  if (length > longest) {
    verdict.drop = DropReason::KernelFrameTooLong;
    return verdict;
  }
  if (etherType != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return verdict;  // ARP, IPv6, ...: worker 0

  const auto* ip = static_cast<const rte_ipv4_hdr*>(rte_pktmbuf_read(m, l3, sizeof(rte_ipv4_hdr), &buffer.ip));
  if (ip == nullptr) {
    verdict.drop = DropReason::KernelFrameMalformed;
    return verdict;
  }
  const uint32_t headerLength = rte_ipv4_hdr_len(ip);
  const uint32_t totalLength = rte_be_to_cpu_16(ip->total_length);
  if ((ip->version_ihl >> 4) != 4 || headerLength < sizeof(rte_ipv4_hdr) || totalLength < headerLength ||
      l3 + totalLength > length) {
    verdict.drop = DropReason::KernelFrameMalformed;
    return verdict;
  }
  const bool firstFragment = (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) == 0;
  if ((ip->next_proto_id != IPPROTO_TCP && ip->next_proto_id != IPPROTO_UDP) || !firstFragment ||
      !port.isOwnAddress(ip->dst_addr) || totalLength < headerLength + 4) {
    return verdict;
  }
  const auto* ports = static_cast<const uint16_t*>(rte_pktmbuf_read(m, l3 + headerLength, 4, buffer.ports));
  if (ports == nullptr) return verdict;
  const uint16_t destinationPort = rte_be_to_cpu_16(ports[1]);
  if (isSnatPort(destinationPort)) verdict.worker = ownerOfSnatPort(destinationPort, workerCount);
  return verdict;
}

}  // namespace nicproxy
