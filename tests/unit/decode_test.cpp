// Tests: control/k8s/decode (decodeService, decodeEndpointSlice).
//   DecodeService.ClusterIpDefaults            minimal Service: namespace, type, protocol, targetPort defaults
//   DecodeService.NodePortAndLoadBalancer      type, nodePort, status ingress IPs (hostname-only skipped),
//                                              source ranges, externalIPs, affinity, traffic policies,
//                                              healthCheckNodePort
//   DecodeService.ClusterIpsWinAndDropIpv6     clusterIPs over clusterIP, IPv6 entries dropped
//   DecodeService.HeadlessAndExternalName      clusterIP None / type ExternalName -> headless
//   DecodeService.TargetPortNumberOrName       number, name, 0 and "" default to port
//   DecodeService.BadFieldsNameObjectAndPath   table: bad port, protocol, IP, targetPort, type, ...
//   DecodeService.UnnamedObject                errors name "Service (unnamed)"
//   DecodeSlice.ConditionsAndPorts             unset conditions stay unset; ports; nodeName, zone
//   DecodeSlice.Ipv6SliceDecodesWithoutAddresses
//   DecodeSlice.BadFields                      table: missing label, bad address, bad port, bad condition
//   DecodeNames.InvalidNamesRejected           namespace "a/b", 64 characters, Service name "1web", port
//                                              names, slice names and labels, as the API server checks them
//   DecodeNames.ValidNamesAccepted             the longest label, a dotted slice name, digits first in a namespace
//   DecodeAddresses.LeadingZerosAreDecimal     ParseIPSloppy: "010.096.000.010" is 10.96.0.10 everywhere
//   DecodeAddresses.SpecialFrontendsRejected   0.0.0.0, loopback, link-local, multicast, broadcast clusterIPs
// Addresses: clusterIPs 10.96.0.0/16, endpoints 10.244.0.0/16, externalIPs 192.0.2.0/24.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "control/k8s/decode.hpp"

namespace nicproxy::k8s {
namespace {

using Strings = std::vector<std::string>;

Service decodeGoodService(std::string_view text) {
  auto decoded = decodeService(boost::json::parse(text));
  if (auto* errors = std::get_if<std::vector<DecodeError>>(&decoded)) {
    for (const auto& error : *errors) ADD_FAILURE() << error.toString();
    return {};
  }
  return std::get<Service>(decoded);
}

Strings serviceErrors(std::string_view text) {
  Strings result;
  auto decoded = decodeService(boost::json::parse(text));
  if (auto* errors = std::get_if<std::vector<DecodeError>>(&decoded)) {
    for (const auto& error : *errors) result.push_back(error.toString());
  }
  return result;
}

EndpointSlice decodeGoodSlice(std::string_view text) {
  auto decoded = decodeEndpointSlice(boost::json::parse(text));
  if (auto* errors = std::get_if<std::vector<DecodeError>>(&decoded)) {
    for (const auto& error : *errors) ADD_FAILURE() << error.toString();
    return {};
  }
  return std::get<EndpointSlice>(decoded);
}

Strings sliceErrors(std::string_view text) {
  Strings result;
  auto decoded = decodeEndpointSlice(boost::json::parse(text));
  if (auto* errors = std::get_if<std::vector<DecodeError>>(&decoded)) {
    for (const auto& error : *errors) result.push_back(error.toString());
  }
  return result;
}

Ipv4 ip(const char* text) { return parseIpv4(text).value(); }

TEST(DecodeService, ClusterIpDefaults) {
  const Service service = decodeGoodService(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"name": "web", "resourceVersion": "42", "labels": {"app": "web"},
                 "annotations": {"nicproxy.io/scheduler": "maglev"}, "creationTimestamp": null},
    "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}], "selector": {"app": "web"}}
  })");
  EXPECT_EQ(service.meta.namespaceName, "default");
  EXPECT_EQ(service.meta.name, "web");
  EXPECT_EQ(service.meta.resourceVersion, "42");
  EXPECT_EQ(service.meta.labels.at("app"), "web");
  EXPECT_EQ(service.meta.annotations.at("nicproxy.io/scheduler"), "maglev");
  EXPECT_EQ(service.type, ServiceType::ClusterIP);
  EXPECT_FALSE(service.headless);
  EXPECT_EQ(service.clusterIPs, std::vector<Ipv4>{ip("10.96.0.10")});
  ASSERT_EQ(service.ports.size(), 1u);
  EXPECT_EQ(service.ports[0].name, "");
  EXPECT_EQ(service.ports[0].protocol, Protocol::Tcp);
  EXPECT_EQ(service.ports[0].port, 80);
  EXPECT_EQ(std::get<uint16_t>(service.ports[0].targetPort), 80);  // defaults to port
  EXPECT_EQ(service.ports[0].nodePort, 0);
  EXPECT_EQ(service.sessionAffinity, SessionAffinity::None);
  EXPECT_EQ(service.stickyMaxAgeSeconds, 10800u);
  EXPECT_EQ(service.externalTrafficPolicy, TrafficPolicy::Cluster);
}

