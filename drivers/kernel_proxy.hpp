#pragma once
// nicproxy without DPDK: mode "iptables", "ipvs" or "nftables" runs the services-file source,
// the change tracker, the sync runner and one kernel provider on the main thread, with
// minSyncPeriod/syncPeriod timing and SIGHUP/SIGINT/SIGTERM handling. No EAL.
// Also the kernel providers for dpdk.kernelFallback and `nicproxy --cleanup`.
#include <memory>

#include "control/config.hpp"
#include "control/provider.hpp"
#include "drivers/exec.hpp"

namespace nicproxy {

/// The kernel provider for `mode` (Iptables, Ipvs or Nftables), with the UDP conntrack
/// cleanup after its rules (conntrack_provider.hpp); throws for anything else, and for
/// Ipvs when the kernel lacks its modules (naming them).
std::unique_ptr<Provider> makeKernelProvider(ProxyMode mode, const Config& config, Executor& executor);

/// Serves until SIGINT or SIGTERM; returns the exit code. Start-up failures throw
/// std::runtime_error with context. Rules stay in the kernel on exit, as kube-proxy
/// leaves them, so that a restart does not interrupt Service traffic.
int runKernelProxy(const Config& config);

/// Removes everything nicproxy installs in the kernel in any mode (its IPVS services,
/// kube-ipvs0 and the ipsets, iptables chains with the configured prefix and their jump
/// rules, the nftables table); a kernel without IPVS is not an error. Returns the exit
/// code: 0 when everything was removed or was not there.
int cleanupKernel(const Config& config, Executor& executor);

}  // namespace nicproxy
