#include "tests/bench/traffic.hpp"

#include <algorithm>
#include <cstring>

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

namespace nicproxy::bench {

ServiceTable makeServices(uint32_t services, uint32_t endpointsPerService, Protocol protocol) {
  ServiceTable::Map map;
  for (uint32_t s = 0; s < services; ++s) {
    auto port = std::make_shared<ServicePort>();
    port->name = ServicePortName{"bench", "svc-" + std::to_string(s), "http", protocol};
    port->clusterIPs = {kServiceBase + s};
    port->port = 80;
    for (uint32_t i = 0; i < endpointsPerService; ++i) {
      const uint32_t n = s * endpointsPerService + i;
      Endpoint e;
      e.address = kBackendBase + n % kBackendAddresses;
      e.port = static_cast<uint16_t>(8000 + n / kBackendAddresses % 50000);
      port->endpoints.push_back(e);
    }
    map.emplace(port->name, std::move(port));
  }
  return ServiceTable(std::move(map), 1);
}

namespace {

constexpr uint8_t kBackendMac[6] = {0x02, 0, 0, 1, 0, 0};

/// Ethernet + IPv4 headers for `ipLength` bytes of IP datagram in a frame of at least 60
/// bytes (the padding after the datagram stays as the mbuf had it).
rte_ipv4_hdr* writeHeaders(rte_mbuf* m, const uint8_t* source, uint32_t sourceIp, uint32_t destinationIp,
                           uint8_t protocol, uint16_t ipLength) {
  const auto frameLength = static_cast<uint16_t>(std::max<uint32_t>(60, sizeof(rte_ether_hdr) + ipLength));
  rte_pktmbuf_reset(m);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, frameLength));
  std::memcpy(eth->dst_addr.addr_bytes, kPortMac, 6);
  std::memcpy(eth->src_addr.addr_bytes, source, 6);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(ipLength);
  ip->time_to_live = 64;
  ip->next_proto_id = protocol;
  ip->src_addr = sourceIp;
  ip->dst_addr = destinationIp;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return ip;
}

/// The IP length of a frame of `size` bytes with the FCS, never below the bare headers.
uint16_t ipLengthFor(uint16_t size, uint16_t headers) {
  const uint16_t frameLength = size > 4 ? static_cast<uint16_t>(size - 4) : 0;
  const uint16_t ipLength = frameLength > sizeof(rte_ether_hdr) ? static_cast<uint16_t>(frameLength - sizeof(rte_ether_hdr)) : 0;
  return std::max(ipLength, headers);
}

void writeTcp(rte_ipv4_hdr* ip, uint16_t sourcePort, uint16_t destinationPort, uint8_t flags, uint32_t seq,
              uint32_t ack) {
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  std::memset(tcp, 0, sizeof *tcp);
  tcp->src_port = sourcePort;
  tcp->dst_port = destinationPort;
  tcp->sent_seq = rte_cpu_to_be_32(seq);
  tcp->recv_ack = rte_cpu_to_be_32(ack);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = flags;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  // The payload (if any) stays as the mbuf had it; the checksum is left 0: the data
  // path updates checksums incrementally and does not verify them.
}

}  // namespace

void writeFrame(rte_mbuf* m, const FlowTuple& flow, uint8_t flags, uint16_t size) {
  constexpr uint16_t kHeaders = sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);
  const bool syn = (flags & RTE_TCP_SYN_FLAG) != 0;
  const uint16_t ipLength = syn ? kHeaders : ipLengthFor(size, kHeaders);
  rte_ipv4_hdr* ip = writeHeaders(m, kClientMac, rte_cpu_to_be_32(flow.client), rte_cpu_to_be_32(flow.vip),
                                  IPPROTO_TCP, ipLength);
  writeTcp(ip, rte_cpu_to_be_16(flow.clientPort), rte_cpu_to_be_16(80), flags, syn ? kClientIsn : kClientIsn + 1,
           syn ? 0 : kBackendIsn + 1);
}

void writeSynAck(rte_mbuf* m, uint32_t backendBe, uint16_t backendPortBe, uint32_t snatAddressBe, uint16_t snatPortBe) {
  constexpr uint16_t kHeaders = sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);
  rte_ipv4_hdr* ip = writeHeaders(m, kBackendMac, backendBe, snatAddressBe, IPPROTO_TCP, kHeaders);
  writeTcp(ip, backendPortBe, snatPortBe, RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG, kBackendIsn, kClientIsn + 1);
}

void writeUdpFrame(rte_mbuf* m, const FlowTuple& flow, uint16_t size) {
  constexpr uint16_t kHeaders = sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
  const uint16_t ipLength = ipLengthFor(size, kHeaders);
  rte_ipv4_hdr* ip = writeHeaders(m, kClientMac, rte_cpu_to_be_32(flow.client), rte_cpu_to_be_32(flow.vip),
                                  IPPROTO_UDP, ipLength);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(flow.clientPort);
  udp->dst_port = rte_cpu_to_be_16(80);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(ipLength - sizeof(rte_ipv4_hdr)));
  udp->dgram_cksum = 0;  // none (RFC 768)
}

