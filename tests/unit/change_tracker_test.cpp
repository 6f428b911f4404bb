// Tests: control/change_tracker (buildServicePorts, ChangeTracker).
//   BuildServicePorts.NamedTargetPortResolvesThroughSlicePorts
//   BuildServicePorts.MultiPortServiceMatchesByNameAndProtocol
//   BuildServicePorts.ConditionsDefaultsLocalDedupAndOrder   unset ready -> ready, local, dedup, sorted
//   BuildServicePorts.SliceOfOtherNamespaceOrFamilyIgnored
//   BuildServicePorts.CarriesServiceFieldsAndSchedulerAnnotation
//   BuildServicePorts.HealthCheckNodePortOnlyForLocalLoadBalancers  kube-proxy's NeedsHealthCheck
//   ChangeTracker.FirstApplyReportsEveryPort
//   ChangeTracker.NoOpChangeReportsNothing                  same objects re-sent: nothing changed, same table
//   ChangeTracker.EndpointChangeTouchesOnlyThatService      unchanged ports share their pointer
//   ChangeTracker.DeletionReportsChanged                    service and slice deletion
//   ChangeTracker.SliceFromOtherNamespaceDoesNotJoin
//   ChangeTracker.SliceMovingToAnotherServiceUpdatesBoth
//   ChangeTracker.ReplaceAllDropsWhatIsGone
//   ChangeTracker.KeysDoNotSplitAtSlashes                 ("a/b", "c") and ("a", "b/c") stay two services
//   ChangeTracker.FrontendClashRefusesTheLaterService      a second Service on one address, port and protocol is
//                                                         refused (its last version stays) until the first goes
#include <gtest/gtest.h>

#include "control/change_tracker.hpp"

namespace nicproxy {
namespace {

Ipv4 ip(const char* text) { return parseIpv4(text).value(); }

k8s::ServicePortSpec servicePort(std::string name, uint16_t port, std::variant<uint16_t, std::string> targetPort,
                                 Protocol protocol = Protocol::Tcp) {
  k8s::ServicePortSpec spec;
  spec.name = std::move(name);
  spec.port = port;
  spec.targetPort = std::move(targetPort);
  spec.protocol = protocol;
  return spec;
}

k8s::Service service(std::string ns, std::string name, const char* clusterIp, std::vector<k8s::ServicePortSpec> ports) {
  k8s::Service result;
  result.meta.namespaceName = std::move(ns);
  result.meta.name = std::move(name);
  result.clusterIPs = {ip(clusterIp)};
  result.ports = std::move(ports);
  return result;
}

k8s::EndpointPort slicePort(std::string name, std::optional<uint16_t> port, Protocol protocol = Protocol::Tcp) {
  return k8s::EndpointPort{std::move(name), protocol, port};
}

k8s::SliceEndpoint sliceEndpoint(const char* address, std::string nodeName = {},
                                 k8s::EndpointConditions conditions = {}) {
  k8s::SliceEndpoint result;
  result.addresses = {ip(address)};
  result.nodeName = std::move(nodeName);
  result.conditions = conditions;
  return result;
}

k8s::EndpointSlice slice(std::string ns, std::string name, std::string serviceName,
                         std::vector<k8s::EndpointPort> ports,
                         std::vector<k8s::SliceEndpoint> endpoints) {
  k8s::EndpointSlice result;
  result.meta.namespaceName = std::move(ns);
  result.meta.name = std::move(name);
  result.serviceName = std::move(serviceName);
  result.addressType = "IPv4";
  result.ports = std::move(ports);
  result.endpoints = std::move(endpoints);
  return result;
}

std::vector<std::pair<std::string, uint16_t>> addresses(const ServicePort& port) {
  std::vector<std::pair<std::string, uint16_t>> result;
  for (const auto& endpoint : port.endpoints) result.emplace_back(formatIpv4(endpoint.address), endpoint.port);
  return result;
}

using Addresses = std::vector<std::pair<std::string, uint16_t>>;

ServicePortName portName(std::string ns, std::string svc, std::string port, Protocol protocol = Protocol::Tcp) {
  return ServicePortName{std::move(ns), std::move(svc), std::move(port), protocol};
}

TEST(BuildServicePorts, NamedTargetPortResolvesThroughSlicePorts) {
  // Service port "web" -> targetPort "http"; the slice says what "web" is on each pod.
  const auto svc = service("default", "web", "10.96.0.10", {servicePort("web", 80, std::string("http"))});
  const auto byServicePortName = slice("default", "web-1", "web", {slicePort("web", 8080)},
                                       {sliceEndpoint("10.244.0.1")});
  // A hand-written slice may name the port after the targetPort instead.
  const auto byTargetName = slice("default", "web-2", "web", {slicePort("http", 9090)},
                                  {sliceEndpoint("10.244.0.2")});
  const auto noMatch = slice("default", "web-3", "web", {slicePort("metrics", 9100)}, {sliceEndpoint("10.244.0.3")});
  const auto ports = buildServicePorts(svc, {&byServicePortName, &byTargetName, &noMatch}, "");
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].name, portName("default", "web", "web"));
  EXPECT_EQ(addresses(ports[0]), (Addresses{{"10.244.0.1", 8080}, {"10.244.0.2", 9090}}));
}

