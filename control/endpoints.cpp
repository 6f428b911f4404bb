#include "control/endpoints.hpp"

namespace nicproxy {

std::vector<Endpoint> usableEndpoints(const ServicePort& port) {
  std::vector<Endpoint> ready;
  std::vector<Endpoint> servingTerminating;
  for (const Endpoint& endpoint : port.endpoints) {
    if (endpoint.ready) {
      ready.push_back(endpoint);
    } else if (endpoint.serving && endpoint.terminating) {
      servingTerminating.push_back(endpoint);
    }
  }
  // Terminating-but-serving endpoints keep a service reachable during a rollout
  // when nothing else is left (KEP-1669); they never mix with ready ones.
  return ready.empty() ? servingTerminating : ready;
}

bool externallyAccessible(const ServicePort& port) {
  return port.nodePort != 0 || !port.externalIPs.empty() || !port.loadBalancerIPs.empty();
}

CategorizedEndpoints categorizeEndpoints(const ServicePort& port) {
  CategorizedEndpoints result;
  const bool external = externallyAccessible(port);
  const bool usesCluster = port.internalTrafficPolicy == TrafficPolicy::Cluster ||
                           (external && port.externalTrafficPolicy == TrafficPolicy::Cluster);
  const bool usesLocal = port.internalTrafficPolicy == TrafficPolicy::Local ||
                         (external && port.externalTrafficPolicy == TrafficPolicy::Local);
  if (usesCluster) {
    result.cluster = usableEndpoints(port);
    result.hasAnyEndpoints = !result.cluster.empty();
  }
  if (!usesLocal) return result;

  // As kube-proxy: a Local policy uses the ready local endpoints, or when there is none
  // the serving+terminating local ones; "any endpoints" counts every node's.
  bool localReady = false;
  bool localServingTerminating = false;
  for (const Endpoint& e : port.endpoints) {
    if (e.ready) {
      result.hasAnyEndpoints = true;
      localReady = localReady || e.isLocal;
    } else if (e.serving && e.terminating) {
      result.hasAnyEndpoints = true;
      localServingTerminating = localServingTerminating || e.isLocal;
    }
  }
  for (const Endpoint& e : port.endpoints) {
    if (!e.isLocal) continue;
    if (localReady ? e.ready : (localServingTerminating && e.serving && e.terminating && !e.ready)) {
      result.local.push_back(e);
    }
  }
  return result;
}

}  // namespace nicproxy
