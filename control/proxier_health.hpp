#pragma once
// The state behind /healthz and /livez, with kube-proxy's semantics
// (pkg/proxy/healthcheck/proxier_health.go). Filled in by part b of issue 12: this
// declaration is what the other parts may call.
//
//   queuedUpdate(now)  changes arrived that a sync owes the dataplane (kube-proxy's
//                      QueuedUpdate: keeps the oldest such time until the next sync)
//   updated(now)       a sync completed (kube-proxy's Updated)
//   healthy(now)       false when an update has been queued for longer than the timeout
//   nodeEligible       false while the Node is being deleted or carries the
//                      ToBeDeletedByClusterAutoscaler taint (KEP-3836): /healthz only
//   liveness checks    more reasons for /livez (and /healthz) to fail: DPDK mode adds
//                      one that fails when a worker lcore stops making progress
// Thread-safe: the control thread writes, the HTTP threads read.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace nicproxy {

class ProxierHealth {
 public:
  using Clock = std::chrono::system_clock;
  /// A check that names what is wrong, or nullopt when all is well. Called from an HTTP
  /// thread: it must be cheap and thread-safe.
  using LivenessCheck = std::function<std::optional<std::string>()>;

  explicit ProxierHealth(std::chrono::milliseconds healthTimeout);
  void queuedUpdate(Clock::time_point now);
  void updated(Clock::time_point now);
  void setNodeEligible(bool eligible);
  /// No update queued for longer than the timeout, and every liveness check passes.
  bool healthy(Clock::time_point now) const;
  bool nodeEligible() const;
  /// Adds a check; call before the HTTP server starts.
  void addLivenessCheck(LivenessCheck check);
};

}  // namespace nicproxy