TEST(DecodeService, NodePortAndLoadBalancer) {
  const Service nodePort = decodeGoodService(R"({
    "metadata": {"namespace": "shop", "name": "cart"},
    "spec": {"type": "NodePort", "clusterIP": "10.96.1.1",
             "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 30080},
                       {"name": "dns", "protocol": "UDP", "port": 53, "targetPort": 5353}],
             "externalIPs": ["192.0.2.10", "2001:db8::10"],
             "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Local",
             "sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}
  })");
  EXPECT_EQ(nodePort.meta.key(), "shop/cart");
  EXPECT_EQ(nodePort.type, ServiceType::NodePort);
  ASSERT_EQ(nodePort.ports.size(), 2u);
  EXPECT_EQ(nodePort.ports[0].nodePort, 30080);
  EXPECT_EQ(std::get<uint16_t>(nodePort.ports[0].targetPort), 8080);
  EXPECT_EQ(nodePort.ports[1].protocol, Protocol::Udp);
  EXPECT_EQ(nodePort.externalIPs, std::vector<Ipv4>{ip("192.0.2.10")});
  EXPECT_EQ(nodePort.externalTrafficPolicy, TrafficPolicy::Local);
  EXPECT_EQ(nodePort.internalTrafficPolicy, TrafficPolicy::Local);
  EXPECT_EQ(nodePort.sessionAffinity, SessionAffinity::ClientIP);
  EXPECT_EQ(nodePort.stickyMaxAgeSeconds, 60u);

  const Service lb = decodeGoodService(R"({
    "metadata": {"namespace": "shop", "name": "front"},
    "spec": {"type": "LoadBalancer", "clusterIP": "10.96.1.2", "externalTrafficPolicy": "Global",
             "ports": [{"port": 443, "nodePort": 31443}], "healthCheckNodePort": 32001,
             "loadBalancerSourceRanges": ["10.0.0.0/8", " 192.168.0.0/16 ", "fd00::/8"]},
    "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}}
  })");
  EXPECT_EQ(lb.type, ServiceType::LoadBalancer);
  EXPECT_EQ(lb.externalTrafficPolicy, TrafficPolicy::Cluster);  // "Global" is the old name of Cluster
  EXPECT_EQ(lb.loadBalancerIPs, std::vector<Ipv4>{ip("203.0.113.7")});
  EXPECT_EQ(lb.healthCheckNodePort, 32001);
  EXPECT_EQ(nodePort.healthCheckNodePort, 0);
  ASSERT_EQ(lb.loadBalancerSourceRanges.size(), 2u);
  EXPECT_EQ(formatIpv4Cidr(lb.loadBalancerSourceRanges[1]), "192.168.0.0/16");
}

