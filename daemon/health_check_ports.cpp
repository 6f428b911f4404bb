#include "daemon/health_check_ports.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <httplib.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

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

}  // namespace

// One address:port of one Service: a cpp-httplib server on its own thread, which binds,
// and on failure logs and tries again every retryInterval until stopped.
class HealthCheckPorts::Listener {
 public:
  Listener(std::string host, uint16_t port, std::string service, std::chrono::milliseconds retryInterval,
           httplib::Server::Handler handler)
      : host_(std::move(host)), port_(port), service_(std::move(service)), retryInterval_(retryInterval) {
    // httplib's default sets SO_REUSEPORT, with which a second process (a second nicproxy)
    // would silently share the port; SO_REUSEADDR alone is what kube-proxy's listeners have.
    server_.set_socket_options([](int fd) {
      const int yes = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    // Connections are served on the accepting thread, one at a time, not by httplib's pool
    // of eight workers: probes are rare and tiny, and there may be many Services.
    server_.new_task_queue = [] { return new InlineTaskQueue; };
    // Bound how long stop() waits for a connection a client keeps open.
    server_.set_keep_alive_timeout(1);
    server_.set_read_timeout(std::chrono::seconds(2));
    for (auto route : {&httplib::Server::Get, &httplib::Server::Post, &httplib::Server::Put,
                       &httplib::Server::Patch, &httplib::Server::Delete, &httplib::Server::Options}) {
      (server_.*route)(".*", handler);  // kube-proxy answers every method and path alike
    }
    thread_ = std::thread([this] { run(); });
  }

  ~Listener() {
    stop();
    thread_.join();
  }

  /// Closes the listening socket now; the thread ends once open connections are done.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      stopping_ = true;
    }
    wake_.notify_all();
    // httplib's stop() does nothing until listen_after_bind() has marked the server
    // running, which follows a successful bind within microseconds: wait for either.
    while (!done_.load() && !server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (!done_.load()) server_.stop();
  }

  bool done() const { return done_.load(); }

 private:
  std::string address() const { return fmt::format("{}:{}", host_, port_); }

  void run() {
    int lastError = 0;
    for (;;) {
      bool bound = false;
      int error = 0;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) break;
        errno = 0;
        bound = server_.bind_to_port(host_, port_);
        error = errno;
      }
      if (bound) {
        if (lastError != 0) spdlog::info("health check of Service {}: serving {} now", service_, address());
        lastError = 0;
        server_.listen_after_bind();  // until stop()
        if (stopped()) break;
        spdlog::error("health check of Service {}: {} stopped accepting; opening it again", service_, address());
      } else if (error != lastError) {
        // kube-proxy's "Failed to start healthcheck"; logged again only when the reason changes.
        spdlog::error("health check of Service {}: cannot listen on {}: {}; trying again every {} ms", service_,
                      address(), error != 0 ? std::strerror(error) : "bind failed", retryInterval_.count());
        lastError = error != 0 ? error : -1;
      }
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, retryInterval_, [this] { return stopping_; })) break;
    }
    done_.store(true);
  }

  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  const std::string host_;
  const uint16_t port_;
  const std::string service_;
  const std::chrono::milliseconds retryInterval_;
  httplib::Server server_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // guarded by mutex_
  std::atomic<bool> done_{false};
  std::thread thread_;
};

struct HealthCheckPorts::Instance {
  uint16_t port = 0;
  // Shared with the handlers, which may still answer a last request while a retired
  // listener winds down after its Instance is gone.
  std::shared_ptr<std::atomic<int>> localEndpoints = std::make_shared<std::atomic<int>>(0);
  std::vector<std::unique_ptr<Listener>> listeners;
};

HealthCheckPorts::HealthCheckPorts(Options options) : options_(std::move(options)) {
  if (!options_.localAddresses) options_.localAddresses = listLocalAddresses;
}

HealthCheckPorts::~HealthCheckPorts() {
  // Close every socket first, then join: stopping them one by one would wait for each.
  for (auto& [key, instance] : instances_) {
    for (auto& listener : instance->listeners) listener->stop();
  }
  for (auto& listener : retired_) listener->stop();
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
    instance->listeners.push_back(
        std::make_unique<Listener>(host, port, name, options_.retryInterval, handler));
  }
  return instance;
}

void HealthCheckPorts::retire(std::unique_ptr<Instance> instance) {
  for (auto& listener : instance->listeners) {
    listener->stop();
    retired_.push_back(std::move(listener));
  }
}

void HealthCheckPorts::reapRetired() {
  std::erase_if(retired_, [](const std::unique_ptr<Listener>& listener) { return listener->done(); });
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
