#include "daemon/health_check_ports.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <httplib.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "daemon/http_listener.hpp"
#include "drivers/local_addresses.hpp"

namespace nicproxy {

std::map<k8s::ObjectKey, ServiceHealthCheck> serviceHealthChecks(const ServiceTable& table) {
  std::map<k8s::ObjectKey, ServiceHealthCheck> result;
  std::map<k8s::ObjectKey, std::set<Ipv4>> localReady;
  for (const auto& [name, port] : table.ports()) {
    if (port->healthCheckNodePort == 0) continue;
    const k8s::ObjectKey key{name.namespaceName, name.serviceName};
    result[key].port = port->healthCheckNodePort;  // one per Service: every port carries the same
    auto& addresses = localReady[key];
    for (const Endpoint& endpoint : port->endpoints) {
      if (endpoint.isLocal && endpoint.ready) addresses.insert(endpoint.address);
    }
  }
  for (auto& [key, check] : result) check.localEndpoints = static_cast<int>(localReady[key].size());
  return result;
}

std::string healthCheckBody(const k8s::ObjectKey& service, int localEndpoints, bool proxyHealthy) {
  const auto quote = [](const std::string& text) { return boost::json::serialize(boost::json::string(text)); };
  return fmt::format("{{\n\t\"service\": {{\n\t\t\"namespace\": {},\n\t\t\"name\": {}\n\t}},\n"
                     "\t\"localEndpoints\": {},\n\t\"serviceProxyHealthy\": {}\n}}",
                     quote(service.namespaceName), quote(service.name), localEndpoints, proxyHealthy);
}

namespace {

// A task queue that runs each connection's task at once, on the thread that accepted it.
class InlineTaskQueue : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> task) override { task(); }
  void shutdown() override {}
};

// One address:port of one Service: every method and path get `handler`.
std::unique_ptr<httplib::Server> healthCheckServer(const httplib::Server::Handler& handler) {
  auto server = std::make_unique<httplib::Server>();
  // Connections are served on the accepting thread, one at a time, not by httplib's pool
  // of eight workers: probes are rare and tiny, and there may be many Services.
  server->new_task_queue = [] { return new InlineTaskQueue; };
  // Bound how long a retired server's thread lives on for a connection a client keeps open.
  server->set_keep_alive_timeout(1);
  server->set_read_timeout(std::chrono::seconds(2));
  for (auto route : {&httplib::Server::Get, &httplib::Server::Post, &httplib::Server::Put,
                     &httplib::Server::Patch, &httplib::Server::Delete, &httplib::Server::Options}) {
    (*server.*route)(".*", handler);  // kube-proxy answers every method and path alike
  }
  return server;
}

}  // namespace

struct HealthCheckPorts::Instance {
  uint16_t port = 0;
  // Shared with the handlers, which may still answer a last request while a retired
  // listener winds down after its Instance is gone.
  std::shared_ptr<std::atomic<int>> localEndpoints = std::make_shared<std::atomic<int>>(0);
  std::vector<std::unique_ptr<HttpListener>> listeners;
};

HealthCheckPorts::HealthCheckPorts(Options options) : options_(std::move(options)) {
  if (!options_.localAddresses) options_.localAddresses = listLocalAddresses;
}

HealthCheckPorts::~HealthCheckPorts() {
  // Close every socket first, then join: stopping them one by one would wait for each.
  for (auto& [key, instance] : instances_) {
    for (auto& listener : instance->listeners) listener->requestStop();
  }
  for (auto& listener : retired_) listener->requestStop();
}

std::vector<std::string> HealthCheckPorts::listenHosts() {
  const auto& cidrs = options_.nodePortAddresses;
  const bool all = cidrs.empty() || std::any_of(cidrs.begin(), cidrs.end(), [](const Ipv4Cidr& c) {
                     return c.prefixLength == 0;
                   });
  if (all) return {"0.0.0.0"};
  std::vector<std::string> hosts;
  for (Ipv4 ip : addressesIn(cidrs, options_.localAddresses())) hosts.push_back(formatIpv4(ip));
  if (hosts.empty()) {
    // kube-proxy does the same when no address of the node matches nodePortAddresses.
    spdlog::warn("health check node ports: no address of this node is inside nodePortAddresses; listening on all");
    hosts.push_back("0.0.0.0");
  }
  return hosts;
}