TEST(DecodeService, ClusterIpsWinAndDropIpv6) {
  const Service service = decodeGoodService(R"({
    "metadata": {"name": "dual"},
    "spec": {"clusterIP": "fd00:10:96::5", "clusterIPs": ["fd00:10:96::5", "10.96.0.5"], "ports": [{"port": 80}]}
  })");
  EXPECT_FALSE(service.headless);
  EXPECT_EQ(service.clusterIPs, std::vector<Ipv4>{ip("10.96.0.5")});

  const Service ipv6Only = decodeGoodService(R"({
    "metadata": {"name": "v6"}, "spec": {"clusterIP": "fd00:10:96::6", "ports": [{"port": 80}]}
  })");
  EXPECT_TRUE(ipv6Only.clusterIPs.empty());
}

TEST(DecodeService, HeadlessAndExternalName) {
  EXPECT_TRUE(decodeGoodService(R"({"metadata": {"name": "db"},
                                    "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}})")
                  .headless);
  EXPECT_TRUE(decodeGoodService(R"({"metadata": {"name": "db"}, "spec": {"clusterIPs": ["None"]}})").headless);
  EXPECT_TRUE(decodeGoodService(R"({"metadata": {"name": "ext"},
                                    "spec": {"type": "ExternalName", "externalName": "example.com"}})")
                  .headless);
}

TEST(DecodeService, TargetPortNumberOrName) {
  const Service service = decodeGoodService(R"({
    "metadata": {"name": "multi"},
    "spec": {"clusterIP": "10.96.0.7", "ports": [
      {"name": "a", "port": 80, "targetPort": 8080},
      {"name": "b", "port": 81, "targetPort": "http-alt"},
      {"name": "c", "port": 82, "targetPort": 0},
      {"name": "d", "port": 83, "targetPort": ""}]}
  })");
  ASSERT_EQ(service.ports.size(), 4u);
  EXPECT_EQ(std::get<uint16_t>(service.ports[0].targetPort), 8080);
  EXPECT_EQ(std::get<std::string>(service.ports[1].targetPort), "http-alt");
  EXPECT_EQ(std::get<uint16_t>(service.ports[2].targetPort), 82);
  EXPECT_EQ(std::get<uint16_t>(service.ports[3].targetPort), 83);
}

