#include "daemon/modes.hpp"

#include <exception>
#include <memory>
#include <vector>

#include <spdlog/spdlog.h>

#include "control/change_tracker.hpp"
#include "control/nicproxy_metrics.hpp"
#include "control/sync_runner.hpp"
#include "drivers/exec.hpp"
#include "drivers/kernel_proxy.hpp"
#ifdef NICPROXY_WITH_DPDK
#include "dpdk_app/app.hpp"
#endif

namespace nicproxy {

namespace {

// Mode iptables, nftables or ipvs: one kernel provider, no EAL, no hugepages, no NIC.
// Its rules stay in the kernel on exit, as kube-proxy leaves them, so that a restart
// does not interrupt Service traffic.
int runKernelMode(const Config& config, const ServeLoopHooks& hooks, const Observability& observability) {
  spdlog::info("Using {} Proxier", proxyModeName(config.mode));
  ProcessExecutor executor;
  const std::unique_ptr<Provider> provider = makeKernelProvider(config.mode, config, executor, observability.metrics);
  ChangeTracker tracker(config.nodeName);
  std::vector<Provider*> providers{provider.get()};
  providers.insert(providers.end(), observability.companions.begin(), observability.companions.end());
  SyncRunner runner(tracker, std::move(providers), kernelSyncTiming(config));
  tracker.setMetrics(observability.metrics);  // kube-proxy's change and sync metrics
  runner.setMetrics(observability.metrics);
  const std::unique_ptr<ServeSource> source = makeServeSource(config, observability.collectables);
  ServeLoopHooks ours = hooks;
  ours.onReady = [&tracker, onReady = hooks.onReady] {
    spdlog::info("kernel proxy ready: {} service ports, {} endpoints", tracker.current()->size(),
                 tracker.current()->endpointCount());
    if (onReady) onReady();
  };
  const int code = serve(*source, tracker, runner, ours);
  spdlog::info("the {} rules stay in place (nicproxy --cleanup removes them)", provider->name());
  return code;
}

#ifdef NICPROXY_WITH_DPDK
int runDpdkMode(Config config, const ServeLoopHooks& hooks, const Observability& observability) {
  ProcessExecutor executor;  // outlives the App, which owns the fallback provider
  std::unique_ptr<Provider> fallback;
  if (config.dpdk.kernelFallback != KernelFallback::None) {
    const KernelFallback kind = config.dpdk.kernelFallback;
    const ProxyMode kernelMode = kind == KernelFallback::Iptables ? ProxyMode::Iptables
                                 : kind == KernelFallback::Ipvs   ? ProxyMode::Ipvs
                                                                  : ProxyMode::Nftables;
    fallback = makeKernelProvider(kernelMode, config, executor, observability.metrics);
    spdlog::info("Using {} Proxier for the interfaces DPDK does not own (dpdk.kernelFallback)",
                 proxyModeName(kernelMode));
  }
  App app(std::move(config), std::move(fallback), observability);
  return app.run(hooks);
}
#endif

}  // namespace

int runMode(Config config, const ServeLoopHooks& hooks, const Observability& observability) {
  if (observability.registry != nullptr) addBuildInfo(*observability.registry, NICPROXY_VERSION, proxyModeName(config.mode));
  try {
    if (config.mode != ProxyMode::Dpdk) return runKernelMode(config, hooks, observability);
#ifdef NICPROXY_WITH_DPDK
    return runDpdkMode(std::move(config), hooks, observability);
#else
    spdlog::critical("mode dpdk: this nicproxy was built without DPDK (meson -Ddpdk=disabled); use mode iptables, "
                     "nftables or ipvs, or a build with DPDK");
    return 1;
#endif
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
}

int runCleanup(const std::string& configPath) {
  Config config;
  if (!configPath.empty()) {
    ConfigResult loaded = loadConfigFile(configPath);
    for (const std::string& error : loaded.errors) spdlog::error("{}: {}", configPath, error);
    if (!loaded.ok()) return 1;
    config = std::move(*loaded.config);
  }
  ProcessExecutor executor;
  return cleanupKernel(config, executor);
}

}  // namespace nicproxy
