#pragma once
// Kubernetes objects as nicproxy needs them, decoded from v1 Service and
// discovery.k8s.io/v1 EndpointSlice JSON. Only the fields the proxy uses are kept.
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "control/model.hpp"

namespace nicproxy::k8s {

/// Identifies one object of a kind. Kept as two fields, never joined and split again:
/// a joined "namespace/name" is ambiguous as soon as a name holds a '/'.
struct ObjectKey {
  std::string namespaceName;
  std::string name;
  auto operator<=>(const ObjectKey&) const = default;
  bool operator==(const ObjectKey&) const = default;
  std::string toString() const { return namespaceName + "/" + name; }
};

struct ObjectMeta {
  std::string namespaceName;
  std::string name;
  std::string resourceVersion;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string key() const { return namespaceName + "/" + name; }  // for messages
  ObjectKey objectKey() const { return ObjectKey{namespaceName, name}; }
};

struct ServicePortSpec {
  std::string name;
  Protocol protocol = Protocol::Tcp;
  uint16_t port = 0;
  std::variant<uint16_t, std::string> targetPort;  // number, or a name resolved through slices
  uint16_t nodePort = 0;
};

struct Service {
  ObjectMeta meta;
  ServiceType type = ServiceType::ClusterIP;
  bool headless = false;                 // clusterIP "None"
  std::vector<Ipv4> clusterIPs;          // IPv4 ones; IPv6 entries are dropped by the decoder
  std::vector<ServicePortSpec> ports;
  std::vector<Ipv4> externalIPs;
  std::vector<Ipv4> loadBalancerIPs;
  std::vector<Ipv4Cidr> loadBalancerSourceRanges;
  SessionAffinity sessionAffinity = SessionAffinity::None;
  uint32_t stickyMaxAgeSeconds = 10800;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::Cluster;
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::Cluster;
  uint16_t healthCheckNodePort = 0;      // spec.healthCheckNodePort; 0: none
};

struct EndpointPort {
  std::string name;                      // empty when unnamed
  Protocol protocol = Protocol::Tcp;
  std::optional<uint16_t> port;          // unset: the slice does not say (all ports)
};

struct EndpointConditions {
  std::optional<bool> ready, serving, terminating;
};

struct SliceEndpoint {
  std::vector<Ipv4> addresses;
  EndpointConditions conditions;
  std::string nodeName;
  std::string zone;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string serviceName;               // label kubernetes.io/service-name
  std::string addressType;               // "IPv4", "IPv6", "FQDN"
  std::vector<EndpointPort> ports;
  std::vector<SliceEndpoint> endpoints;
};

}  // namespace nicproxy::k8s