TEST(BuildServicePorts, MultiPortServiceMatchesByNameAndProtocol) {
  const auto svc = service("default", "dns", "10.96.0.53",
                           {servicePort("dns", 53, uint16_t{53}, Protocol::Udp),
                            servicePort("dns-tcp", 53, uint16_t{53}, Protocol::Tcp),
                            servicePort("metrics", 9153, uint16_t{9153})});
  // The slice port without a number falls back to the numeric targetPort.
  const auto endpoints = slice("default", "dns-1", "dns",
                               {slicePort("dns", 5353, Protocol::Udp), slicePort("dns-tcp", 5354, Protocol::Tcp),
                                slicePort("metrics", std::nullopt)},
                               {sliceEndpoint("10.244.0.9")});
  const auto ports = buildServicePorts(svc, {&endpoints}, "");
  ASSERT_EQ(ports.size(), 3u);
  EXPECT_EQ(ports[0].name, portName("default", "dns", "dns", Protocol::Udp));
  EXPECT_EQ(addresses(ports[0]), (Addresses{{"10.244.0.9", 5353}}));
  EXPECT_EQ(addresses(ports[1]), (Addresses{{"10.244.0.9", 5354}}));
  EXPECT_EQ(addresses(ports[2]), (Addresses{{"10.244.0.9", 9153}}));

  // A protocol mismatch is no match: a UDP slice port does not serve the TCP service port.
  const auto udpOnly = slice("default", "dns-2", "dns", {slicePort("dns-tcp", 5354, Protocol::Udp)},
                             {sliceEndpoint("10.244.0.8")});
  EXPECT_TRUE(buildServicePorts(svc, {&udpOnly}, "")[1].endpoints.empty());
}

TEST(BuildServicePorts, ConditionsDefaultsLocalDedupAndOrder) {
  const auto svc = service("default", "web", "10.96.0.10", {servicePort("", 80, uint16_t{8080})});
  const auto first = slice("default", "web-a", "web", {slicePort("", 8080)},
                           {sliceEndpoint("10.244.0.9", "edge-2"),
                            sliceEndpoint("10.244.0.3", "edge-1",
                                          {.ready = false, .serving = true, .terminating = true}),
                            sliceEndpoint("10.244.0.5", "edge-1", {.ready = false, .serving = {}, .terminating = {}})});
  // The same endpoint in a second slice (a rebalance in progress) counts once, the first one seen.
  const auto second = slice("default", "web-b", "web", {slicePort("", 8080)},
                            {sliceEndpoint("10.244.0.9", "edge-9"), sliceEndpoint("10.244.0.1")});
  const auto ports = buildServicePorts(svc, {&first, &second}, "edge-1");
  ASSERT_EQ(ports.size(), 1u);
  const auto& endpoints = ports[0].endpoints;
  ASSERT_EQ(addresses(ports[0]),
            (Addresses{{"10.244.0.1", 8080}, {"10.244.0.3", 8080}, {"10.244.0.5", 8080}, {"10.244.0.9", 8080}}));
  // 10.244.0.1: nothing set -> ready, serving, not terminating; no node -> not local.
  EXPECT_TRUE(endpoints[0].ready);
  EXPECT_TRUE(endpoints[0].serving);
  EXPECT_FALSE(endpoints[0].terminating);
  EXPECT_FALSE(endpoints[0].isLocal);
  // 10.244.0.3: as written; on this node.
  EXPECT_FALSE(endpoints[1].ready);
  EXPECT_TRUE(endpoints[1].serving);
  EXPECT_TRUE(endpoints[1].terminating);
  EXPECT_TRUE(endpoints[1].isLocal);
  // 10.244.0.5: serving unset follows ready (false).
  EXPECT_FALSE(endpoints[2].serving);
  // 10.244.0.9: first slice wins.
  EXPECT_EQ(endpoints[3].nodeName, "edge-2");
  EXPECT_FALSE(endpoints[3].isLocal);
}

