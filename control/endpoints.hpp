#pragma once
// Endpoint categorisation, as kube-proxy's pkg/proxy/topology.go does it, as one
// pure function: which endpoints new connections may use.
#include <vector>

#include "control/model.hpp"

namespace nicproxy {

/// Endpoints that new connections to `port` may use: the ready ones; when there is
/// none, the serving-and-terminating ones (kube-proxy's fallback); else empty.
/// Traffic policies are not applied here yet (a later issue).
std::vector<Endpoint> usableEndpoints(const ServicePort& port);

}  // namespace nicproxy
