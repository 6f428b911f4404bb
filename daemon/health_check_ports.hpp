#pragma once
// The health-check node ports of LoadBalancer Services with externalTrafficPolicy Local,
// served as kube-proxy serves them (pkg/proxy/healthcheck/service_health.go). A cloud load
// balancer probes spec.healthCheckNodePort on every node and sends the Service's traffic
// only to the nodes that answer 200: those with a ready endpoint of the Service, so that
// eTP Local keeps the client's address without sending traffic to a node that would drop it.
//
// A companion Provider (control/observability.hpp), synced after the dataplane from the same
// snapshots. Each sync opens one HTTP server (cpp-httplib) per such Service on each of the
// node's addresses (those inside nodePortAddresses; all of them, 0.0.0.0, when that is empty
// or matches everything), closes those whose Service went or whose port changed, and sets
// the local endpoint counts the servers answer with. Any method and path get kube-proxy's
// JSON body (service namespace and name, localEndpoints, serviceProxyHealthy) and headers
// (X-Content-Type-Options: nosniff, X-Load-Balancing-Endpoint-Weight: the count): 200 when
// the count is not 0 and the proxy is healthy, else 503.
//
// A port that cannot be opened (in use) never fails the sync: it is logged with the address
// and the reason and tried again every retryInterval until it opens or its Service goes
// (daemon/http_listener.hpp, which also keeps a second owner from sharing the port).
//
// Threads: sync() runs on the control thread; each server has one thread, which accepts
// and answers one connection at a time. Handlers read only an atomic count and the
// proxyHealthy callback, which must be thread-safe. The destructor stops and joins every
// server.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/k8s/objects.hpp"
#include "control/model.hpp"
#include "control/net.hpp"
#include "control/provider.hpp"

namespace nicproxy {

class HttpListener;

/// What one Service's health-check node port answers with.
struct ServiceHealthCheck {
  uint16_t port = 0;        // spec.healthCheckNodePort
  int localEndpoints = 0;   // distinct addresses of ready endpoints on this node, over all its ports
  bool operator==(const ServiceHealthCheck&) const = default;
};

/// kube-proxy's HealthCheckNodePorts() and LocalReadyEndpoints() for a snapshot: every
/// Service with a health-check node port (ServicePort::healthCheckNodePort is set only for
/// LoadBalancer with eTP Local) and its local ready endpoints, counted by address (one pod
/// behind ports 80 and 443 is one endpoint). Terminating endpoints are not ready: a node
/// with only those fails the check, so that the load balancer drains it.
std::map<k8s::ObjectKey, ServiceHealthCheck> serviceHealthChecks(const ServiceTable& table);

/// kube-proxy's response body for one Service (tabs and no final newline, as it writes it).
std::string healthCheckBody(const k8s::ObjectKey& service, int localEndpoints, bool proxyHealthy);

class HealthCheckPorts : public Provider {
 public:
  using AddressLister = std::function<std::vector<Ipv4>()>;
  using HealthyCheck = std::function<bool()>;

  struct Options {
    std::vector<Ipv4Cidr> nodePortAddresses;   // empty: every address
    AddressLister localAddresses;              // the node's addresses (drivers/local_addresses.hpp)
    HealthyCheck proxyHealthy;                 // serviceProxyHealthy; empty: always healthy
    std::chrono::milliseconds retryInterval{5000};
  };

  explicit HealthCheckPorts(Options options);
  ~HealthCheckPorts() override;
  HealthCheckPorts(const HealthCheckPorts&) = delete;
  HealthCheckPorts& operator=(const HealthCheckPorts&) = delete;

  std::string name() const override { return "health-check-node-ports"; }
  /// Never throws for a port it cannot open (see above).
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;

  /// The Services whose port is being served (or retried), with their port.
  std::map<k8s::ObjectKey, uint16_t> ports() const;

 private:
  struct Instance;

  std::vector<std::string> listenHosts();
  std::unique_ptr<Instance> open(const k8s::ObjectKey& service, uint16_t port);
  void retire(std::unique_ptr<Instance> instance);
  void reapRetired();
  void warnAboutMissingPorts(const ServiceTable& table);

  Options options_;
  std::map<k8s::ObjectKey, std::unique_ptr<Instance>> instances_;
  std::vector<std::unique_ptr<HttpListener>> retired_;  // stopping; joined once their thread is done
  std::set<k8s::ObjectKey> warnedWithoutPort_;
};

}  // namespace nicproxy
