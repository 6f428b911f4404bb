#pragma once
// The state behind /healthz and /livez, with kube-proxy's semantics
// (pkg/proxy/healthcheck/proxier_health.go); daemon/health_server serves it. Other parts
// may call queuedUpdate/updated/setNodeEligible/healthy/nodeEligible/addLivenessCheck.
//
//   queuedUpdate(now)  changes arrived that a sync owes the dataplane (kube-proxy's
//                      QueuedUpdate: keeps the oldest such time until the next sync)
//   updated(now)       a sync completed and nothing is owed (kube-proxy's Updated)
//   healthy(now)       false when an update has been queued for the timeout or longer
//                      (kube-proxy: 2 x syncPeriod, healthTimeoutFor()), or a liveness
//                      check fails; /healthz and /livez both answer 503 then
//   nodeEligible       false while the Node is being deleted or carries the
//                      ToBeDeletedByClusterAutoscaler taint (KEP-3836): /healthz only.
//                      True until the Node says otherwise (also without an API server).
//   liveness checks    more reasons for /livez (and /healthz) to fail: DPDK mode adds
//                      one that fails when a worker lcore stops making progress
// Thread-safe: the control thread and the node reflector write, the HTTP threads read.
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace nicproxy {

struct Config;

class ProxierHealth {
 public:
  using Clock = std::chrono::system_clock;
  /// A check that names what is wrong, or nullopt when all is well. Called from an HTTP
  /// thread: it must be cheap and thread-safe.
  using LivenessCheck = std::function<std::optional<std::string>()>;

  /// What /healthz and /livez report.
  struct Status {
    bool healthy = true;
    /// The last completed sync (kube-proxy's lastUpdated); the epoch when none was.
    Clock::time_point lastUpdated{};
    /// Why not healthy, one line each (for the log: the HTTP body stays kube-proxy's).
    std::vector<std::string> problems;
  };

  explicit ProxierHealth(std::chrono::milliseconds healthTimeout);
  void queuedUpdate(Clock::time_point now);
  void updated(Clock::time_point now);
  void setNodeEligible(bool eligible);
  /// No update queued for the timeout or longer, and every liveness check passes.
  bool healthy(Clock::time_point now) const;
  Status status(Clock::time_point now) const;
  bool nodeEligible() const;
  /// Adds a check; may be called at any time (the DPDK mode adds its own after the HTTP
  /// server started).
  void addLivenessCheck(LivenessCheck check);
  std::chrono::milliseconds healthTimeout() const { return healthTimeout_; }

 private:
  const std::chrono::milliseconds healthTimeout_;
  mutable std::mutex mutex_;
  std::optional<Clock::time_point> oldestPendingQueued_;
  Clock::time_point lastUpdated_{};
  bool nodeEligible_ = true;
  std::vector<LivenessCheck> checks_;
};

/// kube-proxy's health timeout: twice the syncPeriod of the dataplane `config` runs
/// (iptables.syncPeriod, nftables.syncPeriod or ipvs.syncPeriod in the kernel modes,
/// syncPeriod in mode dpdk).
std::chrono::milliseconds healthTimeoutFor(const Config& config);

}  // namespace nicproxy
