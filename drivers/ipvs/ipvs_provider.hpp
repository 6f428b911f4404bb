#pragma once
// The IPVS dataplane: kube-proxy's IPVS mode from a ServiceTable snapshot.
// Every sync diffs the desired virtual and real servers against what the kernel
// reports over netlink and sends only the difference, so a restart converges without
// duplicates or leftovers. A real server that goes away is drained as kube-proxy's
// graceful termination manager does it: weight 0 first, deleted on a later sync once
// the kernel counts no active or inactive connection (UDP: deleted at once).
// Service addresses live on the kube-ipvs0 dummy interface; masquerade and the
// rejection of unknown ports on them are kube-proxy's ipsets and iptables rules.
// Kernel access goes through IpvsTransport, VipLink and Executor (fakes in tests).
// Not thread-safe: one owner (the control thread).
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "control/provider.hpp"
#include "drivers/exec.hpp"
#include "drivers/ipvs/ipvs_desired.hpp"
#include "drivers/ipvs/ipvs_netlink.hpp"
#include "drivers/ipvs/ipvs_rules.hpp"
#include "drivers/ipvs/vip_link.hpp"
#include "drivers/local_addresses.hpp"

namespace nicproxy {

class ProxyMetrics;  // control/proxy_metrics.hpp

/// Writes a sysctl such as "net/ipv4/vs/conntrack"; throws with the path on failure.
using SysctlWriter = std::function<void(const std::string& name, const std::string& value)>;
void writeProcSysctl(const std::string& name, const std::string& value);

struct IpvsProviderOptions {
  std::string scheduler = "rr";
  uint32_t tcpTimeout = 0, tcpFinTimeout = 0, udpTimeout = 0;  // seconds; all 0: not set
  IpvsIptablesOptions rules;                 // prefix, masqueradeAll, mark, clusterCIDR
  std::vector<Ipv4Cidr> nodePortAddresses;   // empty: every non-loopback local address
  LocalAddressLister localAddresses = listLocalAddresses;
  SysctlWriter writeSysctl = writeProcSysctl;
  std::string interfaceName = kIpvsDummyInterface;
  std::string iptablesCommand = "iptables";
  std::string ipsetCommand = "ipset";
  /// kube-proxy's iptables restore failures (its IPVS mode counts them too); null: not recorded.
  ProxyMetrics* metrics = nullptr;
};

class IpvsProvider : public Provider {
 public:
  IpvsProvider(IpvsTransport& transport, VipLink& link, Executor& executor, IpvsProviderOptions options);

  std::string name() const override { return "ipvs"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override;

  /// Real servers at weight 0 waiting for their last connection (virtual server, real server).
  size_t drainingCount() const { return draining_.size(); }

  /// Removes what this mode installs: the IPVS services it owns (on kube-ipvs0's
  /// addresses, or NodePorts 30000-32767 on `localAddresses`), kube-ipvs0, the ipsets
  /// and the iptables chains and jumps of this mode. `transport` null: no IPVS in the
  /// kernel, nothing to remove there. Returns the problems; empty when clean.
  static std::vector<std::string> cleanup(IpvsTransport* transport, VipLink& link, Executor& executor,
                                          const std::string& prefix, const std::vector<Ipv4>& localAddresses,
                                          const std::string& iptablesCommand = "iptables",
                                          const std::string& ipsetCommand = "ipset");

 private:
  using RealServerId = std::pair<IpvsServiceKey, std::pair<Ipv4, uint16_t>>;

  void prepareKernel();
  void reconcileDestinations(const IpvsVirtualServer& server, bool present);
  void syncSets(const IpvsSetEntries& sets, bool fullSync);
  std::vector<Ipv4> nodeIPs(const std::vector<Ipv4>& localAddresses, const std::set<Ipv4>& bound) const;

  IpvsClient client_;
  VipLink& link_;
  Executor& executor_;
  IpvsProviderOptions options_;
  bool prepared_ = false;                                   // sysctls, kube-ipvs0, iptables rules
  bool setsKnown_ = false;
  IpvsSetEntries appliedSets_;                              // as in the kernel when setsKnown_
  std::map<ServicePortName, std::vector<IpvsServiceKey>> appliedByPort_;
  std::set<RealServerId> draining_;
};

/// The IPVS provider on the real kernel: a generic-netlink socket for IPVS and an
/// rtnetlink one for kube-ipvs0. Throws when IPVS is not there.
std::unique_ptr<Provider> makeNetlinkIpvsProvider(Executor& executor, IpvsProviderOptions options);

}  // namespace nicproxy
