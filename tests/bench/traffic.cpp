#include "tests/bench/traffic.hpp"

#include <cstring>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>

namespace nicproxy::bench {

ServiceTable makeServices(uint32_t services, uint32_t endpointsPerService) {
  ServiceTable::Map map;
  for (uint32_t s = 0; s < services; ++s) {
    auto port = std::make_shared<ServicePort>();
    port->name = ServicePortName{"bench", "svc-" + std::to_string(s), "http", Protocol::Tcp};
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

void writeFrame(rte_mbuf* m, const FlowTuple& flow, uint8_t flags, uint16_t size) {
  constexpr uint16_t kHeaders = sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr);
  const uint16_t frameLength = size > 4 ? static_cast<uint16_t>(size - 4) : kHeaders;  // without the FCS
  const uint16_t length = frameLength < kHeaders ? kHeaders : frameLength;
  rte_pktmbuf_reset(m);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, length));
  std::memcpy(eth->dst_addr.addr_bytes, kPortMac, 6);
  std::memcpy(eth->src_addr.addr_bytes, kClientMac, 6);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  std::memset(ip, 0, sizeof *ip);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(length - sizeof(rte_ether_hdr)));
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_TCP;
  ip->src_addr = rte_cpu_to_be_32(flow.client);
  ip->dst_addr = rte_cpu_to_be_32(flow.vip);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
  std::memset(tcp, 0, sizeof *tcp);
  tcp->src_port = rte_cpu_to_be_16(flow.clientPort);
  tcp->dst_port = rte_cpu_to_be_16(80);
  tcp->sent_seq = rte_cpu_to_be_32(1);
  tcp->data_off = 5 << 4;
  tcp->tcp_flags = flags;
  tcp->rx_win = rte_cpu_to_be_16(65535);
  // The payload (if any) stays as the mbuf had it; the checksum is left 0: the data
  // path updates checksums incrementally and never verifies them.
}

}  // namespace nicproxy::bench
