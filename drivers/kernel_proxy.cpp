#include "drivers/kernel_proxy.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include <sys/utsname.h>

#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "drivers/conntrack_provider.hpp"
#include "drivers/iptables/iptables_provider.hpp"
#include "drivers/ipvs/ipvs_modules.hpp"
#include "drivers/ipvs/ipvs_provider.hpp"
#include "drivers/nftables/nft_netlink.hpp"
#include "drivers/nftables/nftables_provider.hpp"

namespace nicproxy {
namespace {

struct Periods {
  std::chrono::milliseconds minSync, sync;
};

// kube-proxy (pkg/proxy/util FullSyncPeriod) rewrites everything at most hourly: a full
// sync of 10,000 services takes 15 s (iptables-legacy) to 2 min (nftables) here, so
// doing it every syncPeriod (30 s by default) would keep the node busy all the time.
constexpr std::chrono::milliseconds kMinFullSyncPeriod = std::chrono::hours(1);

Periods periodsOf(const Config& config) {
  if (config.mode == ProxyMode::Nftables) return {config.nftables.minSyncPeriod, config.nftables.syncPeriod};
  if (config.mode == ProxyMode::Ipvs) return {config.ipvs.minSyncPeriod, config.ipvs.syncPeriod};
  return {config.iptables.minSyncPeriod, config.iptables.syncPeriod};
}

// kube-proxy's IPVS mode checks the kernel before it starts; so does nicproxy, with
// the modules named, before it opens the IPVS netlink family.
void requireIpvsModules(const std::string& scheduler) {
  utsname name{};
  ::uname(&name);
  const auto missing = missingIpvsModules(probeIpvs("/", name.release), scheduler);
  if (!missing.empty()) {
    throw std::runtime_error(fmt::format("IPVS is not available in this kernel: missing modules {} (load them with "
                                         "modprobe, or use mode \"iptables\" or \"nftables\")",
                                         fmt::join(missing, ", ")));
  }
}

}  // namespace

static std::unique_ptr<Provider> makeRulesProvider(ProxyMode mode, const Config& config, Executor& executor,
                                                   ProxyMetrics* metrics) {
  if (mode == ProxyMode::Iptables) {
    IptablesProviderOptions options;
    options.rules.prefix = config.iptables.chainPrefix;
    options.rules.masqueradeAll = config.iptables.masqueradeAll;
    options.rules.masqueradeMark = uint32_t{1} << config.iptables.masqueradeBit;
    options.rules.clusterCIDR = config.clusterCIDR;
    options.nodePortAddresses = config.nodePortAddresses;
    options.metrics = metrics;
    return std::make_unique<IptablesProvider>(executor, std::move(options));
  }
  if (mode == ProxyMode::Nftables) {
    NftablesProviderOptions options;
    options.rules.table = config.nftables.tableName;
    options.rules.masqueradeAll = config.nftables.masqueradeAll;
    options.rules.masqueradeMark = uint32_t{1} << config.nftables.masqueradeBit;
    options.rules.clusterCIDR = config.clusterCIDR;
    options.nodePortAddresses = config.nodePortAddresses;
    options.deleteObjects = nftDeleteByNetlink;
    options.metrics = metrics;
    return std::make_unique<NftablesProvider>(executor, std::move(options));
  }
  if (mode == ProxyMode::Ipvs) {
    requireIpvsModules(config.ipvs.scheduler);
    IpvsProviderOptions options;
    options.scheduler = config.ipvs.scheduler;
    const auto seconds = [](std::chrono::milliseconds d) {
      return static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
    };
    options.tcpTimeout = seconds(config.ipvs.tcpTimeout);
    options.tcpFinTimeout = seconds(config.ipvs.tcpFinTimeout);
    options.udpTimeout = seconds(config.ipvs.udpTimeout);
    options.rules.prefix = config.iptables.chainPrefix;
    options.rules.masqueradeAll = config.iptables.masqueradeAll;
    options.rules.masqueradeMark = uint32_t{1} << config.iptables.masqueradeBit;
    options.rules.clusterCIDR = config.clusterCIDR;
    options.nodePortAddresses = config.nodePortAddresses;
    options.metrics = metrics;
    return makeNetlinkIpvsProvider(executor, std::move(options));
  }
  throw std::runtime_error(std::string("mode ") + proxyModeName(mode) + " has no kernel provider");
}

std::unique_ptr<Provider> makeKernelProvider(ProxyMode mode, const Config& config, Executor& executor,
                                             ProxyMetrics* metrics) {
  return withUdpConntrackCleanup(makeRulesProvider(mode, config, executor, metrics), config.nodePortAddresses,
                                 metrics);
}

SyncTiming kernelSyncTiming(const Config& config) {
  const Periods periods = periodsOf(config);
  SyncTiming timing;
  // minSyncPeriod bounds how often the kernel is reprogrammed however fast changes come.
  timing.minSyncPeriod = periods.minSync;
  // No round for its own sake: a kernel sync with nothing changed would rewrite nothing.
  timing.syncPeriod = std::chrono::milliseconds(0);
  // IPVS's full sync is a netlink dump compared in memory, cheap enough for every
  // syncPeriod as kube-proxy's IPVS mode does it; it also finishes draining real servers.
  timing.fullSyncPeriod = config.mode == ProxyMode::Ipvs ? periods.sync : std::max(periods.sync, kMinFullSyncPeriod);
  // Another program may flush or delete the rules (firewalld does): checked every
  // syncPeriod, as kube-proxy checks its canary chains, rather than left broken until
  // the next full sync up to an hour later.
  timing.canaryPeriod = periods.sync;
  return timing;
}

int cleanupKernel(const Config& config, Executor& executor) {
  int rc = 0;
  // IPVS first: its chains refer to the chains the iptables cleanup removes.
  std::unique_ptr<NetlinkIpvsTransport> ipvs;
  try {
    ipvs = NetlinkIpvsTransport::open();
  } catch (const std::exception& error) {
    spdlog::info("cleanup: no IPVS services to remove ({})", error.what());
  }
  try {
    NetlinkVipLink link;
    for (const std::string& problem :
         IpvsProvider::cleanup(ipvs.get(), link, executor, config.iptables.chainPrefix, listLocalAddresses())) {
      spdlog::error("cleanup: {}", problem);
      rc = 1;
    }
  } catch (const std::exception& error) {
    spdlog::error("cleanup: {}", error.what());
    rc = 1;
  }
  for (const std::string& problem : IptablesProvider::cleanup(executor, config.iptables.chainPrefix)) {
    spdlog::error("cleanup: {}", problem);
    rc = 1;
  }
  for (const std::string& problem : NftablesProvider::cleanup(executor, config.nftables.tableName)) {
    spdlog::error("cleanup: {}", problem);
    rc = 1;
  }
  if (rc == 0) {
    spdlog::info("cleanup: removed nicproxy's IPVS services, kube-ipvs0, the {}-* ipsets and iptables chains and the "
                 "nftables table ip {}",
                 config.iptables.chainPrefix, config.nftables.tableName);
  }
  return rc;
}

}  // namespace nicproxy
