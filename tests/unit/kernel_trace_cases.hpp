#pragma once
// One services fixture and one table of packets with what must happen to each, shared
// by the iptables and nftables tracer tests: both dataplanes must agree with
// kube-proxy's semantics packet for packet.
// Addresses: node 192.168.0.2 (nodePortAddresses unset: every local address), pod
// network (clusterCIDR) 10.0.0.0/8, endpoints 10.180.0.1-3 (10.180.0.1 and .3 local
// to this node, node-a), cluster IPs 172.30.0.41-52, external IPs 192.168.99.11-12,
// load-balancer IP 1.2.3.4 with source range 203.0.113.0/25, outside clients
// 198.51.100.7 and 203.0.113.5.
#include <string>
#include <vector>

#include "control/change_tracker.hpp"
#include "tests/kernel_fake/iptables_tracer.hpp"
#include "kernel_fixtures.hpp"

namespace nicproxy::fixtures {

inline std::vector<ServicePort> traceServices() {
  using enum TrafficPolicy;
  std::vector<ServicePort> s;
  const auto local1 = endpoint("10.180.0.1", 80, true);
  const auto remote2 = endpoint("10.180.0.2", 80, false);
  // ClusterIP, two endpoints.
  s.push_back(clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {local1, remote2}));
  // NodePort + external IP.
  ServicePort np = clusterIpPort("ns2", "svc2", "p80", "172.30.0.42", 80, {local1, remote2});
  np.type = ServiceType::NodePort;
  np.nodePort = 3001;
  np.externalIPs = {ip("192.168.99.11")};
  s.push_back(np);
  // LoadBalancer with source ranges.
  ServicePort lb = clusterIpPort("ns3", "svc3", "p80", "172.30.0.43", 80, {local1, remote2});
  lb.type = ServiceType::LoadBalancer;
  lb.nodePort = 3003;
  lb.loadBalancerIPs = {ip("1.2.3.4")};
  lb.loadBalancerSourceRanges = {cidr("203.0.113.0/25")};
  s.push_back(lb);
  // eTP Local with a local endpoint.
  ServicePort etp = clusterIpPort("ns4", "svc4", "p80", "172.30.0.44", 80, {local1, remote2});
  etp.type = ServiceType::LoadBalancer;
  etp.nodePort = 3004;
  etp.loadBalancerIPs = {ip("1.2.3.5")};
  etp.externalTrafficPolicy = Local;
  s.push_back(etp);
  // eTP Local without a local endpoint.
  ServicePort etpNone = clusterIpPort("ns5", "svc5", "p80", "172.30.0.45", 80, {remote2});
  etpNone.type = ServiceType::NodePort;
  etpNone.nodePort = 3005;
  etpNone.externalIPs = {ip("192.168.99.12")};
  etpNone.externalTrafficPolicy = Local;
  s.push_back(etpNone);
  // iTP Local, with and without a local endpoint.
  ServicePort itp = clusterIpPort("ns6", "svc6", "p80", "172.30.0.46", 80, {local1, remote2});
  itp.internalTrafficPolicy = Local;
  s.push_back(itp);
  ServicePort itpNone = clusterIpPort("ns6", "svc7", "p80", "172.30.0.47", 80, {remote2});
  itpNone.internalTrafficPolicy = Local;
  s.push_back(itpNone);
  // ClientIP affinity.
  ServicePort sticky = clusterIpPort("ns8", "svc8", "p80", "172.30.0.48", 80, {local1, remote2});
  sticky.sessionAffinity = SessionAffinity::ClientIP;
  sticky.stickyMaxAgeSeconds = 600;
  s.push_back(sticky);
  // No endpoints at all, with a NodePort and an external IP.
  ServicePort none = clusterIpPort("ns9", "svc9", "p80", "172.30.0.49", 80, {endpoint("10.180.0.2", 80, false, false)});
  none.type = ServiceType::NodePort;
  none.nodePort = 3009;
  none.externalIPs = {ip("192.168.99.13")};
  s.push_back(none);
  // One endpoint (for hairpin), UDP.
  s.push_back(clusterIpPort("ns10", "svc10", "dns", "172.30.0.50", 53, {endpoint("10.180.0.3", 5353, true)},
                            Protocol::Udp));
  // Multi-port with named targetPorts, resolved through the slice's port names.
  k8s::Service multi;
  multi.meta.namespaceName = "ns11";
  multi.meta.name = "svc11";
  multi.clusterIPs = {ip("172.30.0.51")};
  k8s::ServicePortSpec http{.name = "http", .protocol = Protocol::Tcp, .port = 80, .targetPort = std::string("web"), .nodePort = 0};
  k8s::ServicePortSpec metrics{.name = "metrics", .protocol = Protocol::Tcp, .port = 9100, .targetPort = std::string("prom"), .nodePort = 0};
  multi.ports = {http, metrics};
  k8s::EndpointSlice slice;
  slice.meta.namespaceName = "ns11";
  slice.meta.name = "svc11-abc";
  slice.serviceName = "svc11";
  slice.addressType = "IPv4";
  slice.ports = {{.name = "web", .protocol = Protocol::Tcp, .port = uint16_t{8080}},
                 {.name = "prom", .protocol = Protocol::Tcp, .port = uint16_t{9091}}};
  k8s::SliceEndpoint se;
  se.addresses = {ip("10.180.0.2")};
  se.nodeName = "node-b";
  slice.endpoints = {se};
  for (ServicePort& p : buildServicePorts(multi, {&slice}, "node-a")) s.push_back(std::move(p));
  return s;
}

