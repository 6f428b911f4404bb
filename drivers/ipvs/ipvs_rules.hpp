#pragma once
// What kube-proxy's IPVS mode (pkg/proxy/ipvs/proxier.go) puts in the kernel besides
// IPVS itself: its ipsets (KUBE-CLUSTER-IP, KUBE-LOOP-BACK, KUBE-NODE-PORT-TCP, ...) and
// the iptables rules that match them for masquerade, hairpin and the REJECT of unknown
// ports on service addresses. Pure functions: the provider runs `ipset restore` and
// `iptables-restore --noflush` with what these return.
#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "control/net.hpp"

namespace nicproxy {

/// kube-proxy's ipsets, in the order kube-proxy matches them (ipsetWithIptablesChain).
enum class IpvsSet : uint8_t {
  LoopBack,           // hash:ip,port,ip  local endpoint ip,proto:port,ip: hairpin masquerade
  ClusterIP,          // hash:ip,port     cluster ip,proto:port
  ExternalIP,         // hash:ip,port     external ip,proto:port (eTP Cluster)
  ExternalIPLocal,    // hash:ip,port     external ip,proto:port (eTP Local)
  LoadBalancer,       // hash:ip,port     LB ip,proto:port
  LoadBalancerLocal,  // hash:ip,port     LB ip,proto:port (eTP Local)
  NodePortLocalTCP,   // bitmap:port      node port (eTP Local): not masqueraded
  NodePortTCP,        // bitmap:port      node port: masqueraded
  NodePortLocalUDP,
  NodePortUDP,
  IpvsIPs,            // hash:ip          every address on kube-ipvs0: other ports are rejected
  LoadBalancerFW,     // hash:ip,port     LB ip,proto:port with loadBalancerSourceRanges
  LoadBalancerSourceCIDR,  // hash:ip,port,net  LB ip,proto:port,allowed source range
};
inline constexpr size_t kIpvsSetCount = 13;

using IpvsSetEntries = std::array<std::set<std::string>, kIpvsSetCount>;

struct IpvsSetSpec {
  const char* suffix;   // after "<prefix>-": "CLUSTER-IP"
  const char* type;     // "hash:ip,port"
  const char* comment;  // kube-proxy's comment for the set and its rule
};
const IpvsSetSpec& ipvsSetSpec(IpvsSet set);
/// "<prefix>-<suffix>", e.g. "KUBE-CLUSTER-IP".
std::string ipvsSetName(const std::string& prefix, IpvsSet set);

/// `ipset restore` input that makes each set in `sets` hold exactly its entries, with no
/// moment where a set is empty: the entries go into a scratch set that is swapped in.
std::string renderIpsetRestore(const std::string& prefix, const IpvsSetEntries& entries,
                               const std::vector<IpvsSet>& sets);
/// `ipset restore -exist` input that creates every set that is missing, so that the
/// iptables rules that match them can be loaded before the first fill.
std::string renderIpsetCreate(const std::string& prefix);
/// Every set name this mode may have created, scratch sets included (for cleanup).
std::vector<std::string> ipvsSetNames(const std::string& prefix);

struct IpvsIptablesOptions {
  std::string prefix = "KUBE";
  bool masqueradeAll = false;
  uint32_t masqueradeMark = 0x4000;
  std::optional<Ipv4Cidr> clusterCIDR;
};

/// The chains this mode owns, by table, besides the per-set rules.
struct IpvsChains {
  explicit IpvsChains(const std::string& prefix);
  std::string services, postrouting, markMasq, nodePort, loadBalancer, forward, ipvsFilter, ipvsOutFilter;
};

/// The whole `iptables-restore --noflush` input (filter then nat). It depends on the
/// configuration only: what changes with the services is in the ipsets.
std::string renderIpvsIptables(const IpvsIptablesOptions& options);

/// The jump rules from the built-in chains (kube-proxy's iptablesJumpChain for IPVS).
struct IpvsJump {
  const char* table;
  const char* from;
  std::string to;
  const char* comment;
};
std::vector<IpvsJump> ipvsJumps(const std::string& prefix);

}  // namespace nicproxy