TEST(DecodeService, BadFieldsNameObjectAndPath) {
  const struct {
    const char* description;
    const char* spec;  // the "spec" object of Service default/web
    Strings errors;
  } cases[] = {
      {"port too large", R"({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 70000}]})",
       {"Service default/web: spec.ports[1].port: 70000 is not a valid port"}},
      {"port zero", R"({"ports": [{"port": 0}]})", {"Service default/web: spec.ports[0].port: 0 is not a valid port"}},
      {"port missing", R"({"ports": [{"name": "a"}]})", {"Service default/web: spec.ports[0].port: required"}},
      {"port a string", R"({"ports": [{"port": "80"}]})",
       {R"(Service default/web: spec.ports[0].port: expected a port number, got "80")"}},
      {"bad protocol", R"({"ports": [{"port": 80, "protocol": "ICMP"}]})",
       {R"(Service default/web: spec.ports[0].protocol: "ICMP" is not one of TCP, UDP, SCTP)"}},
      {"bad targetPort number", R"({"ports": [{"port": 80, "targetPort": 65536}]})",
       {"Service default/web: spec.ports[0].targetPort: 65536 is not a valid port"}},
      {"bad targetPort name", R"({"ports": [{"port": 80, "targetPort": "Http_Port"}]})",
       {R"(Service default/web: spec.ports[0].targetPort: Invalid value: "Http_Port": must contain only alpha-numeric )"
        "characters (a-z, 0-9), and hyphens (-)"}},
      {"numeric string targetPort", R"({"ports": [{"port": 80, "targetPort": "8080"}]})",
       {R"(Service default/web: spec.ports[0].targetPort: Invalid value: "8080": must contain at least one letter (a-z))"}},
      {"bad nodePort", R"({"type": "NodePort", "ports": [{"port": 80, "nodePort": -1}]})",
       {"Service default/web: spec.ports[0].nodePort: -1 is not a valid port"}},
      {"bad healthCheckNodePort", R"({"type": "LoadBalancer", "ports": [{"port": 80}], "healthCheckNodePort": 70000})",
       {"Service default/web: spec.healthCheckNodePort: 70000 is not a valid port"}},
      {"healthCheckNodePort a string", R"({"ports": [{"port": 80}], "healthCheckNodePort": "32000"})",
       {R"(Service default/web: spec.healthCheckNodePort: expected a port number, got "32000")"}},
      {"duplicate port name", R"({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]})",
       {R"(Service default/web: spec.ports[1].name: duplicate "a")"}},
      {"unnamed second port", R"({"ports": [{"port": 80}, {"port": 81}]})",
       {"Service default/web: spec.ports[1].name: required when a service has more than one port"}},
      {"bad cluster IP", R"({"clusterIP": "10.96.0.300", "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.clusterIP: "10.96.0.300" is not a valid IP address)"}},
      {"bad clusterIPs entry", R"({"clusterIPs": ["10.96.0.1", "ten"], "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.clusterIPs[1]: "ten" is not a valid IP address)"}},
      {"bad external IP", R"({"externalIPs": ["192.0.2"], "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.externalIPs[0]: "192.0.2" is not a valid IP address)"}},
      {"bad type", R"({"type": "Ingress", "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.type: "Ingress" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName)"}},
      {"bad source range", R"({"loadBalancerSourceRanges": ["10.0.0.0/33"], "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.loadBalancerSourceRanges[0]: "10.0.0.0/33" is not a valid CIDR)"}},
      {"bad affinity", R"({"sessionAffinity": "Cookie", "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.sessionAffinity: "Cookie" is not one of None, ClientIP)"}},
      {"affinity timeout too long",
       R"({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 86401}},
           "ports": [{"port": 80}]})",
       {"Service default/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: 86401 is out of range 1..86400"}},
      {"bad traffic policy", R"({"externalTrafficPolicy": "Nearest", "ports": [{"port": 80}]})",
       {R"(Service default/web: spec.externalTrafficPolicy: "Nearest" is not one of Cluster, Local)"}},
      {"ports not an array", R"({"ports": {"port": 80}})",
       {"Service default/web: spec.ports: expected an array, got an object"}},
      {"two mistakes", R"({"type": 3, "ports": [{"port": 80, "protocol": "tcp"}]})",
       {"Service default/web: spec.type: expected a string, got 3",
        R"(Service default/web: spec.ports[0].protocol: "tcp" is not one of TCP, UDP, SCTP)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    const std::string text = std::string(R"({"metadata": {"namespace": "default", "name": "web"}, "spec": )") +
                             c.spec + "}";
    EXPECT_EQ(serviceErrors(text), c.errors);
  }
}

TEST(DecodeService, UnnamedObject) {
  EXPECT_EQ(serviceErrors(R"({"metadata": {"namespace": "shop"}, "spec": {"ports": [{"port": 80}]}})"),
            Strings{"Service (unnamed): metadata.name: required"});
  EXPECT_EQ(serviceErrors(R"({"spec": {}})"), Strings{"Service (unnamed): metadata.name: required"});
  EXPECT_EQ(serviceErrors(R"({"metadata": {"name": "web"}})"), Strings{"Service default/web: spec: required"});
  EXPECT_EQ(serviceErrors("[]"), Strings{"Service (unnamed): expected an object, got an array"});
}

TEST(DecodeSlice, ConditionsAndPorts) {
  const EndpointSlice slice = decodeGoodSlice(R"({
    "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
    "metadata": {"namespace": "shop", "name": "cart-abc12",
                 "labels": {"kubernetes.io/service-name": "cart", "endpointslice.kubernetes.io/managed-by": "x"}},
    "addressType": "IPv4",
    "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "dns", "protocol": "UDP", "port": 5353},
              {"name": "any"}],
    "endpoints": [
      {"addresses": ["10.244.1.5"], "conditions": {}, "nodeName": "edge-1", "zone": "z1",
       "targetRef": {"kind": "Pod", "name": "cart-1"}},
      {"addresses": ["10.244.2.6"], "conditions": {"ready": false, "serving": true, "terminating": true}},
      {"addresses": ["10.244.3.7"]}
    ]
  })");
  EXPECT_EQ(slice.meta.key(), "shop/cart-abc12");
  EXPECT_EQ(slice.serviceName, "cart");
  EXPECT_EQ(slice.addressType, "IPv4");
  ASSERT_EQ(slice.ports.size(), 3u);
  EXPECT_EQ(slice.ports[0].port, std::optional<uint16_t>(8080));
  EXPECT_EQ(slice.ports[1].protocol, Protocol::Udp);
  EXPECT_FALSE(slice.ports[2].port.has_value());
  ASSERT_EQ(slice.endpoints.size(), 3u);
  EXPECT_EQ(slice.endpoints[0].addresses, std::vector<Ipv4>{ip("10.244.1.5")});
  EXPECT_FALSE(slice.endpoints[0].conditions.ready.has_value());  // unset, not false: it counts as ready
  EXPECT_EQ(slice.endpoints[0].nodeName, "edge-1");
  EXPECT_EQ(slice.endpoints[0].zone, "z1");
  EXPECT_EQ(slice.endpoints[1].conditions.ready, std::optional<bool>(false));
  EXPECT_EQ(slice.endpoints[1].conditions.serving, std::optional<bool>(true));
  EXPECT_EQ(slice.endpoints[1].conditions.terminating, std::optional<bool>(true));
  EXPECT_FALSE(slice.endpoints[2].conditions.serving.has_value());
}

