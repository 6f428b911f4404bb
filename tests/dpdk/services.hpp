#pragma once
// Building ServiceTables for the dpdk tests that change services: endpoints with every
// condition, and the standard table (harness.hpp) with a port added or replaced.
#include <memory>
#include <string>
#include <vector>

#include "control/model.hpp"
#include "tests/dpdk/harness.hpp"

namespace nicproxy::testing {

inline Endpoint makeEndpoint(Ipv4 address, uint16_t port, bool ready = true, bool terminating = false,
                             bool local = false) {
  Endpoint e;
  e.address = address;
  e.port = port;
  e.ready = ready;
  e.serving = ready || terminating;  // a terminating endpoint here is still serving
  e.terminating = terminating;
  e.isLocal = local;
  e.nodeName = local ? "this-node" : "other-node";
  return e;
}

/// A TCP service port "default/<name>:tcp" on `vip`:`port` with `endpoints`.
inline ServicePort makePort(const std::string& name, Ipv4 vip, uint16_t port, std::vector<Endpoint> endpoints,
                            Protocol protocol = Protocol::Tcp) {
  ServicePort sp;
  sp.name = ServicePortName{"default", name, protocol == Protocol::Udp ? "udp" : "tcp", protocol};
  sp.clusterIPs = {vip};
  sp.port = port;
  sp.endpoints = std::move(endpoints);
  return sp;
}

/// `base` with `ports` added (or replacing ports of the same name).
inline ServiceTable withPorts(const ServiceTable& base, const std::vector<ServicePort>& ports) {
  ServiceTable::Map map = base.ports();
  for (const ServicePort& p : ports) map[p.name] = std::make_shared<const ServicePort>(p);
  return ServiceTable(std::move(map), base.generation() + 1);
}

}  // namespace nicproxy::testing
