#pragma once
// The commands the IPVS mode runs besides netlink: iptables-restore for its rules,
// iptables -C/-I for the jumps, ipset restore for the sets; and which IPVS services
// are nicproxy's. Shared by IpvsProvider::sync and IpvsProvider::cleanup.
#include <set>
#include <string>

#include "drivers/exec.hpp"
#include "drivers/ipvs/ipvs_netlink.hpp"
#include "drivers/ipvs/ipvs_rules.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

/// NodePorts nicproxy's IPVS services use on node addresses (kube-proxy's default
/// service-node-port-range).
inline constexpr uint16_t kNodePortMin = 30000;
inline constexpr uint16_t kNodePortMax = 32767;

/// IPVS keeps no owner tag. A service is nicproxy's when its address is on kube-ipvs0
/// (`bound`), or when it is a NodePort (30000-32767) on a node address (`local`).
bool ipvsServiceIsOurs(const IpvsServiceKey& key, const std::set<Ipv4>& bound, const std::set<Ipv4>& local);

/// Writes renderIpvsIptables(options) with `iptables-restore -w 5 --noflush` and inserts
/// the missing jump rules. Throws with the command's error.
/// A failed restore counts in `metrics` (may be null) as kube-proxy's IPVS mode counts it.
void writeIpvsIptables(Executor& executor, const IpvsIptablesOptions& options, const std::string& iptablesCommand,
                       ProxyMetrics* metrics = nullptr);

/// Runs `ipset restore -exist` with `input`. Throws with the command's error.
void runIpsetRestore(Executor& executor, const std::string& input, const std::string& ipsetCommand);

}  // namespace nicproxy
