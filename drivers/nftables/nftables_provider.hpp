#pragma once
// The nftables dataplane: one `nft -f -` transaction per sync in table `ip kube-proxy`
// (configurable). A full sync never deletes the table: it lists the chains and sets in
// the kernel, then in one transaction empties and refills every chain and map it keeps,
// adds the affinity sets without touching their elements (so that a restart keeps every
// client's affinity, as kube-proxy does) and deletes what no longer belongs. A partial one touches only the services that changed, in
// a form that keeps nft 1.0.6 from loading the whole table first (nft_partial.hpp),
// followed by the deletions of what those services no longer use, sent by
// `deleteObjects` (nicproxy: straight over netlink, nft_netlink.hpp; default: another
// `nft -f -`). A sync that fails anywhere makes the next one a full sync, whatever the
// caller asks. The nft CLI (not libnftables: it reloads the same cache after every
// commit, measured the same) runs through the Executor: the same argv+stdin path as
// iptables-restore, the exact text is what unit tests see through FakeExecutor, and a
// failing nft cannot take the daemon down with it.
// Not thread-safe: one owner (the control thread).
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/provider.hpp"
#include "drivers/exec.hpp"
#include "drivers/local_addresses.hpp"
#include "drivers/nftables/nft_inventory.hpp"
#include "drivers/nftables/nft_partial.hpp"
#include "drivers/nftables/nft_rules.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

struct NftablesProviderOptions {
  NftRulesOptions rules;
  std::vector<Ipv4Cidr> nodePortAddresses;
  LocalAddressLister localAddresses = listLocalAddresses;
  /// Runs the `delete element|chain|set` lines of a partial sync; returns an error text
  /// or nullopt. Empty: they run as one more `nft -f -` through the Executor.
  std::function<std::optional<std::string>(const std::string&)> deleteObjects;
  /// kube-proxy's nftables sync and cleanup failure counters; null: not recorded.
  ProxyMetrics* metrics = nullptr;
};

class NftablesProvider : public Provider {
 public:
  NftablesProvider(Executor& executor, NftablesProviderOptions options);

  std::string name() const override { return "nftables"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;
  /// The canary: the table, its nat-prerouting chain and that chain's jump to `services`
  /// (gone after `nft delete table` or `nft flush table`, or `flush ruleset`).
  std::optional<std::string> checkCanary() override;

  const std::string& lastTransaction() const { return lastInput_; }
  /// The deletions that followed the last partial transaction (empty after a full sync).
  const std::string& lastDeletions() const { return lastDeletions_; }

  /// Deletes table `ip <table>`; a missing table is not a problem.
  static std::vector<std::string> cleanup(Executor& executor, const std::string& table);

 private:
  NftTableObjects objectsInKernel();
  void countFailure(bool cleanup);

  Executor& executor_;
  NftablesProviderOptions options_;
  std::map<ServicePortName, std::shared_ptr<const NftServiceRules>> rendered_;  // as in the kernel
  NftElementIndex elements_;                                                     // as in the kernel
  NftHairpinUses hairpin_;                                                       // as in the kernel
  std::set<ServicePortName> warnedUnsafe_;
  std::string lastInput_;
  std::string lastDeletions_;
  bool needFullSync_ = true;  // until a sync has gone through completely
};

}  // namespace nicproxy
