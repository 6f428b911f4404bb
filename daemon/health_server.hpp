#pragma once
// /healthz and /livez on healthzBindAddress, as kube-proxy serves them
// (pkg/proxy/healthcheck/proxy_health.go), from a ProxierHealth:
//   /healthz  200 when healthy and the Node is eligible, else 503;
//             {"lastUpdated": "...","currentTime": "...", "nodeEligible": true}
//   /livez    200 when healthy (the Node's eligibility ignored), else 503;
//             {"lastUpdated": "...","currentTime": "..."}
// Both with Content-Type application/json and X-Content-Type-Options nosniff; times in
// Go's time.String() format, as kube-proxy prints them; lastUpdated is currentTime when
// healthy (kube-proxy keeps that for older clients), the last completed sync otherwise.
// Each answer counts in kubeproxy_proxy_healthz_total{code} / kubeproxy_proxy_livez_total{code}.
//
// cpp-httplib on a thread of its own (two worker threads), run by daemon/http_listener: a
// failure to bind is logged with the address and the reason and retried every 5 s, never
// fatal, as kube-proxy does. stop() (or the destructor) joins before the ProxierHealth may go.
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "control/bind_address.hpp"
#include "control/proxier_health.hpp"
#include "daemon/http_listener.hpp"

namespace httplib {
class Server;
}

namespace nicproxy {

class ProxyMetrics;

/// One answer of /healthz or /livez: status code and body.
struct HealthAnswer {
  int status = 200;
  std::string body;
};
HealthAnswer healthzAnswer(const ProxierHealth::Status& status, bool nodeEligible, ProxierHealth::Clock::time_point now);
HealthAnswer livezAnswer(const ProxierHealth::Status& status, ProxierHealth::Clock::time_point now);
/// Go's time.String() in UTC ("2024-05-01 10:00:00.5 +0000 UTC"); the epoch is Go's zero
/// time ("0001-01-01 00:00:00 +0000 UTC"), kube-proxy's "never".
std::string goTimeString(ProxierHealth::Clock::time_point time);

class HealthServer {
 public:
  /// `address`: healthzBindAddress as parseBindAddress reads it; port 0 picks a free one
  /// (tests). `metrics` may be null. Nothing is served before start(). `bindRetry`: shorter
  /// in unit tests only.
  HealthServer(BindAddress address, ProxierHealth& health, ProxyMetrics* metrics,
               std::chrono::milliseconds bindRetry = HttpListener::kBindRetry);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  void start();
  void stop();
  /// The port bound, 0 while not bound.
  int port() const { return listener_ ? listener_->port() : 0; }

 private:
  void logChange(const ProxierHealth::Status& status);  // once per change, not per probe

  BindAddress address_;
  std::chrono::milliseconds bindRetry_;
  ProxierHealth& health_;
  ProxyMetrics* metrics_;
  std::unique_ptr<httplib::Server> server_;    // handed to listener_ by start()
  std::unique_ptr<HttpListener> listener_;     // set by start(), reset by stop()
  std::mutex mutex_;                           // guards lastProblems_
  std::string lastProblems_;  // the problems last logged ("" when healthy)
};

}  // namespace nicproxy
