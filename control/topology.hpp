#pragma once
// kube-proxy's endpoint categorisation with traffic policies (pkg/proxy/topology.go,
// CategorizeEndpoints) as one pure function, for the kernel dataplanes: which
// endpoints Cluster-policy and Local-policy traffic may use, and whether the service
// has any usable endpoint at all (REJECT when not; DROP when only the local set is empty).
#include <vector>

#include "control/model.hpp"

namespace nicproxy {

struct CategorizedEndpoints {
  std::vector<Endpoint> cluster;             // for Cluster traffic policy; empty unless used
  std::vector<Endpoint> local;               // for Local traffic policy; empty unless used
  std::vector<Endpoint> allReachable;        // cluster ∪ local, in the order of port.endpoints
  bool hasAny = false;                       // some endpoint anywhere is usable
};

/// True when the port has a NodePort, external IPs or load-balancer IPs.
bool externallyAccessible(const ServicePort& port);
bool usesClusterEndpoints(const ServicePort& port);
bool usesLocalEndpoints(const ServicePort& port);

/// Ready endpoints, or serving-and-terminating ones when none is ready, for each of the
/// two policies the port uses.
CategorizedEndpoints categorizeEndpoints(const ServicePort& port);

}  // namespace nicproxy