std::unique_ptr<HealthCheckPorts::Instance> HealthCheckPorts::open(const k8s::ObjectKey& service, uint16_t port) {
  auto instance = std::make_unique<Instance>();
  instance->port = port;
  const std::string name = service.toString();
  httplib::Server::Handler handler = [service, count = instance->localEndpoints,
                                      healthy = options_.proxyHealthy](const httplib::Request&,
                                                                       httplib::Response& response) {
    const int endpoints = count->load(std::memory_order_relaxed);
    const bool proxyHealthy = !healthy || healthy();
    response.status = endpoints != 0 && proxyHealthy ? 200 : 503;
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_header("X-Load-Balancing-Endpoint-Weight", std::to_string(endpoints));
    response.set_content(healthCheckBody(service, endpoints, proxyHealthy), "application/json");
  };
  for (const std::string& host : listenHosts()) {
    spdlog::info("health check of Service {}: opening {}:{}", name, host, port);
    instance->listeners.push_back(std::make_unique<HttpListener>("health check of Service " + name, BindAddress{host, port},
                                                                 healthCheckServer(handler), options_.retryInterval));
  }
  return instance;
}

void HealthCheckPorts::retire(std::unique_ptr<Instance> instance) {
  for (auto& listener : instance->listeners) {
    // Closes the socket now; the thread ends in a later sync's reapRetired(), once a
    // connection a client keeps open is done, so that this sync does not wait for it.
    listener->requestStop();
    retired_.push_back(std::move(listener));
  }
}

void HealthCheckPorts::reapRetired() {
  std::erase_if(retired_, [](const std::unique_ptr<HttpListener>& listener) { return listener->finished(); });
}

void HealthCheckPorts::sync(const ServiceTable& table, const ChangedPorts&, bool) {
  reapRetired();
  const auto wanted = serviceHealthChecks(table);
  for (auto it = instances_.begin(); it != instances_.end();) {
    const auto found = wanted.find(it->first);
    if (found != wanted.end() && found->second.port == it->second->port) {
      ++it;
      continue;
    }
    spdlog::info("health check of Service {}: closing port {}", it->first.toString(), it->second->port);
    retire(std::move(it->second));
    it = instances_.erase(it);
  }
  for (const auto& [service, check] : wanted) {
    auto& instance = instances_[service];
    if (!instance) instance = open(service, check.port);
    instance->localEndpoints->store(check.localEndpoints, std::memory_order_relaxed);
  }
  warnAboutMissingPorts(table);
}

void HealthCheckPorts::warnAboutMissingPorts(const ServiceTable& table) {
  // kube-proxy logs "Service has no healthcheck nodeport" for these; here once per Service
  // for as long as it lacks one.
  std::set<k8s::ObjectKey> without;
  for (const auto& [name, port] : table.ports()) {
    if (port->type == ServiceType::LoadBalancer && port->externalTrafficPolicy == TrafficPolicy::Local &&
        port->healthCheckNodePort == 0) {
      without.insert(k8s::ObjectKey{name.namespaceName, name.serviceName});
    }
  }
  for (const k8s::ObjectKey& service : without) {
    if (warnedWithoutPort_.contains(service)) continue;
    spdlog::warn("Service {} is a LoadBalancer with externalTrafficPolicy Local but has no spec.healthCheckNodePort: "
                 "no load balancer health check is served for it",
                 service.toString());
  }
  warnedWithoutPort_ = std::move(without);
}

std::map<k8s::ObjectKey, uint16_t> HealthCheckPorts::ports() const {
  std::map<k8s::ObjectKey, uint16_t> result;
  for (const auto& [service, instance] : instances_) result.emplace(service, instance->port);
  return result;
}

}  // namespace nicproxy