TEST(BuildServicePorts, SliceOfOtherNamespaceOrFamilyIgnored) {
  const auto svc = service("default", "web", "10.96.0.10", {servicePort("", 80, uint16_t{80})});
  const auto otherNamespace = slice("shop", "web-1", "web", {slicePort("", 80)}, {sliceEndpoint("10.244.0.1")});
  auto ipv6 = slice("default", "web-2", "web", {slicePort("", 80)}, {sliceEndpoint("10.244.0.2")});
  ipv6.addressType = "IPv6";
  const auto ports = buildServicePorts(svc, {&otherNamespace, &ipv6}, "");
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_TRUE(ports[0].endpoints.empty());

  auto headless = svc;
  headless.headless = true;
  EXPECT_TRUE(buildServicePorts(headless, {}, "").empty());
}

TEST(BuildServicePorts, CarriesServiceFieldsAndSchedulerAnnotation) {
  auto svc = service("default", "web", "10.96.0.10", {servicePort("http", 80, uint16_t{8080})});
  svc.type = ServiceType::LoadBalancer;
  svc.ports[0].nodePort = 30080;
  svc.externalIPs = {ip("192.0.2.1")};
  svc.loadBalancerIPs = {ip("203.0.113.1")};
  svc.sessionAffinity = SessionAffinity::ClientIP;
  svc.stickyMaxAgeSeconds = 60;
  svc.externalTrafficPolicy = TrafficPolicy::Local;
  svc.meta.annotations["nicproxy.io/scheduler"] = "maglev";
  const auto ports = buildServicePorts(svc, {}, "");
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0].type, ServiceType::LoadBalancer);
  EXPECT_EQ(ports[0].clusterIPs, std::vector<Ipv4>{ip("10.96.0.10")});
  EXPECT_EQ(ports[0].port, 80);
  EXPECT_EQ(ports[0].nodePort, 30080);
  EXPECT_EQ(ports[0].externalIPs, svc.externalIPs);
  EXPECT_EQ(ports[0].loadBalancerIPs, svc.loadBalancerIPs);
  EXPECT_EQ(ports[0].sessionAffinity, SessionAffinity::ClientIP);
  EXPECT_EQ(ports[0].stickyMaxAgeSeconds, 60u);
  EXPECT_EQ(ports[0].externalTrafficPolicy, TrafficPolicy::Local);
  EXPECT_EQ(ports[0].scheduler, "maglev");
  EXPECT_EQ(ports[0].name.toString(), "default/web:http");
}

TEST(BuildServicePorts, HealthCheckNodePortOnlyForLocalLoadBalancers) {
  auto svc = service("default", "web", "10.96.0.10", {servicePort("http", 80, uint16_t{8080})});
  svc.healthCheckNodePort = 32000;
  const auto portOf = [&svc](ServiceType type, TrafficPolicy policy) {
    svc.type = type;
    svc.externalTrafficPolicy = policy;
    return buildServicePorts(svc, {}, "").at(0).healthCheckNodePort;
  };
  EXPECT_EQ(portOf(ServiceType::LoadBalancer, TrafficPolicy::Local), 32000);
  EXPECT_EQ(portOf(ServiceType::LoadBalancer, TrafficPolicy::Cluster), 0);
  EXPECT_EQ(portOf(ServiceType::NodePort, TrafficPolicy::Local), 0);
}