uint16_t frameLengthFor(uint16_t sizeWithFcs, uint16_t minimum) {
  const uint16_t withoutFcs = sizeWithFcs > 4 ? static_cast<uint16_t>(sizeWithFcs - 4) : 0;
  return std::max<uint16_t>({withoutFcs, minimum, 60});
}

namespace {

/// Ethernet + IPv4 header of a frame `frameLength` bytes long carrying `ipLength` bytes
/// of datagram (the rest, if any, is zero padding).
rte_ipv4_hdr* startFrame(rte_mbuf* m, const FrameEnds& ends, uint8_t protocol, uint16_t ipLength,
                         uint16_t frameLength) {
  rte_pktmbuf_reset(m);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, frameLength));
  std::memset(eth, 0, frameLength);
  eth->dst_addr = ends.destinationMac;
  eth->src_addr = ends.sourceMac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(ipLength);
  ip->time_to_live = 64;
  ip->next_proto_id = protocol;
  ip->src_addr = rte_cpu_to_be_32(ends.source);
  ip->dst_addr = rte_cpu_to_be_32(ends.destination);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return ip;
}

}  // namespace

void writeUdp(rte_mbuf* m, const FrameEnds& ends, uint16_t sizeWithFcs, const GenMarker* marker) {
  constexpr uint16_t kHeaders = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr);
  const uint16_t frameLength =
      frameLengthFor(sizeWithFcs, static_cast<uint16_t>(kHeaders + (marker != nullptr ? sizeof(GenMarker) : 0)));
  const auto ipLength = static_cast<uint16_t>(frameLength - sizeof(rte_ether_hdr));
  rte_ipv4_hdr* ip = startFrame(m, ends, IPPROTO_UDP, ipLength, frameLength);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(ends.sourcePort);
  udp->dst_port = rte_cpu_to_be_16(ends.destinationPort);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(ipLength - sizeof(rte_ipv4_hdr)));
  udp->dgram_cksum = 0;
  if (marker != nullptr) std::memcpy(udp + 1, marker, sizeof *marker);
}

void writeTcp(rte_mbuf* m, const FrameEnds& ends, uint8_t flags, uint32_t seq, uint32_t ack,
              uint16_t payloadLength, const GenMarker* marker) {
  if (marker != nullptr) payloadLength = std::max<uint16_t>(payloadLength, sizeof(GenMarker));
  const auto ipLength = static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr) + payloadLength);
  const auto frameLength = std::max<uint16_t>(60, static_cast<uint16_t>(sizeof(rte_ether_hdr) + ipLength));
  rte_ipv4_hdr* ip = startFrame(m, ends, IPPROTO_TCP, ipLength, frameLength);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  tcp->src_port = rte_cpu_to_be_16(ends.sourcePort);
  tcp->dst_port = rte_cpu_to_be_16(ends.destinationPort);
  tcp->sent_seq = rte_cpu_to_be_32(seq);
  tcp->recv_ack = rte_cpu_to_be_32(ack);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = flags;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  if (marker != nullptr) std::memcpy(tcp + 1, marker, sizeof *marker);
  setTcpChecksum(ip);
}

void writeArp(rte_mbuf* m, const rte_ether_addr& ethSource, const rte_ether_addr& ethDestination, uint16_t opcode,
              const rte_ether_addr& senderMac, uint32_t senderIp, const rte_ether_addr& targetMac, uint32_t targetIp) {
  rte_pktmbuf_reset(m);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, 60));
  std::memset(eth, 0, 60);
  eth->dst_addr = ethDestination;
  eth->src_addr = ethSource;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(eth + 1);
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(opcode);
  arp->arp_data.arp_sha = senderMac;
  arp->arp_data.arp_sip = rte_cpu_to_be_32(senderIp);
  arp->arp_data.arp_tha = targetMac;
  arp->arp_data.arp_tip = rte_cpu_to_be_32(targetIp);
}

void turnAround(rte_ether_hdr* eth, rte_ipv4_hdr* ip, const rte_ether_addr& ownMac) {
  eth->dst_addr = eth->src_addr;
  eth->src_addr = ownMac;
  const rte_be32_t source = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = source;
  // TCP and UDP both start with the two ports.
  auto* ports = reinterpret_cast<rte_be16_t*>(reinterpret_cast<uint8_t*>(ip) + (ip->version_ihl & 0x0f) * 4);
  std::swap(ports[0], ports[1]);
  ip->time_to_live = 64;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
}

void setTcpChecksum(rte_ipv4_hdr* ip) {
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(reinterpret_cast<uint8_t*>(ip) + (ip->version_ihl & 0x0f) * 4);
  tcp->cksum = 0;
  tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
}

}  // namespace nicproxy::bench
