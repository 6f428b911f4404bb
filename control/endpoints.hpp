#pragma once
// Endpoint categorisation, as kube-proxy's pkg/proxy/topology.go (CategorizeEndpoints)
// does it, as pure functions: which endpoints new connections may use, per traffic
// policy. Topology hints are not applied (nicproxy has no zone-aware routing yet).
#include <vector>

#include "control/model.hpp"

namespace nicproxy {

/// Endpoints that new connections to `port` may use: the ready ones; when there is
/// none, the serving-and-terminating ones (kube-proxy's fallback); else empty.
/// Traffic policies are not applied here (see categorizeEndpoints).
std::vector<Endpoint> usableEndpoints(const ServicePort& port);

/// True when the port has a frontend reachable from outside the cluster: a NodePort,
/// external IPs or load-balancer IPs (kube-proxy's ExternallyAccessible).
bool externallyAccessible(const ServicePort& port);
/// Some frontend of the port uses the Cluster (resp. Local) traffic policy.
bool usesClusterEndpoints(const ServicePort& port);
bool usesLocalEndpoints(const ServicePort& port);

struct CategorizedEndpoints {
  /// For traffic policy Cluster: the ready endpoints anywhere, else serving+terminating.
  /// Empty when no frontend uses the Cluster policy (not computed).
  std::vector<Endpoint> cluster;
  /// For traffic policy Local: the ready local endpoints, else the serving+terminating
  /// local ones. Empty when neither policy is Local (not computed).
  std::vector<Endpoint> local;
  /// cluster ∪ local, in the order of port.endpoints: what some frontend can reach.
  std::vector<Endpoint> allReachable;
  /// Some endpoint anywhere can take traffic. When false, new connections are
  /// rejected (kube-proxy's REJECT); when true but the set a frontend uses is empty
  /// (policy Local, nothing on this node), they are dropped.
  bool hasAnyEndpoints = false;

  /// The endpoints for cluster IPs (internalTrafficPolicy).
  const std::vector<Endpoint>& forInternal(const ServicePort& port) const {
    return port.internalTrafficPolicy == TrafficPolicy::Local ? local : cluster;
  }
  /// The endpoints for NodePorts, external and LB IPs (externalTrafficPolicy).
  const std::vector<Endpoint>& forExternal(const ServicePort& port) const {
    return port.externalTrafficPolicy == TrafficPolicy::Local ? local : cluster;
  }
};

/// kube-proxy's CategorizeEndpoints without topology: cluster and local endpoint sets
/// and whether any endpoint is usable at all.
CategorizedEndpoints categorizeEndpoints(const ServicePort& port);

}  // namespace nicproxy
