#pragma once
// The one serve loop every mode runs (DPDK, iptables, nftables, IPVS):
//   source -> change tracker -> sync runner -> providers
// on the calling (control) thread, until SIGINT/SIGTERM or until a hook asks to exit.
//
// Order: install the signal handlers; start the source; wait until it holds a complete
// state (an API server's first lists: a restart never replaces working state with an
// empty one); the first sync (throws when it fails); onReady; then rounds. A round takes
// a signal (SIGHUP reloads a services file), drains the source, runs the sync runner
// when due (its SyncTiming: minSyncPeriod, syncPeriod, fullSyncPeriod, canaryPeriod),
// calls onRound and sleeps until the next event, the next due sync, or 100 ms.
// With hooks.health, a round that finds changes waiting (after the first sync), or whose
// sync failed, queues an update, and a round after which nothing is owed marks it done:
// kube-proxy's QueuedUpdate/Updated around its syncs; /healthz turns 503 when an owed
// update waits for the health timeout.
// The timing lives in SyncRunner; a mode adds work to a round through the hooks only.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include "control/change_tracker.hpp"
#include "control/config.hpp"
#include "control/sync_runner.hpp"

namespace nicproxy {

class ApiSource;
class ProxierHealth;
struct NodeInfo;
class ScrapeCollectables;  // control/scrape_collectables.hpp

/// What a caller adds to the loop (systemd notifications, the config-file watch, the
/// DPDK data path's chores). Every member may be empty.
struct ServeLoopHooks {
  std::function<void()> onReady;                 // once, after the first sync succeeded
  std::function<void()> onRound;                 // every round, at least every 100 ms (also
                                                 // while waiting for the first lists)
  std::function<std::optional<int>()> exitCode;  // checked each round: a value ends the
                                                 // loop and becomes the exit code
  /// /healthz and /livez (control/proxier_health.hpp), or null: told when changes are
  /// owed to the dataplanes (queuedUpdate), when a round programmed everything owed
  /// (updated), and whether this Node is eligible (from the source's node reflector).
  ProxierHealth* health = nullptr;
};

/// Where the services come from: a services file or an API server.
class ServeSource {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~ServeSource() = default;
  /// Starts following the source; a services file is loaded into `tracker` here
  /// (throws std::runtime_error naming the file when it has an error).
  virtual void start(ChangeTracker& tracker) = 0;
  /// Whether the tracker holds a complete state that may be programmed.
  virtual bool ready() const = 0;
  /// SIGHUP.
  virtual void reload(ChangeTracker& tracker) = 0;
  /// Applies what arrived since the last call.
  virtual void drainInto(ChangeTracker& tracker) = 0;
  /// Sleeps until `deadline`, or until something arrives.
  virtual void waitUntil(Clock::time_point deadline) = 0;
  virtual void stop() = 0;
  /// `listener` gets this node as the API server describes it, on the source's own
  /// thread, from start() on. A services file has no Node: never called.
  virtual void setNodeListener(std::function<void(const NodeInfo&)> /*listener*/) {}
  /// The API server source with its counters; null for a services file.
  virtual const ApiSource* api() const { return nullptr; }
};

/// A services file (services_file.hpp), reloaded on SIGHUP; a bad reload keeps the
/// services in force.
std::unique_ptr<ServeSource> makeServicesFileSource(std::filesystem::path path);
/// An API server source already built (not yet started). Its counters are on
/// `collectables` (nicproxy_api_*, nicproxy_metrics.hpp; may be null) while it lives.
std::unique_ptr<ServeSource> makeApiServerSource(std::unique_ptr<ApiSource> source,
                                                 ScrapeCollectables* collectables = nullptr);
/// The source `config` names: its servicesFile, or the API server of its kubeconfig (or
/// the in-cluster settings), with its metrics on `collectables` (may be null). Throws
/// std::runtime_error when the connection cannot be set up.
std::unique_ptr<ServeSource> makeServeSource(const Config& config, ScrapeCollectables* collectables = nullptr);

/// Runs the loop (see the top of this file). Returns the exit code: 0 after SIGINT or
/// SIGTERM (also while waiting for the first lists), or what hooks.exitCode returned.
/// Throws std::runtime_error when the first sync fails. The source is stopped on return.
int serve(ServeSource& source, ChangeTracker& tracker, SyncRunner& runner, const ServeLoopHooks& hooks);

}  // namespace nicproxy
