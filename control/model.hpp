#pragma once
// The forwarding model every dataplane programs: one ServicePort per
// (namespace, service, port name), with its frontends (cluster IPs, node port,
// external and load-balancer IPs) and its endpoints after targetPort resolution.
// A ServiceTable is an immutable snapshot while anyone but its maker holds it; the
// change tracker makes a new one per sync and shares unchanged ServicePorts between
// snapshots (and takes the map of one nobody else holds over, see releasePorts()).
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/net.hpp"

namespace nicproxy {

enum class Protocol : uint8_t { Tcp, Udp, Sctp };
const char* protocolName(Protocol protocol);  // "TCP", "UDP", "SCTP"

enum class ServiceType : uint8_t { ClusterIP, NodePort, LoadBalancer };
enum class SessionAffinity : uint8_t { None, ClientIP };
enum class TrafficPolicy : uint8_t { Cluster, Local };

/// Identifies one port of one service. toString() is kube-proxy's "namespace/name:portName"
/// ("namespace/name" when the port is unnamed); the protocol is part of the identity, not the text.
struct ServicePortName {
  std::string namespaceName;
  std::string serviceName;
  std::string portName;  // may be empty for a single-port service
  Protocol protocol = Protocol::Tcp;

  auto operator<=>(const ServicePortName&) const = default;
  bool operator==(const ServicePortName&) const = default;
  std::string toString() const;
};

/// One backend address of a service port, with kube-proxy's endpoint conditions.
struct Endpoint {
  Ipv4 address = 0;
  uint16_t port = 0;      // the resolved target port
  bool ready = true;      // unset `ready` counts as ready
  bool serving = true;    // unset `serving` follows `ready`
  bool terminating = false;
  std::string nodeName;   // may be empty
  std::string zone;       // may be empty
  bool isLocal = false;   // nodeName == this node's name

  bool operator==(const Endpoint&) const = default;
};

struct ServicePort {
  ServicePortName name;
  ServiceType type = ServiceType::ClusterIP;
  std::vector<Ipv4> clusterIPs;        // IPv4 only; IPv6 families are skipped
  uint16_t port = 0;
  uint16_t nodePort = 0;               // 0: none
  std::vector<Ipv4> externalIPs;
  std::vector<Ipv4> loadBalancerIPs;   // status.loadBalancer.ingress[].ip
  std::vector<Ipv4Cidr> loadBalancerSourceRanges;
  SessionAffinity sessionAffinity = SessionAffinity::None;
  uint32_t stickyMaxAgeSeconds = 10800;
  TrafficPolicy externalTrafficPolicy = TrafficPolicy::Cluster;
  TrafficPolicy internalTrafficPolicy = TrafficPolicy::Cluster;
  /// The port a cloud load balancer probes on every node (spec.healthCheckNodePort); set
  /// only for a LoadBalancer with eTP Local (kube-proxy's NeedsHealthCheck), else 0.
  uint16_t healthCheckNodePort = 0;
  std::string scheduler;               // annotation nicproxy.io/scheduler; empty: config default
  std::vector<Endpoint> endpoints;     // every endpoint known for this port, any condition

  bool operator==(const ServicePort&) const = default;
};

using ServicePortPtr = std::shared_ptr<const ServicePort>;

/// A snapshot of every service port, immutable once shared. Cheap to copy (shared ports).
class ServiceTable {
 public:
  using Map = std::map<ServicePortName, ServicePortPtr>;

  ServiceTable() = default;
  ServiceTable(Map ports, uint64_t generation) : ports_(std::move(ports)), generation_(generation) {}

  const Map& ports() const { return ports_; }
  /// Moves the ports out, leaving this table empty (for its sole owner, see ChangeTracker).
  Map releasePorts() { return std::move(ports_); }
  const ServicePort* find(const ServicePortName& name) const;
  uint64_t generation() const { return generation_; }
  size_t size() const { return ports_.size(); }
  size_t endpointCount() const;

 private:
  Map ports_;
  uint64_t generation_ = 0;
};

/// What changed between two snapshots: ports added, updated or removed.
using ChangedPorts = std::set<ServicePortName>;

}  // namespace nicproxy
