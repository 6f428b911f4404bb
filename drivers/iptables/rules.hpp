#pragma once
// Renders iptables-restore input in kube-proxy's layout (pkg/proxy/iptables/proxier.go,
// syncProxyRules): the same chains, chain-name hashes, rule order, comments and
// probabilities, so `iptables -t nat -L KUBE-SERVICES` reads as it does under kube-proxy.
// Pure functions: no kernel, no process; the provider decides what to write.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "control/model.hpp"

namespace nicproxy {

struct IptablesRulesOptions {
  std::string prefix = "KUBE";               // "KUBE-SERVICES", "KUBE-SVC-..."
  bool masqueradeAll = false;
  uint32_t masqueradeMark = 0x4000;          // 1 << masqueradeBit
  std::optional<Ipv4Cidr> clusterCIDR;       // traffic from outside it to a cluster IP is masqueraded
  /// nullopt: NodePorts on every local address; else on these node addresses (those
  /// of nodePortAddresses found on the node's interfaces, as kube-proxy resolves them).
  std::optional<std::vector<Ipv4>> nodePortIPs;
  /// kube-proxy's large-cluster mode (more than kLargeClusterEndpoints endpoints in all):
  /// no `-m comment` on the KUBE-SVC -> KUBE-SEP jumps and in the KUBE-SEP chains, which
  /// makes the nat table much smaller, and iptables-legacy rewrites all of it on every
  /// change. The provider sets it.
  bool largeClusterMode = false;
};

/// kube-proxy's largeClusterEndpointsThreshold.
constexpr size_t kLargeClusterEndpoints = 1000;

/// `-w` takes this many seconds to get the xtables lock (held while another program,
/// firewalld or a second iptables, changes the tables), then fails and the sync is
/// retried; a bare `-w` would wait forever. kube-proxy waits 5 s too.
inline constexpr const char* kXtablesWaitSeconds = "5";

/// The chains of the fixed layout, with the prefix applied.
struct IptablesChains {
  explicit IptablesChains(const std::string& prefix);
  std::string services, externalServices, nodePorts, postrouting, markMasq, forward, firewall;
  std::string svc, svl, ext, fw, sep;  // per-service prefixes: "KUBE-SVC-", ...
};

/// What one service port contributes. The lines in the shared chains (SERVICES,
/// NODEPORTS, filter) are rewritten on every sync; the port's own chains only when
/// the port changed, which is what keeps a one-service sync small.
struct IptablesServiceRules {
  ServicePortPtr port;                        // what these were rendered from
  std::string natServices;                    // "-A KUBE-SERVICES ..." lines
  std::string natNodePorts;                   // "-A KUBE-NODEPORTS ..." lines
  std::string filterServices;                 // filter KUBE-SERVICES (REJECT/DROP)
  std::string filterExternal;                 // filter KUBE-EXTERNAL-SERVICES
  std::string filterFirewall;                 // filter KUBE-PROXY-FIREWALL
  std::vector<std::string> ownChains;         // nat chains owned by the port (SVC, SVL, EXT, FW, SEP)
  std::string ownRules;                       // "-A <own chain> ..." lines
};

/// Renders one service port. The port's names must pass isSafeServicePortName.
IptablesServiceRules renderIptablesService(const ServicePortPtr& port, const IptablesRulesOptions& options);

/// kube-proxy's probability text: 1/n with ten decimals ("0.3333333333").
std::string iptablesProbability(size_t n);
/// kube-proxy's mark text: "%#08x" ("0x004000").
std::string iptablesMark(uint32_t mark);

/// The whole iptables-restore input (filter then nat). `writeOwn[i]` says whether the
/// own chains of `services[i]` are written (flushed and refilled) or left as they are
/// in the kernel; `staleChains` are flushed and deleted.
std::string assembleIptablesRestore(const std::vector<const IptablesServiceRules*>& services,
                                    const std::vector<bool>& writeOwn, const std::vector<std::string>& staleChains,
                                    const IptablesRulesOptions& options);

/// A partial sync that leaves every shared chain (KUBE-SERVICES, KUBE-NODEPORTS, the
/// filter chains) as it is: only the nat table, only the own chains of the services with
/// `writeOwn[i]`, and the stale chains. Right when no shared line changed (an endpoint
/// change), which spares iptables-restore re-parsing KUBE-SERVICES (one rule per
/// service address) on every sync; kube-proxy rewrites it every time.
std::string assembleIptablesOwnChainsRestore(const std::vector<const IptablesServiceRules*>& services,
                                             const std::vector<bool>& writeOwn,
                                             const std::vector<std::string>& staleChains);

/// The rules ("-A" lines) per table in iptables-restore input, as kube-proxy counts them
/// for kubeproxy_sync_proxy_rules_iptables_{total,last}{table}: chain declarations,
/// deletions and COMMIT are not rules.
struct IptablesRuleCounts {
  size_t filter = 0, nat = 0;
};
IptablesRuleCounts countIptablesRules(std::string_view restoreInput);
/// The "-A" lines of `lines` (one service's ownRules, say), whatever their table.
size_t countIptablesRuleLines(std::string_view lines);

}  // namespace nicproxy
