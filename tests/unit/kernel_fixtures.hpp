#pragma once
// Small ServicePort fixtures shared by the iptables and nftables tests.
// Addresses: cluster IPs 172.30.0.0/16, endpoints 10.180.0.0/16 (pod network
// 10.0.0.0/8), external IPs 192.168.99.0/24, load-balancer IPs 1.2.3.0/24, node 192.168.0.2.
#include <memory>
#include <string>
#include <vector>

#include "control/model.hpp"

namespace nicproxy::fixtures {

inline Ipv4 ip(const char* text) { return parseIpv4(text).value(); }
inline Ipv4Cidr cidr(const char* text) { return parseIpv4Cidr(text).value(); }

inline Endpoint endpoint(const char* address, uint16_t port, bool local = false, bool ready = true) {
  Endpoint e;
  e.address = ip(address);
  e.port = port;
  e.isLocal = local;
  e.ready = ready;
  e.serving = ready;
  e.nodeName = local ? "node-a" : "node-b";
  return e;
}

inline ServicePort clusterIpPort(const char* ns, const char* name, const char* portName, const char* clusterIP,
                                 uint16_t port, std::vector<Endpoint> endpoints, Protocol protocol = Protocol::Tcp) {
  ServicePort p;
  p.name = ServicePortName{ns, name, portName, protocol};
  p.clusterIPs = {ip(clusterIP)};
  p.port = port;
  p.endpoints = std::move(endpoints);
  return p;
}

inline ServicePortPtr share(ServicePort port) { return std::make_shared<const ServicePort>(std::move(port)); }

inline ServiceTable tableOf(const std::vector<ServicePort>& ports, uint64_t generation = 1) {
  ServiceTable::Map map;
  for (const ServicePort& p : ports) map.emplace(p.name, share(p));
  return ServiceTable(std::move(map), generation);
}

}  // namespace nicproxy::fixtures