TEST(DecodeSlice, Ipv6SliceDecodesWithoutAddresses) {
  const EndpointSlice slice = decodeGoodSlice(R"({
    "metadata": {"name": "web-v6", "labels": {"kubernetes.io/service-name": "web"}},
    "addressType": "IPv6", "ports": [{"port": 80}], "endpoints": [{"addresses": ["fd00::5"]}]
  })");
  EXPECT_EQ(slice.addressType, "IPv6");
  ASSERT_EQ(slice.endpoints.size(), 1u);
  EXPECT_TRUE(slice.endpoints[0].addresses.empty());
}

TEST(DecodeSlice, BadFields) {
  const struct {
    const char* description;
    const char* json;
    Strings errors;
  } cases[] = {
      {"missing service-name label",
       R"({"metadata": {"namespace": "shop", "name": "orphan"}, "addressType": "IPv4", "endpoints": []})",
       {"EndpointSlice shop/orphan: metadata.labels: missing kubernetes.io/service-name (the slice's service)"}},
      {"bad IPv4 address",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.256"]}]})",
       {R"(EndpointSlice default/s: endpoints[1].addresses[0]: "10.0.0.256" is not a valid IPv4 address)"}},
      {"IPv6 address in an IPv4 slice",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["fd00::1"]}]})",
       {R"(EndpointSlice default/s: endpoints[0].addresses[0]: "fd00::1" is not a valid IPv4 address)"}},
      {"bad port",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
           "ports": [{"port": 99999}]})",
       {"EndpointSlice default/s: ports[0].port: 99999 is not a valid port"}},
      {"condition not a bool",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": "yes"}}]})",
       {R"(EndpointSlice default/s: endpoints[0].conditions.ready: expected true or false, got "yes")"}},
      {"missing addresses",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
           "endpoints": [{"nodeName": "n"}]})",
       {"EndpointSlice default/s: endpoints[0].addresses: required"}},
      {"bad addressType",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv5"})",
       {R"(EndpointSlice default/s: addressType: "IPv5" is not one of IPv4, IPv6, FQDN)"}},
      {"missing addressType", R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}})",
       {"EndpointSlice default/s: addressType: required"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    EXPECT_EQ(sliceErrors(c.json), c.errors);
  }
}