class ChangeTrackerTest : public testing::Test {
 protected:
  ChangeTrackerTest() : tracker_("edge-1") {
    tracker_.upsertService(service("default", "web", "10.96.0.10",
                                   {servicePort("http", 80, uint16_t{8080}),
                                    servicePort("https", 443, uint16_t{8443})}));
    tracker_.upsertEndpointSlice(webSlice({"10.244.0.1", "10.244.0.2"}));
    tracker_.upsertService(service("default", "db", "10.96.0.20", {servicePort("", 5432, uint16_t{5432})}));
    tracker_.upsertEndpointSlice(slice("default", "db-1", "db", {slicePort("", 5432)}, {sliceEndpoint("10.244.1.1")}));
  }

  static k8s::EndpointSlice webSlice(std::vector<const char*> ips) {
    std::vector<k8s::SliceEndpoint> endpoints;
    for (const char* address : ips) endpoints.push_back(sliceEndpoint(address, "edge-1"));
    return slice("default", "web-1", "web", {slicePort("http", 8080), slicePort("https", 8443)}, endpoints);
  }

  ChangeTracker tracker_;
};

TEST_F(ChangeTrackerTest, FirstApplyReportsEveryPort) {
  EXPECT_TRUE(tracker_.hasPendingChanges());
  const Snapshot snapshot = tracker_.apply();
  EXPECT_FALSE(tracker_.hasPendingChanges());
  EXPECT_EQ(snapshot.changed, (ChangedPorts{portName("default", "web", "http"), portName("default", "web", "https"),
                                            portName("default", "db", "")}));
  ASSERT_EQ(snapshot.table->size(), 3u);
  EXPECT_EQ(snapshot.table->endpointCount(), 5u);
  EXPECT_EQ(snapshot.table->generation(), 1u);
  EXPECT_EQ(snapshot.table, tracker_.current());
  const ServicePort* https = snapshot.table->find(portName("default", "web", "https"));
  ASSERT_NE(https, nullptr);
  EXPECT_EQ(addresses(*https), (Addresses{{"10.244.0.1", 8443}, {"10.244.0.2", 8443}}));
  EXPECT_TRUE(https->endpoints[0].isLocal);
  EXPECT_EQ(snapshot.table->find(portName("default", "web", "ftp")), nullptr);
}

TEST_F(ChangeTrackerTest, NoOpChangeReportsNothing) {
  const Snapshot first = tracker_.apply();
  tracker_.upsertService(service("default", "web", "10.96.0.10",
                                 {servicePort("http", 80, uint16_t{8080}),
                                  servicePort("https", 443, uint16_t{8443})}));
  tracker_.upsertEndpointSlice(webSlice({"10.244.0.2", "10.244.0.1"}));  // same endpoints, other order
  const Snapshot second = tracker_.apply();
  EXPECT_TRUE(second.changed.empty());
  EXPECT_EQ(second.table, first.table);  // nothing changed: the same table, same generation
  EXPECT_EQ(second.table->generation(), 1u);
  EXPECT_TRUE(tracker_.apply().changed.empty());  // and nothing pending
}

TEST_F(ChangeTrackerTest, EndpointChangeTouchesOnlyThatService) {
  const Snapshot first = tracker_.apply();
  tracker_.upsertEndpointSlice(webSlice({"10.244.0.1", "10.244.0.3"}));
  const Snapshot second = tracker_.apply();
  EXPECT_EQ(second.changed, (ChangedPorts{portName("default", "web", "http"), portName("default", "web", "https")}));
  EXPECT_EQ(second.table->generation(), 2u);
  EXPECT_EQ(addresses(*second.table->find(portName("default", "web", "http"))),
            (Addresses{{"10.244.0.1", 8080}, {"10.244.0.3", 8080}}));
  // Unchanged ports are the same objects, so a dataplane can skip them by pointer.
  const auto& db = portName("default", "db", "");
  EXPECT_EQ(second.table->ports().at(db), first.table->ports().at(db));
  // The previous snapshot is immutable: it still shows the old endpoints.
  EXPECT_EQ(addresses(*first.table->find(portName("default", "web", "http"))),
            (Addresses{{"10.244.0.1", 8080}, {"10.244.0.2", 8080}}));
}

