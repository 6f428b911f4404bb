#include "control/serve_loop.hpp"

#include <algorithm>
#include <csignal>
#include <stdexcept>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "control/api_source.hpp"
#include "control/proxier_health.hpp"
#include "control/signals.hpp"

namespace nicproxy {

namespace {

constexpr std::chrono::milliseconds kRoundAtLeastEvery{100};  // signals and hooks are looked at this often

bool isStop(int signal) { return signal == SIGINT || signal == SIGTERM; }

// The end of the loop a round asks for: a stop signal (exit 0) or the hook's code.
std::optional<int> exitRequested(int signal, const ServeLoopHooks& hooks) {
  if (isStop(signal)) {
    spdlog::info("signal {}: stopping", signal);
    return 0;
  }
  if (hooks.exitCode) {
    if (const std::optional<int> code = hooks.exitCode()) {
      spdlog::info("stopping (exit code {})", *code);
      return code;
    }
  }
  return std::nullopt;
}

// Until the source holds a complete state; the exit code when the loop must end first.
std::optional<int> waitUntilReady(ServeSource& source, ChangeTracker& tracker, const ServeLoopHooks& hooks) {
  bool logged = false;
  while (!source.ready()) {
    if (const auto code = exitRequested(takePendingSignal(), hooks)) return code;
    if (!logged) {
      spdlog::info("waiting for the first lists of Services and EndpointSlices before programming anything");
      logged = true;
    }
    if (hooks.onRound) hooks.onRound();
    source.waitUntil(ServeSource::Clock::now() + kRoundAtLeastEvery);
    source.drainInto(tracker);
  }
  return std::nullopt;
}

// Runs the sync runner; one log line per round that changed some dataplane (tests and
// operators wait for it after a change). Tells `health` (may be null) what is owed and
// when it was done, as kube-proxy's proxiers call QueuedUpdate and Updated: changes
// waiting for a sync are owed, except before the first sync (kube-proxy runs that one
// without QueuedUpdate, so a long first sync of a large cluster is no failure). A failed
// sync is owed too, from the time it failed: its dataplane may hold anything between the
// old and the new state, so syncs that keep failing turn /healthz 503 even when no change
// is waiting (a periodic full sync); a slow periodic sync that succeeds does not.
bool syncRound(ChangeTracker& tracker, SyncRunner& runner, SyncRunner::Clock::time_point now, ProxierHealth* health,
               bool firstSync = false) {
  const bool changesBefore = tracker.hasPendingChanges();
  if (health != nullptr && changesBefore && !firstSync) health->queuedUpdate(ProxierHealth::Clock::now());
  const uint64_t before = runner.syncCount();
  const bool ok = runner.runIfDue(now);
  const bool synced = runner.syncCount() != before;
  if (synced) {
    spdlog::info("synced generation {}: {} service ports", tracker.current()->generation(), tracker.current()->size());
  }
  if (health != nullptr) {
    const bool owed = tracker.hasPendingChanges() || runner.retryPending();
    if (!ok) {
      health->queuedUpdate(ProxierHealth::Clock::now());
    } else if ((synced || changesBefore) && !owed) {
      health->updated(ProxierHealth::Clock::now());
    }
  }
  return ok;
}

int serveRounds(ServeSource& source, ChangeTracker& tracker, SyncRunner& runner, const ServeLoopHooks& hooks) {
  while (true) {
    const int signal = takePendingSignal();
    if (const auto code = exitRequested(signal, hooks)) return *code;
    if (signal == SIGHUP) source.reload(tracker);
    source.drainInto(tracker);
    syncRound(tracker, runner, SyncRunner::Clock::now(), hooks.health);
    if (hooks.onRound) hooks.onRound();
    // Wake for the next event, the next due sync, or to look at signals and hooks.
    const auto now = SyncRunner::Clock::now();
    source.waitUntil(std::min(runner.nextDue(now), now + kRoundAtLeastEvery));
  }
}

}  // namespace

int serve(ServeSource& source, ChangeTracker& tracker, SyncRunner& runner, const ServeLoopHooks& hooks) {
  // Before anything is loaded, so that a SIGHUP sent as soon as "ready" shows is not fatal.
  installSignalHandlers();
  if (hooks.health != nullptr) {
    // kube-proxy marks its proxier updated when the sync loop starts, so that lastUpdated
    // is never empty; it is healthy while it waits for the first lists.
    hooks.health->updated(ProxierHealth::Clock::now());
    source.setNodeListener([health = hooks.health](const NodeInfo& node) { health->setNodeEligible(node.eligible()); });
  }
  struct StopOnReturn {
    ServeSource& source;
    ~StopOnReturn() { source.stop(); }
  } stopOnReturn{source};
  source.start(tracker);
  // Nothing is programmed before the source is complete: a restart never replaces
  // working state with an empty one.
  if (const auto code = waitUntilReady(source, tracker, hooks)) return *code;
  if (!syncRound(tracker, runner, SyncRunner::Clock::now(), hooks.health, true)) {
    throw std::runtime_error(fmt::format("the first {} sync failed", fmt::join(runner.providersNeedingFullSync(), " and ")));
  }
  if (hooks.onReady) hooks.onReady();
  return serveRounds(source, tracker, runner, hooks);
}

}  // namespace nicproxy