// Each error cut after its `Invalid value: "x"` (the Kubernetes wording that follows is long).
Strings shortErrors(const Strings& errors) {
  Strings result;
  for (const auto& e : errors) result.push_back(e.substr(0, e.find(": ", e.find("Invalid value: ") + 15)));
  return result;
}

TEST(DecodeNames, InvalidNamesRejected) {
  const std::string long64(64, 'a');
  const struct {
    const char* description;
    std::string json;
    Strings errors;  // shortened by shortErrors
  } cases[] = {
      {"slash in a namespace",
       R"({"metadata": {"namespace": "a/b", "name": "web"}, "spec": {"ports": [{"port": 80}]}})",
       {R"(Service a/b/web: metadata.namespace: Invalid value: "a/b")"}},
      {"namespace of 64 characters",
       R"({"metadata": {"namespace": ")" + long64 + R"(", "name": "web"}, "spec": {"ports": [{"port": 80}]}})",
       {"Service " + long64 + "/web: metadata.namespace: Invalid value: \"" + long64 + "\""}},
      {"upper case namespace",
       R"({"metadata": {"namespace": "Shop", "name": "web"}, "spec": {"ports": [{"port": 80}]}})",
       {R"(Service Shop/web: metadata.namespace: Invalid value: "Shop")"}},
      {"Service name starting with a digit (DNS-1035)",
       R"({"metadata": {"name": "1web"}, "spec": {"ports": [{"port": 80}]}})",
       {R"(Service default/1web: metadata.name: Invalid value: "1web")"}},
      {"Service name with a dot",
       R"({"metadata": {"name": "web.v2"}, "spec": {"ports": [{"port": 80}]}})",
       {R"(Service default/web.v2: metadata.name: Invalid value: "web.v2")"}},
      {"Service name ending in a hyphen",
       R"({"metadata": {"name": "web-"}, "spec": {"ports": [{"port": 80}]}})",
       {R"(Service default/web-: metadata.name: Invalid value: "web-")"}},
      {"port name with an underscore",
       R"({"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http_alt", "port": 80}]}})",
       {R"(Service default/web: spec.ports[0].name: Invalid value: "http_alt")"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    EXPECT_EQ(shortErrors(serviceErrors(c.json)), c.errors);
  }

  const struct {
    const char* description;
    const char* json;
    Strings errors;
  } sliceCases[] = {
      {"slice name with a slash",
       R"({"metadata": {"name": "web/1", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4"})",
       {R"(EndpointSlice default/web/1: metadata.name: Invalid value: "web/1")"}},
      {"slice name with an empty label",
       R"({"metadata": {"name": "web..1", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4"})",
       {R"(EndpointSlice default/web..1: metadata.name: Invalid value: "web..1")"}},
      {"slice namespace with a slash",
       R"({"metadata": {"namespace": "x/y", "name": "s", "labels": {"kubernetes.io/service-name": "web"}},
           "addressType": "IPv4"})",
       {R"(EndpointSlice x/y/s: metadata.namespace: Invalid value: "x/y")"}},
      {"service-name label that no Service can have",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "a/b"}}, "addressType": "IPv4"})",
       {R"(EndpointSlice default/s: metadata.labels[kubernetes.io/service-name]: Invalid value: "a/b")"}},
      {"slice port name in capitals",
       R"({"metadata": {"name": "s", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
           "ports": [{"name": "HTTP", "port": 8080}]})",
       {R"(EndpointSlice default/s: ports[0].name: Invalid value: "HTTP")"}},
  };
  for (const auto& c : sliceCases) {
    SCOPED_TRACE(c.description);
    EXPECT_EQ(shortErrors(sliceErrors(c.json)), c.errors);
  }
}