// Nobody holds the previous snapshot: the tracker takes its map over instead of copying
// it, and the result is the same as when it must copy.
TEST_F(ChangeTrackerTest, ReleasedSnapshotGivesTheSameNextTable) {
  const ServicePortPtr db = tracker_.apply().table->ports().at(portName("default", "db", ""));
  tracker_.upsertEndpointSlice(webSlice({"10.244.0.1", "10.244.0.3"}));
  Snapshot second = tracker_.apply();  // the first snapshot was dropped: taken over
  EXPECT_EQ(second.changed, (ChangedPorts{portName("default", "web", "http"), portName("default", "web", "https")}));
  EXPECT_EQ(second.table->generation(), 2u);
  EXPECT_EQ(second.table->size(), 3u);
  EXPECT_EQ(second.table->ports().at(portName("default", "db", "")), db) << "unchanged ports stay shared";
  EXPECT_EQ(addresses(*second.table->find(portName("default", "web", "http"))),
            (Addresses{{"10.244.0.1", 8080}, {"10.244.0.3", 8080}}));
  // A no-op on a table nobody else holds leaves it whole.
  tracker_.upsertEndpointSlice(webSlice({"10.244.0.3", "10.244.0.1"}));
  const uint64_t generation = second.table->generation();
  second = Snapshot{};  // dropped: the tracker is the sole owner again
  const Snapshot third = tracker_.apply();
  EXPECT_TRUE(third.changed.empty());
  EXPECT_EQ(third.table->generation(), generation);
  EXPECT_EQ(third.table->size(), 3u);
  EXPECT_EQ(tracker_.current()->size(), 3u);
}

TEST_F(ChangeTrackerTest, DeletionReportsChanged) {
  tracker_.apply();
  tracker_.deleteService("default", "web");
  Snapshot snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.changed, (ChangedPorts{portName("default", "web", "http"), portName("default", "web", "https")}));
  EXPECT_EQ(snapshot.table->size(), 1u);
  EXPECT_EQ(snapshot.table->find(portName("default", "web", "http")), nullptr);

  tracker_.deleteEndpointSlice("default", "db-1");
  snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.changed, ChangedPorts{portName("default", "db", "")});
  EXPECT_TRUE(snapshot.table->find(portName("default", "db", ""))->endpoints.empty());

  tracker_.deleteService("default", "never-existed");
  EXPECT_FALSE(tracker_.hasPendingChanges());
}

TEST_F(ChangeTrackerTest, SliceFromOtherNamespaceDoesNotJoin) {
  tracker_.apply();
  tracker_.upsertEndpointSlice(slice("shop", "db-1", "db", {slicePort("", 5432)}, {sliceEndpoint("10.244.9.9")}));
  const Snapshot snapshot = tracker_.apply();
  EXPECT_TRUE(snapshot.changed.empty());
  EXPECT_EQ(addresses(*snapshot.table->find(portName("default", "db", ""))), (Addresses{{"10.244.1.1", 5432}}));
}

TEST_F(ChangeTrackerTest, SliceMovingToAnotherServiceUpdatesBoth) {
  tracker_.apply();
  // db-1 relabelled to service web: db loses its endpoint, and web gains none (no "http" port in it).
  tracker_.upsertEndpointSlice(slice("default", "db-1", "web", {slicePort("", 5432)}, {sliceEndpoint("10.244.1.1")}));
  const Snapshot snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.changed, ChangedPorts{portName("default", "db", "")});
  EXPECT_TRUE(snapshot.table->find(portName("default", "db", ""))->endpoints.empty());
}

TEST_F(ChangeTrackerTest, ReplaceAllDropsWhatIsGone) {
  const Snapshot first = tracker_.apply();
  tracker_.replaceAll({service("default", "db", "10.96.0.20", {servicePort("", 5432, uint16_t{5432})})},
                      {slice("default", "db-1", "db", {slicePort("", 5432)}, {sliceEndpoint("10.244.1.1")})});
  const Snapshot second = tracker_.apply();
  EXPECT_EQ(second.changed, (ChangedPorts{portName("default", "web", "http"), portName("default", "web", "https")}));
  EXPECT_EQ(second.table->size(), 1u);
  const auto& db = portName("default", "db", "");
  EXPECT_EQ(second.table->ports().at(db), first.table->ports().at(db));
}

