#pragma once
// Wraps a kernel rules provider (iptables, IPVS, nftables) with the UDP conntrack
// cleanup of conntrack.hpp: after each successful sync of the rules, the entries to
// endpoints that went away; after each full sync, also the reconciler's. Deletions come
// after the rules, or the next datagram would recreate the entry through the old rules;
// a rules sync that throws deletes nothing (the runner's retry is a full sync, which
// reconciles).
// Conntrack failures (no CAP_NET_ADMIN, no conntrack netlink in the kernel) never fail
// the sync: each kind is logged once, as a warning that says what it costs.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>

#include "control/provider.hpp"
#include "drivers/conntrack_table.hpp"
#include "drivers/local_addresses.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

struct ConntrackCleanupOptions {
  std::vector<Ipv4Cidr> nodePortAddresses;  // empty: every local address has the node ports
  LocalAddressLister localAddresses = listLocalAddresses;
  /// kube-proxy's conntrack reconciler duration and deletions; null: not recorded.
  ProxyMetrics* metrics = nullptr;
};

/// Deletions and failures so far, for logs and tests.
struct ConntrackCleanupCounts {
  uint64_t deleted = 0;            // entries deleted
  uint64_t foundByReconciler = 0;  // entries only the reconciler found stale (deleted or not)
  uint64_t failures = 0;           // dumps or deletions that failed
};

class ConntrackCleanupProvider final : public Provider {
 public:
  ConntrackCleanupProvider(std::unique_ptr<Provider> rules, std::unique_ptr<ConntrackTable> conntrack,
                           ConntrackCleanupOptions options = {});

  std::string name() const override { return rules_->name(); }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;
  // The wrapper changes no rule: the canary is the wrapped provider's.
  std::optional<std::string> checkCanary() override { return rules_->checkCanary(); }

  /// The wrapped provider, for callers that need its own interface.
  Provider& rules() { return *rules_; }
  const ConntrackCleanupCounts& counts() const { return counts_; }

 private:
  std::vector<Ipv4> nodeAddresses() const;
  void reportOnce(const std::system_error& error);

  std::unique_ptr<Provider> rules_;
  std::unique_ptr<ConntrackTable> conntrack_;
  ConntrackCleanupOptions options_;
  std::map<ServicePortName, ServicePortPtr> udpPorts_;  // the UDP ports as last synced
  std::set<int> reported_;                               // errno values already logged
  ConntrackCleanupCounts counts_;
};

/// `rules` with the cleanup over netlink (NetlinkConntrackTable), node ports on the
/// local addresses inside `nodePortAddresses` (empty: all of them); `metrics` may be null.
std::unique_ptr<Provider> withUdpConntrackCleanup(std::unique_ptr<Provider> rules,
                                                  std::vector<Ipv4Cidr> nodePortAddresses,
                                                  ProxyMetrics* metrics = nullptr);

}  // namespace nicproxy
