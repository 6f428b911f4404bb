#pragma once
// Kubernetes objects as nicproxy needs them, decoded from v1 Service and
// discovery.k8s.io/v1 EndpointSlice JSON. Only the fields the proxy uses are kept.
#include <chrono>
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
  bool operator==(const ObjectMeta&) const = default;
};

struct ServicePortSpec {
  std::string name;
  Protocol protocol = Protocol::Tcp;
  uint16_t port = 0;
  std::variant<uint16_t, std::string> targetPort;  // number, or a name resolved through slices
  uint16_t nodePort = 0;
  bool operator==(const ServicePortSpec&) const = default;
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
  // The change tracker counts a Service re-sent unchanged as no change (kube-proxy's metrics).
  bool operator==(const Service&) const = default;
};

struct EndpointPort {
  std::string name;                      // empty when unnamed
  Protocol protocol = Protocol::Tcp;
  std::optional<uint16_t> port;          // unset: the slice does not say (all ports)
  bool operator==(const EndpointPort&) const = default;
};

struct EndpointConditions {
  std::optional<bool> ready, serving, terminating;
  bool operator==(const EndpointConditions&) const = default;
};

struct SliceEndpoint {
  std::vector<Ipv4> addresses;
  EndpointConditions conditions;
  std::string nodeName;
  std::string zone;
  bool operator==(const SliceEndpoint&) const = default;
};

struct EndpointSlice {
  ObjectMeta meta;
  std::string serviceName;               // label kubernetes.io/service-name
  std::string addressType;               // "IPv4", "IPv6", "FQDN"
  std::vector<EndpointPort> ports;
  std::vector<SliceEndpoint> endpoints;
  /// metadata.annotations[endpoints.kubernetes.io/last-change-trigger-time] (k8s/trigger_time.hpp);
  /// unset when absent or not a time.
  std::optional<std::chrono::system_clock::time_point> lastChangeTriggerTime;
  bool operator==(const EndpointSlice&) const = default;
};

}  // namespace nicproxy::k8s