TEST(DecodeNames, ValidNamesAccepted) {
  const std::string long63(63, 'a');
  const Service service = decodeGoodService(R"({"metadata": {"namespace": "1-team", "name": ")" + long63 +
                                            R"("}, "spec": {"ports": [{"name": "http-metrics-endpoint", "port": 80,
                                             "targetPort": "metrics-9"}]}})");
  EXPECT_EQ(service.meta.namespaceName, "1-team");
  EXPECT_EQ(service.ports.at(0).name, "http-metrics-endpoint");  // a 1123 label, longer than an IANA name may be
  const EndpointSlice slice = decodeGoodSlice(R"({"metadata": {"name": "web.v2-abc12", "namespace": "0",
      "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4", "ports": [{"name": "8080-tcp"}]})");
  EXPECT_EQ(slice.meta.name, "web.v2-abc12");
}

TEST(DecodeAddresses, LeadingZerosAreDecimal) {
  const Service service = decodeGoodService(R"({"metadata": {"name": "web"},
      "spec": {"clusterIP": "010.096.000.010", "externalIPs": ["192.000.002.007"],
               "loadBalancerSourceRanges": ["010.0.0.0/008"], "ports": [{"port": 80}]},
      "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.0100"}]}}})");
  EXPECT_EQ(service.clusterIPs, std::vector<Ipv4>{ip("10.96.0.10")});
  EXPECT_EQ(service.externalIPs, std::vector<Ipv4>{ip("192.0.2.7")});
  EXPECT_EQ(service.loadBalancerIPs, std::vector<Ipv4>{ip("192.0.2.100")});
  ASSERT_EQ(service.loadBalancerSourceRanges.size(), 1u);
  EXPECT_EQ(formatIpv4Cidr(service.loadBalancerSourceRanges[0]), "10.0.0.0/8");
  const EndpointSlice slice = decodeGoodSlice(R"({"metadata": {"name": "s",
      "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4",
      "endpoints": [{"addresses": ["010.244.000.001"]}]})");
  ASSERT_EQ(slice.endpoints.size(), 1u);
  EXPECT_EQ(slice.endpoints[0].addresses, std::vector<Ipv4>{ip("10.244.0.1")});
}

TEST(DecodeAddresses, SpecialFrontendsRejected) {
  const struct {
    const char* address;
    const char* why;
  } cases[] = {
      {"0.0.0.0", "may not be unspecified (0.0.0.0)"},
      {"127.0.0.53", "may not be in the loopback range (127.0.0.0/8)"},
      {"169.254.1.1", "may not be in the link-local range (169.254.0.0/16)"},
      {"224.0.0.251", "may not be a multicast address (224.0.0.0/4)"},
      {"239.1.2.3", "may not be a multicast address (224.0.0.0/4)"},
      {"255.255.255.255", "may not be the broadcast address (255.255.255.255)"},
      {"0127.0.0.1", "may not be in the loopback range (127.0.0.0/8)"},  // decimal, so still loopback
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.address);
    const std::string spec = std::string(R"({"clusterIP": ")") + c.address + R"(", "ports": [{"port": 80}]})";
    EXPECT_EQ(serviceErrors(R"({"metadata": {"name": "web"}, "spec": )" + spec + "}"),
              Strings{std::string("Service default/web: spec.clusterIP: Invalid value: \"") + c.address + "\": " +
                      c.why});
    const std::string external = std::string(R"({"externalIPs": ["192.0.2.1", ")") + c.address +
                                 R"("], "ports": [{"port": 80}]})";
    EXPECT_EQ(serviceErrors(R"({"metadata": {"name": "web"}, "spec": )" + external + "}"),
              Strings{std::string("Service default/web: spec.externalIPs[1]: Invalid value: \"") + c.address +
                      "\": " + c.why});
  }
  // Next to the special ranges, ordinary addresses.
  for (const char* address : {"1.0.0.0", "126.255.255.255", "128.0.0.1", "169.253.255.255", "223.255.255.255",
                              "240.0.0.1"}) {
    SCOPED_TRACE(address);
    decodeGoodService(std::string(R"({"metadata": {"name": "web"}, "spec": {"clusterIP": ")") + address +
                      R"(", "ports": [{"port": 80}]}})");
  }
}

}  // namespace
}  // namespace nicproxy::k8s
