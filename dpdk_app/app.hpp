#pragma once
// The DPDK mode: EAL start-up from the configuration, ports, workers and the DPDK
// provider, in order, then the serve loop (control/serve_loop.hpp); teardown in reverse
// order. The kernel fallback provider (dpdk.kernelFallback) is built by daemon/ and
// handed in: this folder never includes the kernel drivers.
#include <memory>

#include "control/config.hpp"
#include "control/observability.hpp"
#include "control/provider.hpp"
#include "control/serve_loop.hpp"

namespace nicproxy {

class App {
 public:
  /// `kernelFallback`: the kernel dataplane programmed from the same snapshots (null: none).
  /// `observability`: the daemon's metrics and health objects (they outlive the App); its
  /// companions are synced after the DPDK and fallback providers.
  App(Config config, std::unique_ptr<Provider> kernelFallback, Observability observability = {});
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  /// Starts everything, serves until SIGINT or SIGTERM (SIGHUP reloads the services
  /// file) or until hooks.exitCode gives a code, stops and prints the counters. Returns
  /// the process exit code. Start-up failures throw std::runtime_error with context.
  int run(const ServeLoopHooks& hooks = {});

 private:
  /// The data path's own hooks (launch the workers, reclaim tables, ...) around `hooks`.
  ServeLoopHooks dataPathHooks(const ServeLoopHooks& hooks);
  void launchWorkers();
  /// The exception interfaces of the ports that have one, after the ports are open and
  /// before the workers exist (dpdk_app/exception_path.hpp); nothing when none has.
  void openExceptionPath(int socket);
  /// pdump and the telemetry commands (dpdk_app/inspect.hpp), before the workers start.
  void startInspector();
  /// Stops the workers if they run (and stops watching their progress first).
  void stopWorkers();
  void logCountersAtShutdown();
  /// The data path's metrics on observability_.collectables and the worker liveness
  /// check on observability_.health (issue 12); withdrawn before anything they read goes.
  void registerObservability();
  void withdrawObservability();

  struct State;
  Config config_;
  Observability observability_;
  std::unique_ptr<State> state_;
};

}  // namespace nicproxy
