#include "drivers/ipvs/ipvs_desired.hpp"

#include <algorithm>

#include <linux/ip_vs.h>
#include <spdlog/fmt/fmt.h>

#include "control/endpoints.hpp"
#include "drivers/names.hpp"

namespace nicproxy {
namespace {

// kube-proxy's FlagSourceHash for "mh": hash the source port too (IP_VS_SVC_F_SCHED2,
// i.e. IP_VS_SVC_F_SCHED_MH_PORT), so one client's connections spread.
constexpr uint32_t kMhPortFlag = IP_VS_SVC_F_SCHED2;

std::vector<IpvsDestination> destinationsOf(const std::vector<Endpoint>& endpoints) {
  std::vector<IpvsDestination> out;
  for (const Endpoint& endpoint : endpoints) {
    out.push_back(IpvsDestination{.address = endpoint.address, .port = endpoint.port, .weight = 1});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id() < b.id(); });
  out.erase(std::unique(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id() == b.id(); }),
            out.end());
  return out;
}

std::string ipPortEntry(Ipv4 address, const ServicePort& port, uint16_t number) {
  return fmt::format("{},{}:{}", formatIpv4(address), protocolLower(port.name.protocol), number);
}

class Builder {
 public:
  Builder(const IpvsDesiredOptions& options, IpvsDesired& out) : options_(options), out_(out) {}

  void add(const ServicePort& port) {
    const CategorizedEndpoints endpoints = categorizeEndpoints(port);
    const auto forInternal = destinationsOf(endpoints.hasAnyEndpoints ? endpoints.forInternal(port) : kNone);
    const auto forExternal = destinationsOf(endpoints.hasAnyEndpoints ? endpoints.forExternal(port) : kNone);
    const bool externalLocal = port.externalTrafficPolicy == TrafficPolicy::Local;
    for (const Endpoint& endpoint : port.endpoints) {
      if (!endpoint.isLocal) continue;
      const std::string entry = ipPortEntry(endpoint.address, port, endpoint.port);
      set(IpvsSet::LoopBack).insert(entry + "," + formatIpv4(endpoint.address));
    }
    for (const Ipv4 ip : port.clusterIPs) {
      set(IpvsSet::ClusterIP).insert(ipPortEntry(ip, port, port.port));
      server(port, ip, port.port, forInternal, true);
    }
    for (const Ipv4 ip : port.externalIPs) {
      set(externalLocal ? IpvsSet::ExternalIPLocal : IpvsSet::ExternalIP).insert(ipPortEntry(ip, port, port.port));
      server(port, ip, port.port, forExternal, true);
    }
    for (const Ipv4 ip : port.loadBalancerIPs) {
      set(IpvsSet::LoadBalancer).insert(ipPortEntry(ip, port, port.port));
      if (!port.loadBalancerSourceRanges.empty()) set(IpvsSet::LoadBalancerFW).insert(ipPortEntry(ip, port, port.port));
      for (const Ipv4Cidr& range : port.loadBalancerSourceRanges) {
        set(IpvsSet::LoadBalancerSourceCIDR).insert(ipPortEntry(ip, port, port.port) + "," + formatIpv4Cidr(range));
      }
      if (externalLocal) set(IpvsSet::LoadBalancerLocal).insert(ipPortEntry(ip, port, port.port));
      server(port, ip, port.port, forExternal, true);
    }
    if (port.nodePort != 0) {
      const bool tcp = port.name.protocol == Protocol::Tcp;
      set(tcp ? IpvsSet::NodePortTCP : IpvsSet::NodePortUDP).insert(std::to_string(port.nodePort));
      if (externalLocal) {
        set(tcp ? IpvsSet::NodePortLocalTCP : IpvsSet::NodePortLocalUDP).insert(std::to_string(port.nodePort));
      }
      for (const Ipv4 ip : options_.nodeIPs) server(port, ip, port.nodePort, forExternal, false);
    }
  }

 private:
  inline static const std::vector<Endpoint> kNone{};

  std::set<std::string>& set(IpvsSet which) { return out_.sets[static_cast<size_t>(which)]; }

  void server(const ServicePort& port, Ipv4 address, uint16_t number, const std::vector<IpvsDestination>& destinations,
              bool bind) {
    IpvsService service{.key = {.address = address, .protocol = port.name.protocol, .port = number},
                        .scheduler = options_.scheduler};
    if (port.sessionAffinity == SessionAffinity::ClientIP) {
      service.flags |= IP_VS_SVC_F_PERSISTENT;
      service.timeout = port.stickyMaxAgeSeconds;
    }
    if (options_.scheduler == "mh") service.flags |= kMhPortFlag;
    const IpvsServiceKey key = service.key;
    if (bind) {
      out_.boundAddresses.insert(address);
      set(IpvsSet::IpvsIPs).insert(formatIpv4(address));
    }
    // Two frontends on one (address, protocol, port): the first service port keeps it,
    // as the first kube-proxy sync would.
    if (!out_.servers.emplace(key, IpvsVirtualServer{std::move(service), destinations, port.name}).second) return;
    out_.byPort[port.name].push_back(key);
  }

  const IpvsDesiredOptions& options_;
  IpvsDesired& out_;
};

}  // namespace

IpvsDesired buildIpvsDesired(const ServiceTable& table, const IpvsDesiredOptions& options) {
  IpvsDesired out;
  Builder builder(options, out);
  for (const auto& [name, port] : table.ports()) {
    if (name.protocol == Protocol::Sctp) continue;
    builder.add(*port);
  }
  return out;
}

}  // namespace nicproxy