// Names with a '/' never pass decoding, but the tracker must not depend on that: a key
// joined as "namespace/name" and split at the first '/' mixed these two up, and the
// deleted one kept forwarding.
TEST_F(ChangeTrackerTest, KeysDoNotSplitAtSlashes) {
  tracker_.apply();
  tracker_.upsertService(service("a/b", "c", "10.96.7.1", {servicePort("", 80, uint16_t{8080})}));
  tracker_.upsertService(service("a", "b/c", "10.96.7.2", {servicePort("", 80, uint16_t{8080})}));
  Snapshot snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.changed, (ChangedPorts{portName("a/b", "c", ""), portName("a", "b/c", "")}));
  ASSERT_EQ(snapshot.table->size(), 5u);

  tracker_.deleteService("a/b", "c");
  snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.changed, ChangedPorts{portName("a/b", "c", "")});
  EXPECT_EQ(snapshot.table->find(portName("a/b", "c", "")), nullptr);
  ASSERT_NE(snapshot.table->find(portName("a", "b/c", "")), nullptr);
  EXPECT_EQ(snapshot.table->find(portName("a", "b/c", ""))->clusterIPs, std::vector<Ipv4>{ip("10.96.7.2")});

  tracker_.upsertEndpointSlice(slice("a", "b/c-1", "b/c", {slicePort("", 8080)}, {sliceEndpoint("10.244.7.1")}));
  snapshot = tracker_.apply();
  EXPECT_EQ(addresses(*snapshot.table->find(portName("a", "b/c", ""))), (Addresses{{"10.244.7.1", 8080}}));
}

// A watch may show two Services on one frontend (a misbehaving server, or a clusterIP
// reused across a delete the watch has not shown yet): the later one is refused.
TEST_F(ChangeTrackerTest, FrontendClashRefusesTheLaterService) {
  const Snapshot first = tracker_.apply();
  auto other = service("default", "other", "10.96.0.30", {servicePort("", 80, uint16_t{8080})});
  other.externalIPs = {ip("10.96.0.10")};  // web's clusterIP, same port 80/TCP
  EXPECT_FALSE(tracker_.upsertService(other));
  // A new version of db moving onto web's address: refused, the version in force stays.
  EXPECT_FALSE(tracker_.upsertService(service("default", "db", "10.96.0.10", {servicePort("", 80, uint16_t{8080})})));
  EXPECT_EQ(tracker_.refusedServices(), 2u);
  EXPECT_FALSE(tracker_.hasPendingChanges());
  Snapshot snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.table, first.table);
  EXPECT_EQ(snapshot.table->find(portName("default", "db", ""))->clusterIPs, std::vector<Ipv4>{ip("10.96.0.20")});

  // Other ports or protocols on the same address are not a clash.
  auto udp = service("default", "udp", "10.96.0.31", {servicePort("", 80, uint16_t{8080}, Protocol::Udp)});
  udp.externalIPs = {ip("10.96.0.10")};
  EXPECT_TRUE(tracker_.upsertService(udp));

  // web goes: the first refused one in key order (db's new version) takes the frontend,
  // and other, which clashes with it now, stays refused.
  tracker_.deleteService("default", "web");
  snapshot = tracker_.apply();
  EXPECT_EQ(snapshot.table->find(portName("default", "db", ""))->clusterIPs, std::vector<Ipv4>{ip("10.96.0.10")});
  EXPECT_EQ(snapshot.table->find(portName("default", "other", "")), nullptr);
  EXPECT_EQ(tracker_.refusedServices(), 1u);
  // db moves away again: other is taken.
  tracker_.upsertService(service("default", "db", "10.96.0.20", {servicePort("", 5432, uint16_t{5432})}));
  snapshot = tracker_.apply();
  EXPECT_NE(snapshot.table->find(portName("default", "other", "")), nullptr);
  EXPECT_EQ(tracker_.refusedServices(), 0u);
}

}  // namespace
}  // namespace nicproxy
