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

}  // namespace nicproxy
