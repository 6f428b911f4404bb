#pragma once
// The kernel dataplanes as daemon/ builds them: the provider of mode "iptables", "ipvs"
// or "nftables" (also for dpdk.kernelFallback), its sync timing, and `nicproxy --cleanup`.
#include <memory>

#include "control/config.hpp"
#include "control/provider.hpp"
#include "control/sync_runner.hpp"
#include "drivers/exec.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

/// The kernel provider for `mode` (Iptables, Ipvs or Nftables), with the UDP conntrack
/// cleanup after its rules (conntrack_provider.hpp); throws for anything else, and for
/// Ipvs when the kernel lacks its modules (naming them). Its failures, rule counts and
/// conntrack deletions go to `metrics` (kube-proxy's; may be null).
std::unique_ptr<Provider> makeKernelProvider(ProxyMode mode, const Config& config, Executor& executor,
                                             ProxyMetrics* metrics = nullptr);

/// The sync timing of kernel mode `config.mode`: its minSyncPeriod; a full sync every
/// max(syncPeriod, 1 h), every syncPeriod for IPVS; the canary every syncPeriod.
SyncTiming kernelSyncTiming(const Config& config);

/// Removes everything nicproxy installs in the kernel in any mode (its IPVS services,
/// kube-ipvs0 and the ipsets, iptables chains with the configured prefix and their jump
/// rules, the nftables table); a kernel without IPVS is not an error. Returns the exit
/// code: 0 when everything was removed or was not there.
int cleanupKernel(const Config& config, Executor& executor);

}  // namespace nicproxy
