#include "control/arp_owners.hpp"

#include <map>

#include <spdlog/fmt/fmt.h>

namespace nicproxy {

std::vector<std::string> arpOwnerWarnings(const Config& config, const ServiceTable& services) {
  std::vector<std::string> warnings;
  if (config.mode != ProxyMode::Dpdk || config.dpdk.ports.empty()) return warnings;
  // Every host that answers ARP for itself, with what it is.
  std::map<Ipv4, std::string> owners;
  for (size_t i = 0; i < config.dpdk.ports.size(); ++i) {
    const DpdkPortConfig& p = config.dpdk.ports[i];
    owners.emplace(p.address.address, fmt::format("the address of dpdk.ports[{}]", i));
    if (p.gateway) owners.emplace(*p.gateway, fmt::format("the gateway of dpdk.ports[{}]", i));
    for (const StaticNeighbor& n : p.neighbors) {
      owners.emplace(n.address, fmt::format("a permanent neighbour of dpdk.ports[{}] ({})", i, formatMac(n.mac)));
    }
  }
  for (const auto& [name, port] : services.ports()) {
    for (const Endpoint& e : port->endpoints) {
      owners.emplace(e.address, fmt::format("an endpoint of {}", name.toString()));
    }
  }
  auto inPortSubnet = [&config](Ipv4 ip) {
    for (const DpdkPortConfig& p : config.dpdk.ports) {
      if (p.address.contains(ip)) return true;
    }
    return false;
  };
  auto check = [&](const ServicePortName& name, const char* kind, Ipv4 ip) {
    if (!inPortSubnet(ip)) return;  // not answered: nothing to take over
    const auto owner = owners.find(ip);
    if (owner == owners.end()) return;
    warnings.push_back(fmt::format("{} IP {} of {} is {}: that host answers ARP for it, and nicproxy would answer "
                                   "too (it refuses once it sees the other host)",
                                   kind, formatIpv4(ip), name.toString(), owner->second));
  };
  for (const auto& [name, port] : services.ports()) {
    for (Ipv4 ip : port->externalIPs) check(name, "external", ip);
    for (Ipv4 ip : port->loadBalancerIPs) check(name, "loadBalancer", ip);
  }
  return warnings;
}

}  // namespace nicproxy
