#pragma once
// The iptables dataplane: kube-proxy's iptables mode from a ServiceTable snapshot.
// One `iptables-restore --noflush` per sync. A service's own chains (KUBE-SVC/SVL/EXT/
// FW/SEP) are written only when it changed or on a full sync; the shared chains
// (KUBE-SERVICES, KUBE-NODEPORTS, the filter chains) only when one of their lines
// changed (a service added or removed, an address, a port, endpoints appearing or all
// going): an endpoint change writes the nat table's own chains and nothing else. A
// full sync also looks for stale chains with iptables-save and (re)inserts the jump
// rules from the built-in chains; a sync after a failed one is always full.
// Commands run through an Executor (argv and stdin, never a shell).
// Not thread-safe: one owner (the control thread).
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/provider.hpp"
#include "drivers/exec.hpp"
#include "drivers/iptables/rules.hpp"
#include "drivers/local_addresses.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

struct IptablesProviderOptions {
  IptablesRulesOptions rules;                // nodePortIPs is filled in from nodePortAddresses
  std::vector<Ipv4Cidr> nodePortAddresses;   // empty: every local address
  LocalAddressLister localAddresses = listLocalAddresses;
  std::string iptablesCommand = "iptables";  // the family of commands: iptables, iptables-save, iptables-restore
  /// kube-proxy's restore-failure counters and rule gauges; null: not recorded.
  ProxyMetrics* metrics = nullptr;
};

class IptablesProvider : public Provider {
 public:
  IptablesProvider(Executor& executor, IptablesProviderOptions options);

  std::string name() const override { return "iptables"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;
  /// The canary: the first jump rule from a built-in chain in each table (filter
  /// INPUT to KUBE-EXTERNAL-SERVICES, nat OUTPUT to KUBE-SERVICES), checked with `iptables -C`.
  /// A flush (`iptables -t nat -F`) removes rules but not chains, so a canary chain as
  /// kube-proxy's would miss it; a missing jump is what breaks traffic.
  std::optional<std::string> checkCanary() override;

  /// The last iptables-restore input written (tests, benchmarks, debugging).
  const std::string& lastRestoreInput() const { return lastInput_; }

  /// Removes the jump rules and every chain of this layout with `prefix`, in nat and
  /// filter (kube-proxy --cleanup). Returns the problems found; empty when clean.
  static std::vector<std::string> cleanup(Executor& executor, const std::string& prefix,
                                          const std::string& iptablesCommand = "iptables");

 private:
  void ensureJumpRules();
  std::vector<std::string> chainsInKernel(const char* table);
  void recordRuleCounts(const std::vector<const IptablesServiceRules*>& ordered, const std::vector<bool>& writeOwn,
                        bool sharedWritten);

  Executor& executor_;
  IptablesProviderOptions options_;
  std::map<ServicePortName, std::shared_ptr<const IptablesServiceRules>> rendered_;  // as in the kernel
  std::set<std::string> ownChains_;                                                  // as in the kernel
  std::set<ServicePortName> warnedUnsafe_;
  std::string lastInput_;
  bool needFullSync_ = true;  // until a sync has gone through completely
  // The rules in the kernel, for kubeproxy_sync_proxy_rules_iptables_total: the shared
  // chains' as last written, and the own chains' of every service in rendered_.
  IptablesRuleCounts sharedRules_;
  size_t ownRules_ = 0;
};

}  // namespace nicproxy
