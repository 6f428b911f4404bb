// Tests: control/endpoints (usableEndpoints, categorizeEndpoints), kube-proxy's
// CategorizeEndpoints without topology. Endpoints are 10.244.0.x:8080.
//   UsableEndpoints.Table        ready only; fallback to serving+terminating; never mixed; empty cases
//   CategorizeEndpoints.Table    traffic policies: cluster/local sets, hasAnyEndpoints (reject vs drop)
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


Endpoint local(Endpoint e) {
  e.isLocal = true;
  e.nodeName = "this-node";
  return e;
}

TEST(CategorizeEndpoints, Table) {
  const Endpoint remoteReady = endpoint(1, true, true, false);
  const Endpoint localReady = local(endpoint(2, true, true, false));
  const Endpoint localTerminating = local(endpoint(3, false, true, true));
  const Endpoint remoteTerminating = endpoint(4, false, true, true);
  const Endpoint localNotReady = local(endpoint(5, false, false, false));

  const struct {
    const char* description;
    TrafficPolicy internal;
    TrafficPolicy external;
    uint16_t nodePort;
    std::vector<Endpoint> endpoints;
    std::vector<Endpoint> internalSet;
    std::vector<Endpoint> externalSet;
    bool hasAny;
  } cases[] = {
      {"both Cluster", TrafficPolicy::Cluster, TrafficPolicy::Cluster, 30080, {remoteReady, localReady},
       {remoteReady, localReady}, {remoteReady, localReady}, true},
      {"eTP Local uses only local ready endpoints for external traffic", TrafficPolicy::Cluster,
       TrafficPolicy::Local, 30080, {remoteReady, localReady, localTerminating},
       {remoteReady, localReady}, {localReady}, true},
      {"eTP Local without local endpoints: empty set but endpoints exist (drop, not reject)",
       TrafficPolicy::Cluster, TrafficPolicy::Local, 30080, {remoteReady, localNotReady},
       {remoteReady}, {}, true},
      {"eTP Local falls back to local serving+terminating ones", TrafficPolicy::Cluster, TrafficPolicy::Local,
       30080, {remoteReady, localTerminating}, {remoteReady}, {localTerminating}, true},
      {"eTP Local is ignored without external frontends", TrafficPolicy::Cluster, TrafficPolicy::Local, 0,
       {remoteReady}, {remoteReady}, {}, true},
      {"iTP Local for cluster IPs", TrafficPolicy::Local, TrafficPolicy::Cluster, 0, {remoteReady, localReady},
       {localReady}, {remoteReady, localReady}, true},
      {"iTP Local, only remote endpoints: drop", TrafficPolicy::Local, TrafficPolicy::Cluster, 0, {remoteReady},
       {}, {remoteReady}, true},
      {"iTP Local, remote terminating counts as any", TrafficPolicy::Local, TrafficPolicy::Local, 30080,
       {remoteTerminating}, {}, {}, true},
      {"no usable endpoint anywhere: reject", TrafficPolicy::Local, TrafficPolicy::Local, 30080,
       {localNotReady}, {}, {}, false},
      {"Cluster with nothing usable: reject", TrafficPolicy::Cluster, TrafficPolicy::Cluster, 30080, {},
       {}, {}, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    ServicePort port;
    port.internalTrafficPolicy = c.internal;
    port.externalTrafficPolicy = c.external;
    port.nodePort = c.nodePort;
    port.endpoints = c.endpoints;
    const CategorizedEndpoints result = categorizeEndpoints(port);
    EXPECT_EQ(result.forInternal(port), c.internalSet);
    if (c.nodePort != 0) {
      EXPECT_EQ(result.forExternal(port), c.externalSet);
    }
    EXPECT_EQ(result.hasAnyEndpoints, c.hasAny);
  }
}

}  // namespace
}  // namespace nicproxy
