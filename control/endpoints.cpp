#include "control/endpoints.hpp"

#include <algorithm>

namespace nicproxy {

namespace {

// Ready endpoints when there are any, else the serving-and-terminating ones, among
// those `keep` accepts. Terminating-but-serving endpoints keep a service reachable
// during a rollout when nothing else is left (KEP-1669); they never mix with ready ones.
template <typename Keep>
std::vector<Endpoint> usable(const ServicePort& port, Keep keep) {
  std::vector<Endpoint> ready;
  std::vector<Endpoint> servingTerminating;
  for (const Endpoint& endpoint : port.endpoints) {
    if (!keep(endpoint)) continue;
    if (endpoint.ready) {
      ready.push_back(endpoint);
    } else if (endpoint.serving && endpoint.terminating) {
      servingTerminating.push_back(endpoint);
    }
  }
  return ready.empty() ? servingTerminating : ready;
}

}  // namespace

std::vector<Endpoint> usableEndpoints(const ServicePort& port) {
  return usable(port, [](const Endpoint&) { return true; });
}

bool externallyAccessible(const ServicePort& port) {
  return port.nodePort != 0 || !port.externalIPs.empty() || !port.loadBalancerIPs.empty();
}

bool usesClusterEndpoints(const ServicePort& port) {
  return port.internalTrafficPolicy == TrafficPolicy::Cluster ||
         (externallyAccessible(port) && port.externalTrafficPolicy == TrafficPolicy::Cluster);
}

bool usesLocalEndpoints(const ServicePort& port) {
  return port.internalTrafficPolicy == TrafficPolicy::Local ||
         (externallyAccessible(port) && port.externalTrafficPolicy == TrafficPolicy::Local);
}

CategorizedEndpoints categorizeEndpoints(const ServicePort& port) {
  CategorizedEndpoints result;
  const std::vector<Endpoint> anywhere = usableEndpoints(port);
  // A service whose only policy is Local still "has endpoints" when they are all on
  // other nodes: its traffic is dropped here, not rejected.
  result.hasAnyEndpoints = !anywhere.empty();
  if (usesClusterEndpoints(port)) result.cluster = anywhere;
  if (usesLocalEndpoints(port)) result.local = usable(port, [](const Endpoint& e) { return e.isLocal; });
  for (const Endpoint& endpoint : port.endpoints) {
    const auto same = [&endpoint](const Endpoint& e) {
      return e.address == endpoint.address && e.port == endpoint.port;
    };
    if (std::any_of(result.cluster.begin(), result.cluster.end(), same) ||
        std::any_of(result.local.begin(), result.local.end(), same)) {
      result.allReachable.push_back(endpoint);
    }
  }
  return result;
}

}  // namespace nicproxy
