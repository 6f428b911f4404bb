#pragma once
// The nftables dataplane: one `nft -f -` transaction per sync in table `ip kube-proxy`
// (configurable). A full sync deletes and recreates the table inside the transaction,
// so the switch is atomic; an incremental one touches only the services that changed
// (their map elements and chains), so its cost does not grow with the number of
// services. The nft CLI (not libnftables) runs through the Executor: the same
// argv+stdin path as iptables-restore, the exact transaction text is what unit tests
// see through FakeExecutor, and a failing nft cannot take the daemon down with it.
// Not thread-safe: one owner (the control thread).
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/provider.hpp"
#include "drivers/exec.hpp"
#include "drivers/local_addresses.hpp"
#include "drivers/nftables/nft_rules.hpp"

namespace nicproxy {

struct NftablesProviderOptions {
  NftRulesOptions rules;
  std::vector<Ipv4Cidr> nodePortAddresses;
  LocalAddressLister localAddresses = listLocalAddresses;
};

class NftablesProvider : public Provider {
 public:
  NftablesProvider(Executor& executor, NftablesProviderOptions options);

  std::string name() const override { return "nftables"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;

  const std::string& lastTransaction() const { return lastInput_; }

  /// Deletes table `ip <table>`; a missing table is not a problem.
  static std::vector<std::string> cleanup(Executor& executor, const std::string& table);

 private:
  Executor& executor_;
  NftablesProviderOptions options_;
  std::map<ServicePortName, std::shared_ptr<const NftServiceRules>> rendered_;  // as in the kernel
  std::set<ServicePortName> warnedUnsafe_;
  std::string lastInput_;
};

}  // namespace nicproxy
