#include "tests/bench/traffic.hpp"

#include <algorithm>
#include <cstring>

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

}  // namespace nicproxy::bench
