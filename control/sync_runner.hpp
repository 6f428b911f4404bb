#pragma once
// Hands snapshots from the change tracker to every provider. A provider whose sync
// failed gets a full sync on the next round (its dataplane may hold anything between
// the old and the new state), while the others go on with incremental changes.
// Bounded-frequency timing, as kube-proxy's BoundedFrequencyRunner: runIfDue() syncs
// pending changes at most once per minSyncPeriod (a burst of events becomes one sync),
// and at least once per syncPeriod a full sync of every provider; a failed provider is
// retried (full) after max(minSyncPeriod, kRetryDelay). The kernel dataplanes add two
// timers: fullSyncPeriod (a full sync on a fixed cadence, whatever rounds ran between)
// and canaryPeriod (each provider's checkCanary(); one whose state another program
// removed gets a full sync). The clock is the caller's `now`, so tests drive time by hand.
// Each provider sync is a step of a Watchdog (control/watchdog.hpp): a sync still
// running after SyncTiming::hangWarning is logged with what it waits for, down to the
// command or request it is in.
// kube-proxy's sync metrics (when given a ProxyMetrics): each round that syncs some
// provider is one observation of kubeproxy_sync_proxy_rules_duration_seconds, and of the
// full histogram when some provider's sync was full, else of the partial one; a round
// that succeeds sets ..._last_timestamp_seconds and ..._no_local_endpoints_total and
// observes the network programming latency of every EndpointSlice change it programmed
// (a change whose round failed is observed after the retry that programs it).
// Not thread-safe: one owner (the control thread); counters() may be read anywhere.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control/change_tracker.hpp"
#include "control/provider.hpp"
#include "control/watchdog.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

struct SyncTiming {
  std::chrono::milliseconds minSyncPeriod{0};
  /// A round, full, when none ran for this long (kube-proxy's syncPeriod). 0: none.
  std::chrono::milliseconds syncPeriod{0};
  /// Every provider rewritten this often, counted from the previous such rewrite rather
  /// than from the last round, so that a steady stream of changes cannot put it off
  /// (kube-proxy's FullSyncPeriod for its kernel modes). 0: none.
  std::chrono::milliseconds fullSyncPeriod{0};
  /// Each provider's checkCanary() this often (kube-proxy's canary chains). 0: never.
  std::chrono::milliseconds canaryPeriod{0};
  /// A provider sync running longer than this is logged as hanging (0: not watched).
  std::chrono::milliseconds hangWarning{std::chrono::seconds(60)};
};

/// Sync outcomes for a metrics endpoint. relaxed atomics: independent counts.
struct SyncCounters {
  std::atomic<uint64_t> syncs{0};          // provider syncs that succeeded
  std::atomic<uint64_t> failures{0};       // provider syncs that threw
  std::atomic<uint64_t> fullSyncs{0};      // of the successful ones, full
  std::atomic<uint64_t> periodicSyncs{0};  // rounds started by syncPeriod or fullSyncPeriod
  std::atomic<uint64_t> canaryLosses{0};   // canary checks that found a provider's state gone
};

class SyncRunner {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kRetryDelay{1000};

  SyncRunner(ChangeTracker& tracker, std::vector<Provider*> providers, SyncTiming timing = {});

  /// Bounded-frequency entry point: syncs when something is pending and minSyncPeriod
  /// has passed since the last round, or when syncPeriod has passed (full sync); checks
  /// the canaries and starts the fullSyncPeriod rewrite when they are due.
  /// Returns false when some provider failed.
  bool runIfDue(Clock::time_point now);
  /// When runIfDue() next has something to do (Clock::time_point::max(): nothing).
  Clock::time_point nextDue(Clock::time_point now) const;

  /// Syncs if the tracker has changes or a provider is waiting for a retry. Returns
  /// false when some provider failed (it was logged; the last good state stays).
  bool syncIfNeeded();

  bool retryPending() const;
  /// The names of the providers waiting for a full sync (right after a failed round:
  /// those that failed).
  std::vector<std::string> providersNeedingFullSync() const;
  /// Makes the next syncIfNeeded() a full sync for every provider, changes or not
  /// (the kernel dataplanes' periodic syncPeriod resync, which repairs outside edits).
  void requestFullSync();
  uint64_t syncCount() const { return counters_.syncs.load(std::memory_order_relaxed); }
  uint64_t failureCount() const { return counters_.failures.load(std::memory_order_relaxed); }
  const SyncCounters& counters() const { return counters_; }
  /// kube-proxy's sync metrics (see the top of the file); null: none. Outlives the runner.
  void setMetrics(ProxyMetrics* metrics) { metrics_ = metrics; }
  /// The watchdog of the control loop (null when hangWarning is 0): the loop may mark
  /// its other steps with WatchedStep(runner.watchdog(), "...").
  Watchdog* watchdog() const { return watchdog_.get(); }

 private:
  ChangeTracker& tracker_;
  std::vector<Provider*> providers_;
  std::vector<bool> needsFullSync_;  // per provider; true before its first success
  SyncTiming timing_;
  bool hasRun_ = false;
  bool lastFailed_ = false;
  Clock::time_point lastRun_{};
  Clock::time_point nextFullSync_{};  // fullSyncPeriod; set by the first round
  Clock::time_point nextCanary_{};    // canaryPeriod; set by the first round
  SyncCounters counters_;
  std::unique_ptr<Watchdog> watchdog_;
  ProxyMetrics* metrics_ = nullptr;
  // Trigger times of EndpointSlice changes not yet programmed by a successful round.
  std::vector<std::chrono::system_clock::time_point> unprogrammedTriggerTimes_;

  void recordRound(const Snapshot& snapshot, Clock::duration took, bool full, bool ok);

  void runTimers(Clock::time_point now);
};

}  // namespace nicproxy
