#include "control/proxier_health.hpp"

#include <ctime>

#include <spdlog/fmt/chrono.h>
#include <spdlog/fmt/fmt.h>

#include "control/config.hpp"

namespace nicproxy {

ProxierHealth::ProxierHealth(std::chrono::milliseconds healthTimeout) : healthTimeout_(healthTimeout) {}

void ProxierHealth::queuedUpdate(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  // The oldest owed change is what the timeout is measured from: a steady stream of
  // changes that never gets programmed must not keep it young.
  if (!oldestPendingQueued_) oldestPendingQueued_ = now;
}

void ProxierHealth::updated(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  oldestPendingQueued_.reset();
  lastUpdated_ = now;
}

void ProxierHealth::setNodeEligible(bool eligible) {
  std::lock_guard lock(mutex_);
  nodeEligible_ = eligible;
}

bool ProxierHealth::nodeEligible() const {
  std::lock_guard lock(mutex_);
  return nodeEligible_;
}

void ProxierHealth::addLivenessCheck(LivenessCheck check) {
  std::lock_guard lock(mutex_);
  checks_.push_back(std::move(check));
}

bool ProxierHealth::healthy(Clock::time_point now) const { return status(now).healthy; }

ProxierHealth::Status ProxierHealth::status(Clock::time_point now) const {
  Status status;
  std::vector<LivenessCheck> checks;
  {
    std::lock_guard lock(mutex_);
    status.lastUpdated = lastUpdated_;
    // kube-proxy: healthy while starting up or fully synced, and while the oldest owed
    // update is younger than the timeout.
    if (oldestPendingQueued_ && now - *oldestPendingQueued_ >= healthTimeout_) {
      // The same words for as long as the same changes wait: the server logs each new text.
      const std::time_t queued = Clock::to_time_t(*oldestPendingQueued_);
      status.problems.push_back(fmt::format("changes queued at {:%Y-%m-%d %H:%M:%S} UTC are not programmed after the "
                                            "health timeout ({} s)",
                                            fmt::gmtime(queued), healthTimeout_.count() / 1000.0));
    }
    checks = checks_;  // run outside the lock: a check may take its own
  }
  for (const LivenessCheck& check : checks) {
    if (std::optional<std::string> problem = check()) status.problems.push_back(std::move(*problem));
  }
  status.healthy = status.problems.empty();
  return status;
}

std::chrono::milliseconds healthTimeoutFor(const Config& config) {
  switch (config.mode) {
    case ProxyMode::Iptables: return 2 * config.iptables.syncPeriod;
    case ProxyMode::Nftables: return 2 * config.nftables.syncPeriod;
    case ProxyMode::Ipvs: return 2 * config.ipvs.syncPeriod;
    case ProxyMode::Dpdk: break;
  }
  return 2 * config.syncPeriod;
}

}  // namespace nicproxy
