// Tests: control/endpoints (categorizeEndpoints, as the kernel dataplanes use it) against kube-proxy's CategorizeEndpoints.
// Addresses: endpoints 10.180.0.1 (local, node-a), 10.180.0.2 (remote), cluster IP 172.30.0.41.
#include <gtest/gtest.h>

#include "control/endpoints.hpp"
#include "kernel_fixtures.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

std::string addresses(const std::vector<Endpoint>& endpoints) {
  std::string out;
  for (const Endpoint& e : endpoints) out += (out.empty() ? "" : ",") + formatIpv4(e.address);
  return out;
}

TEST(Topology, Table) {
  struct Case {
    const char* name;
    TrafficPolicy itp, etp;
    bool external;
    std::vector<Endpoint> endpoints;
    const char* cluster;
    const char* local;
    const char* all;
    bool hasAny;
  };
  const auto l1 = endpoint("10.180.0.1", 80, true);
  const auto r2 = endpoint("10.180.0.2", 80, false);
  auto terminating = endpoint("10.180.0.1", 80, true, false);
  terminating.serving = true;
  terminating.terminating = true;
  using enum TrafficPolicy;
  const std::vector<Case> cases = {
      {"cluster only", Cluster, Cluster, false, {l1, r2}, "10.180.0.1,10.180.0.2", "", "10.180.0.1,10.180.0.2", true},
      {"eTP Local without external access is ignored", Cluster, Local, false, {l1, r2}, "10.180.0.1,10.180.0.2", "",
       "10.180.0.1,10.180.0.2", true},
      {"eTP Local", Cluster, Local, true, {l1, r2}, "10.180.0.1,10.180.0.2", "10.180.0.1", "10.180.0.1,10.180.0.2", true},
      {"iTP Local", Local, Cluster, false, {l1, r2}, "", "10.180.0.1", "10.180.0.1", true},
      {"iTP Local, only remote: has endpoints, none local", Local, Cluster, false, {r2}, "", "", "", true},
      {"nothing ready", Cluster, Cluster, false, {endpoint("10.180.0.2", 80, false, false)}, "", "", "", false},
      {"serving-terminating fallback", Cluster, Cluster, false, {terminating}, "10.180.0.1", "", "10.180.0.1", true},
      {"ready beats terminating", Cluster, Cluster, false, {terminating, r2}, "10.180.0.2", "", "10.180.0.2", true},
  };
  for (const Case& c : cases) {
    ServicePort p = clusterIpPort("ns", "svc", "p", "172.30.0.41", 80, c.endpoints);
    p.internalTrafficPolicy = c.itp;
    p.externalTrafficPolicy = c.etp;
    if (c.external) p.nodePort = 30001;
    const CategorizedEndpoints got = categorizeEndpoints(p);
    EXPECT_EQ(addresses(got.cluster), c.cluster) << c.name;
    EXPECT_EQ(addresses(got.local), c.local) << c.name;
    EXPECT_EQ(addresses(got.allReachable), c.all) << c.name;
    EXPECT_EQ(got.hasAnyEndpoints, c.hasAny) << c.name;
  }
}

}  // namespace
}  // namespace nicproxy
