#include "control/sync_runner.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "control/endpoints.hpp"
#include "control/proxy_metrics.hpp"

namespace nicproxy {

SyncRunner::SyncRunner(ChangeTracker& tracker, std::vector<Provider*> providers, SyncTiming timing)
    : tracker_(tracker), providers_(std::move(providers)), needsFullSync_(providers_.size(), true), timing_(timing) {
  if (timing_.hangWarning.count() > 0) watchdog_ = std::make_unique<Watchdog>("control loop", timing_.hangWarning);
}

SyncRunner::Clock::time_point SyncRunner::nextDue(Clock::time_point now) const {
  if (!hasRun_) return now;
  Clock::time_point due = Clock::time_point::max();
  if (timing_.syncPeriod.count() > 0) due = lastRun_ + timing_.syncPeriod;
  if (timing_.fullSyncPeriod.count() > 0) due = std::min(due, nextFullSync_);
  if (timing_.canaryPeriod.count() > 0) due = std::min(due, nextCanary_);
  if (tracker_.hasPendingChanges() || retryPending()) {
    const auto wait = lastFailed_ && !tracker_.hasPendingChanges() ? std::max(timing_.minSyncPeriod, kRetryDelay)
                                                                    : timing_.minSyncPeriod;
    due = std::min(due, lastRun_ + wait);
  }
  return std::max(due, now);
}

void SyncRunner::runTimers(Clock::time_point now) {
  if (timing_.fullSyncPeriod.count() > 0 && now >= nextFullSync_) {
    counters_.periodicSyncs.fetch_add(1, std::memory_order_relaxed);
    requestFullSync();
    nextFullSync_ = now + timing_.fullSyncPeriod;
  }
  if (timing_.canaryPeriod.count() > 0 && now >= nextCanary_) {
    nextCanary_ = now + timing_.canaryPeriod;
    for (size_t i = 0; i < providers_.size(); ++i) {
      const WatchedStep step(watchdog_.get(), providers_[i]->name() + " canary check");
      std::optional<std::string> lost;
      try {
        lost = providers_[i]->checkCanary();
      } catch (const std::exception& e) {
        lost = std::string("the check failed: ") + e.what();
      }
      if (lost) {
        spdlog::warn("{} canary: {}: full sync", providers_[i]->name(), *lost);
        counters_.canaryLosses.fetch_add(1, std::memory_order_relaxed);
        needsFullSync_[i] = true;
      }
    }
  }
}

bool SyncRunner::runIfDue(Clock::time_point now) {
  if (hasRun_) runTimers(now);
  const bool periodic = hasRun_ && timing_.syncPeriod.count() > 0 && now - lastRun_ >= timing_.syncPeriod;
  if (!periodic && (!(tracker_.hasPendingChanges() || retryPending()) || nextDue(now) > now)) return true;
  if (periodic) {
    // The periodic round rewrites everything: it repairs state changed behind our back.
    counters_.periodicSyncs.fetch_add(1, std::memory_order_relaxed);
    needsFullSync_.assign(providers_.size(), true);
  }
  if (!hasRun_) {
    nextFullSync_ = now + timing_.fullSyncPeriod;
    nextCanary_ = now + timing_.canaryPeriod;
  }
  hasRun_ = true;
  lastRun_ = now;
  lastFailed_ = !syncIfNeeded();
  return !lastFailed_;
}

bool SyncRunner::retryPending() const {
  for (bool pending : needsFullSync_) {
    if (pending) return true;
  }
  return false;
}

std::vector<std::string> SyncRunner::providersNeedingFullSync() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < providers_.size(); ++i) {
    if (needsFullSync_[i]) names.push_back(providers_[i]->name());
  }
  return names;
}

void SyncRunner::requestFullSync() { needsFullSync_.assign(providers_.size(), true); }

namespace {

// kube-proxy's serviceNoLocalEndpointsTotal{Internal,External}: service ports with a Local
// policy whose endpoints are all on other nodes (traffic through that policy is dropped).
void setNoLocalEndpoints(const ServiceTable& table, ProxyMetrics& metrics) {
  double internal = 0;
  double external = 0;
  for (const auto& [name, port] : table.ports()) {
    const bool internalLocal = port->internalTrafficPolicy == TrafficPolicy::Local;
    const bool externalLocal = port->externalTrafficPolicy == TrafficPolicy::Local && externallyAccessible(*port);
    if (!internalLocal && !externalLocal) continue;
    const CategorizedEndpoints endpoints = categorizeEndpoints(*port);
    if (!endpoints.hasAnyEndpoints || !endpoints.local.empty()) continue;
    if (internalLocal) ++internal;
    if (externalLocal) ++external;
  }
  metrics.noLocalEndpoints.Add({{"traffic_policy", "internal"}}).Set(internal);
  metrics.noLocalEndpoints.Add({{"traffic_policy", "external"}}).Set(external);
}

}  // namespace

void SyncRunner::recordRound(const Snapshot& snapshot, Clock::duration took, bool full, bool ok) {
  if (metrics_ == nullptr) return;
  const double seconds = std::chrono::duration<double>(took).count();
  metrics_->syncProxyRulesDuration.Observe(seconds);
  (full ? metrics_->syncFullProxyRulesDuration : metrics_->syncPartialProxyRulesDuration).Observe(seconds);
  if (!ok) return;
  metrics_->syncProxyRulesLastTimestamp.SetToCurrentTime();
  const auto now = std::chrono::system_clock::now();
  for (const auto& triggered : unprogrammedTriggerTimes_) {
    metrics_->networkProgrammingDuration.Observe(std::chrono::duration<double>(now - triggered).count());
  }
  unprogrammedTriggerTimes_.clear();
  setNoLocalEndpoints(*snapshot.table, *metrics_);
}

bool SyncRunner::syncIfNeeded() {
  if (!tracker_.hasPendingChanges() && !retryPending()) return true;
  const auto start = Clock::now();  // the real time a round takes, whatever `now` runIfDue was given
  const Snapshot snapshot = tracker_.apply();
  unprogrammedTriggerTimes_.insert(unprogrammedTriggerTimes_.end(), snapshot.triggerTimes.begin(),
                                   snapshot.triggerTimes.end());
  bool ok = true;
  bool synced = false;
  bool anyFull = false;
  for (size_t i = 0; i < providers_.size(); ++i) {
    const bool full = needsFullSync_[i];
    if (!full && snapshot.changed.empty()) continue;
    synced = true;
    anyFull = anyFull || full;
    const WatchedStep step(watchdog_.get(), fmt::format("{} sync of generation {}{}", providers_[i]->name(),
                                                        snapshot.table->generation(), full ? " (full)" : ""));
    try {
      providers_[i]->sync(*snapshot.table, snapshot.changed, full);
      needsFullSync_[i] = false;
      counters_.syncs.fetch_add(1, std::memory_order_relaxed);
      if (full) counters_.fullSyncs.fetch_add(1, std::memory_order_relaxed);
    } catch (const std::exception& e) {
      spdlog::error("{} sync of generation {} failed: {}; keeping its previous state, will retry with a full sync",
                    providers_[i]->name(), snapshot.table->generation(), e.what());
      needsFullSync_[i] = true;
      counters_.failures.fetch_add(1, std::memory_order_relaxed);
      ok = false;
    }
  }
  if (synced) {
    recordRound(snapshot, Clock::now() - start, anyFull, ok);
  } else {
    unprogrammedTriggerTimes_.clear();  // the changes left every dataplane as it was: nothing to program
  }
  return ok;
}

}  // namespace nicproxy
