#include "control/service_checks.hpp"

#include <map>
#include <tuple>

#include <spdlog/fmt/fmt.h>

namespace nicproxy {
namespace {

struct Owner {
  const k8s::Service* service;
  const std::string* where;
  std::string describe() const { return fmt::format("Service {} ({})", service->meta.key(), *where); }
};

using Frontend = std::tuple<Ipv4, uint16_t, Protocol>;  // address, port, protocol

class SetChecker {
 public:
  SetChecker(const ServiceCheckOptions& options, std::vector<std::string>& problems)
      : options_(options), problems_(problems) {}

  void add(const PlacedService& placed) {
    const k8s::Service& service = *placed.service;
    const Owner self{placed.service, &placed.where};
    const std::string& at = placed.where;
    if (const auto [it, fresh] = services_.try_emplace(service.meta.objectKey(), self); !fresh) {
      problems_.push_back(fmt::format("{}.metadata.name: Duplicate value: \"{}\": Service {} is already defined by {}",
                                      at, service.meta.name, service.meta.key(), *it->second.where));
      return;  // its other clashes would all be with itself
    }
    // The clusterIP allocator gives an address to one Service only.
    for (Ipv4 ip : service.clusterIPs) {
      if (const auto [it, fresh] = clusterIps_.try_emplace(ip, self); !fresh && it->second.service != &service) {
        problems_.push_back(fmt::format("{}.spec.clusterIPs: Invalid value: \"{}\": provided IP is already allocated "
                                        "(to {})",
                                        at, formatIpv4(ip), it->second.describe()));
      }
    }
    for (size_t i = 0; i < service.ports.size(); ++i) checkPort(self, service.ports[i], i);
    checkHealthCheckNodePort(self, service);
    // Two Services answering on one address, port and protocol: every dataplane keys a
    // frontend by these three, so one of the two would silently lose it.
    for (const auto& [list, field] : {std::pair{&service.clusterIPs, "spec.clusterIPs"},
                                      std::pair{&service.externalIPs, "spec.externalIPs"},
                                      std::pair{&service.loadBalancerIPs, "status.loadBalancer.ingress"}}) {
      for (Ipv4 ip : *list) {
        if (list == &service.clusterIPs && clusterIps_.at(ip).service != &service) continue;  // reported above
        for (size_t i = 0; i < service.ports.size(); ++i) {
          const auto& port = service.ports[i];
          const auto [it, fresh] = frontends_.try_emplace(Frontend{ip, port.port, port.protocol}, self);
          if (fresh || it->second.service == &service) continue;
          problems_.push_back(fmt::format("{}.{}: Invalid value: \"{}\": port {}/{} (spec.ports[{}]) is already "
                                          "served at this address by {}",
                                          at, field, formatIpv4(ip), port.port, protocolName(port.protocol), i,
                                          it->second.describe()));
        }
      }
    }
  }

  void addSlice(const PlacedSlice& placed) {
    if (const auto [it, fresh] = slices_.try_emplace(placed.slice->meta.objectKey(), &placed.where); !fresh) {
      problems_.push_back(fmt::format("{}.metadata.name: Duplicate value: \"{}\": EndpointSlice {} is already defined "
                                      "by {}",
                                      placed.where, placed.slice->meta.name, placed.slice->meta.key(), *it->second));
    }
  }

 private:
  void checkPort(const Owner& self, const k8s::ServicePortSpec& port, size_t index) {
    if (port.nodePort == 0) return;
    checkNodePortNumber(self, fmt::format("{}.spec.ports[{}].nodePort", *self.where, index), port.nodePort,
                        port.protocol);
  }

  void checkNodePortNumber(const Owner& self, const std::string& path, uint16_t number, Protocol protocol) {
    const NodePortRange& range = options_.nodePorts;
    if (number < range.first || number > range.last) {
      problems_.push_back(fmt::format("{}: Invalid value: {}: provided port is not in the valid range. The range of "
                                      "valid ports is {}-{}",
                                      path, number, range.first, range.last));
      return;
    }
    // One node port serves one Service port per protocol (the API server's allocator).
    if (const auto [it, fresh] = nodePorts_.try_emplace({number, protocol}, self);
        !fresh && it->second.service != self.service) {
      problems_.push_back(fmt::format("{}: Invalid value: {}: provided port is already allocated (to {})", path,
                                      number, it->second.describe()));
    }
  }

  // The API server allows spec.healthCheckNodePort only where a load balancer probes it,
  // and takes it from the node port range and allocator (TCP: kube-proxy serves HTTP there).
  void checkHealthCheckNodePort(const Owner& self, const k8s::Service& service) {
    const uint16_t port = service.healthCheckNodePort;
    if (port == 0) return;
    const std::string path = fmt::format("{}.spec.healthCheckNodePort", *self.where);
    if (service.type != ServiceType::LoadBalancer || service.externalTrafficPolicy != TrafficPolicy::Local) {
      problems_.push_back(fmt::format("{}: Invalid value: {}: may only be set when `type` is 'LoadBalancer' and "
                                      "`externalTrafficPolicy` is 'Local'",
                                      path, port));
      return;
    }
    checkNodePortNumber(self, path, port, Protocol::Tcp);
  }

  const ServiceCheckOptions& options_;
  std::vector<std::string>& problems_;
  std::map<k8s::ObjectKey, Owner> services_;
  std::map<k8s::ObjectKey, const std::string*> slices_;
  std::map<Ipv4, Owner> clusterIps_;
  std::map<std::pair<uint16_t, Protocol>, Owner> nodePorts_;
  std::map<Frontend, Owner> frontends_;
};

}  // namespace

std::vector<std::string> checkServiceSet(const std::vector<PlacedService>& services,
                                         const std::vector<PlacedSlice>& slices, const ServiceCheckOptions& options) {
  std::vector<std::string> problems;
  SetChecker checker(options, problems);
  for (const PlacedService& placed : services) checker.add(placed);
  for (const PlacedSlice& placed : slices) checker.addSlice(placed);
  return problems;
}

}  // namespace nicproxy