struct TraceCase {
  std::string name;
  testing::TracePacket packet;
  testing::TraceResult expected;
};

inline testing::TracePacket packet(const char* src, const char* dst, uint16_t port, const char* proto = "tcp",
                                   bool fromNode = false) {
  return {.protocol = proto, .source = ip(src), .destination = ip(dst), .port = port, .fromNode = fromNode};
}

inline testing::TraceResult reach(const char* endpoints, bool masquerade, bool affinity = false) {
  return {.verdict = "ACCEPT", .endpoints = endpoints, .masquerade = masquerade, .affinity = affinity};
}
inline testing::TraceResult verdict(const char* v) { return {.verdict = v, .endpoints = "", .masquerade = false, .affinity = false}; }

constexpr const char* kBoth = "10.180.0.1:80, 10.180.0.2:80";

inline std::vector<TraceCase> traceCases() {
  return {
      {"cluster IP from a pod", packet("10.0.0.5", "172.30.0.41", 80), reach(kBoth, false)},
      {"cluster IP from outside the cluster CIDR", packet("198.51.100.7", "172.30.0.41", 80), reach(kBoth, true)},
      {"cluster IP, wrong port", packet("10.0.0.5", "172.30.0.41", 81), reach("", false)},
      {"cluster IP, wrong protocol", packet("10.0.0.5", "172.30.0.41", 80, "udp"), reach("", false)},
      {"multi-port named targetPort http", packet("10.0.0.5", "172.30.0.51", 80), reach("10.180.0.2:8080", false)},
      {"multi-port named targetPort metrics", packet("10.0.0.5", "172.30.0.51", 9100), reach("10.180.0.2:9091", false)},
      {"NodePort from outside", packet("198.51.100.7", "192.168.0.2", 3001), reach(kBoth, true)},
      {"NodePort on an address that is not the node's", packet("198.51.100.7", "192.168.0.9", 3001), reach("", false)},
      {"external IP from outside", packet("198.51.100.7", "192.168.99.11", 80), reach(kBoth, true)},
      {"external IP from a pod", packet("10.0.0.5", "192.168.99.11", 80), reach(kBoth, true)},
      {"LB IP from an allowed source range", packet("203.0.113.5", "1.2.3.4", 80), reach(kBoth, true)},
      {"LB IP from outside the source ranges", packet("198.51.100.7", "1.2.3.4", 80), verdict("DROP")},
      {"LB source ranges do not apply to the NodePort", packet("198.51.100.7", "192.168.0.2", 3003), reach(kBoth, true)},
      {"eTP Local: NodePort from outside keeps the client address", packet("198.51.100.7", "192.168.0.2", 3004),
       reach("10.180.0.1:80", false)},
      {"eTP Local: LB IP from outside", packet("198.51.100.7", "1.2.3.5", 80), reach("10.180.0.1:80", false)},
      {"eTP Local: LB IP from a pod uses every endpoint", packet("10.0.0.5", "1.2.3.5", 80), reach(kBoth, false)},
      {"eTP Local: NodePort from the node itself is masqueraded",
       packet("192.168.0.2", "192.168.0.2", 3004, "tcp", true), reach(kBoth, true)},
      {"eTP Local: cluster IP still uses every endpoint", packet("10.0.0.5", "172.30.0.44", 80), reach(kBoth, false)},
      {"eTP Local, no local endpoint: NodePort dropped", packet("198.51.100.7", "192.168.0.2", 3005), verdict("DROP")},
      {"eTP Local, no local endpoint: external IP dropped", packet("198.51.100.7", "192.168.99.12", 80),
       verdict("DROP")},
      {"eTP Local, no local endpoint: pods still reach it", packet("10.0.0.5", "192.168.99.12", 80),
       reach("10.180.0.2:80", false)},
      {"iTP Local: cluster IP only to the local endpoint", packet("10.0.0.5", "172.30.0.46", 80),
       reach("10.180.0.1:80", false)},
      {"iTP Local, no local endpoint: dropped", packet("10.0.0.5", "172.30.0.47", 80), verdict("DROP")},
      {"ClientIP affinity", packet("10.0.0.5", "172.30.0.48", 80), reach(kBoth, false, true)},
      {"no endpoints: cluster IP rejected", packet("10.0.0.5", "172.30.0.49", 80), verdict("REJECT")},
      {"no endpoints: NodePort rejected", packet("198.51.100.7", "192.168.0.2", 3009), verdict("REJECT")},
      {"no endpoints: external IP rejected", packet("198.51.100.7", "192.168.99.13", 80), verdict("REJECT")},
      {"hairpin: an endpoint reaching itself is masqueraded", packet("10.180.0.3", "172.30.0.50", 53, "udp"),
       reach("10.180.0.3:5353", true)},
      {"UDP cluster IP from a pod", packet("10.0.0.5", "172.30.0.50", 53, "udp"), reach("10.180.0.3:5353", false)},
  };
}

}  // namespace nicproxy::fixtures
