// Tests: control/endpoints (usableEndpoints), kube-proxy's CategorizeEndpoints without topology.
//   UsableEndpoints.Table   ready only; fallback to serving+terminating; never mixed; empty cases
#include <gtest/gtest.h>

#include <ostream>

#include "control/endpoints.hpp"

namespace nicproxy {

// Readable failures: gtest would otherwise dump the struct's bytes.
void PrintTo(const Endpoint& endpoint, std::ostream* os) {
  *os << formatIpv4(endpoint.address) << ":" << endpoint.port << (endpoint.ready ? " ready" : "")
      << (endpoint.serving ? " serving" : "") << (endpoint.terminating ? " terminating" : "");
}

namespace {

Endpoint endpoint(uint8_t lastOctet, bool ready, bool serving, bool terminating) {
  Endpoint result;
  result.address = 0x0af40000u | lastOctet;  // 10.244.0.x
  result.port = 8080;
  result.ready = ready;
  result.serving = serving;
  result.terminating = terminating;
  return result;
}

TEST(UsableEndpoints, Table) {
  const Endpoint ready1 = endpoint(1, true, true, false);
  const Endpoint ready2 = endpoint(2, true, true, false);
  const Endpoint servingTerminating = endpoint(3, false, true, true);
  const Endpoint notServingTerminating = endpoint(4, false, false, true);
  const Endpoint notReady = endpoint(5, false, false, false);
  const Endpoint servingNotTerminating = endpoint(6, false, true, false);  // e.g. a failing readiness probe

  const struct {
    const char* description;
    std::vector<Endpoint> endpoints;
    std::vector<Endpoint> usable;
  } cases[] = {
      {"no endpoints", {}, {}},
      {"ready ones only", {ready1, notReady, ready2}, {ready1, ready2}},
      {"terminating ones are not used while any is ready", {servingTerminating, ready1}, {ready1}},
      {"serving terminating ones when none is ready", {servingTerminating, notServingTerminating, notReady},
       {servingTerminating}},
      {"serving alone is not enough", {servingNotTerminating, notReady}, {}},
      {"nothing usable", {notReady, notServingTerminating}, {}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    ServicePort port;
    port.endpoints = c.endpoints;
    EXPECT_EQ(usableEndpoints(port), c.usable);
  }
}

}  // namespace
}  // namespace nicproxy
