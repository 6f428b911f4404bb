#include "drivers/ipvs/ipvs_rules.hpp"

#include <spdlog/fmt/fmt.h>

#include "drivers/iptables/rules.hpp"

namespace nicproxy {
namespace {

// kube-proxy's ipsetInfo (names, types, comments).
constexpr IpvsSetSpec kSpecs[kIpvsSetCount] = {
    {"LOOP-BACK", "hash:ip,port,ip", "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose"},
    {"CLUSTER-IP", "hash:ip,port", "Kubernetes service cluster ip + port for masquerade purpose"},
    {"EXTERNAL-IP", "hash:ip,port", "Kubernetes service external ip + port for masquerade and filter purpose"},
    {"EXTERNAL-IP-LOCAL", "hash:ip,port", "Kubernetes service external ip + port with externalTrafficPolicy=local"},
    {"LOAD-BALANCER", "hash:ip,port", "Kubernetes service lb portal"},
    {"LOAD-BALANCER-LOCAL", "hash:ip,port",
     "Kubernetes service load balancer ip + port with externalTrafficPolicy=local"},
    {"NODE-PORT-LOCAL-TCP", "bitmap:port", "Kubernetes nodeport TCP port with externalTrafficPolicy=local"},
    {"NODE-PORT-TCP", "bitmap:port", "Kubernetes nodeport TCP port for masquerade purpose"},
    {"NODE-PORT-LOCAL-UDP", "bitmap:port", "Kubernetes nodeport UDP port with externalTrafficPolicy=local"},
    {"NODE-PORT-UDP", "bitmap:port", "Kubernetes nodeport UDP port for masquerade purpose"},
    {"IPVS-IPS", "hash:ip", "Kubernetes service IPVS addresses"},
    {"LOAD-BALANCER-FW", "hash:ip,port", "Kubernetes service load balancer ip + port for load balancer with sourceRange"},
    {"LOAD-BALANCER-SOURCE-CIDR", "hash:ip,port,net",
     "Kubernetes service load balancer ip + port + source cidr for packet filter purpose"},
};

std::string createArgs(const IpvsSetSpec& spec) {
  if (std::string_view(spec.type) == "bitmap:port") return "bitmap:port range 0-65535";
  return std::string(spec.type) + " family inet hashsize 1024 maxelem 65536";
}

// A scratch set per real set, for the swap; short, because ipset names stop at 31.
std::string scratchName(const std::string& prefix, size_t index) { return prefix + "-IPVS-TMP-" + std::to_string(index); }

void line(std::string& out, const std::string& text) {
  out += text;
  out += '\n';
}

}  // namespace

const IpvsSetSpec& ipvsSetSpec(IpvsSet set) { return kSpecs[static_cast<size_t>(set)]; }

std::string ipvsSetName(const std::string& prefix, IpvsSet set) { return prefix + "-" + ipvsSetSpec(set).suffix; }

std::vector<std::string> ipvsSetNames(const std::string& prefix) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kIpvsSetCount; ++i) names.push_back(ipvsSetName(prefix, static_cast<IpvsSet>(i)));
  for (size_t i = 0; i < kIpvsSetCount; ++i) names.push_back(scratchName(prefix, i));
  return names;
}

std::string renderIpsetCreate(const std::string& prefix) {
  std::string out;
  for (size_t i = 0; i < kIpvsSetCount; ++i) {
    line(out, fmt::format("create {} {}", ipvsSetName(prefix, static_cast<IpvsSet>(i)), createArgs(kSpecs[i])));
  }
  return out;
}

std::string renderIpsetRestore(const std::string& prefix, const IpvsSetEntries& entries,
                               const std::vector<IpvsSet>& sets) {
  std::string out;
  for (const IpvsSet set : sets) {
    const size_t index = static_cast<size_t>(set);
    const IpvsSetSpec& spec = kSpecs[index];
    const std::string name = ipvsSetName(prefix, set);
    const std::string scratch = scratchName(prefix, index);
    // Run with `ipset restore -exist`: create is a no-op for a set that is there.
    line(out, fmt::format("create {} {}", name, createArgs(spec)));
    line(out, fmt::format("create {} {}", scratch, createArgs(spec)));
    line(out, "flush " + scratch);
    for (const std::string& entry : entries[index]) line(out, fmt::format("add {} {}", scratch, entry));
    // swap exchanges the contents atomically; rules that match `name` see the new ones.
    line(out, fmt::format("swap {} {}", scratch, name));
    line(out, "destroy " + scratch);
  }
  return out;
}

IpvsChains::IpvsChains(const std::string& prefix)
    : services(prefix + "-SERVICES"),
      postrouting(prefix + "-POSTROUTING"),
      markMasq(prefix + "-MARK-MASQ"),
      nodePort(prefix + "-NODE-PORT"),
      loadBalancer(prefix + "-LOAD-BALANCER"),
      forward(prefix + "-FORWARD"),
      ipvsFilter(prefix + "-IPVS-FILTER"),
      ipvsOutFilter(prefix + "-IPVS-OUT-FILTER") {}

std::vector<IpvsJump> ipvsJumps(const std::string& prefix) {
  const IpvsChains c(prefix);
  return {
      {"nat", "OUTPUT", c.services, "kubernetes service portals"},
      {"nat", "PREROUTING", c.services, "kubernetes service portals"},
      {"nat", "POSTROUTING", c.postrouting, "kubernetes postrouting rules"},
      {"filter", "FORWARD", c.forward, "kubernetes forwarding rules"},
      {"filter", "INPUT", c.ipvsFilter, "kubernetes ipvs access filter"},
      {"filter", "OUTPUT", c.ipvsOutFilter, "kubernetes ipvs access filter"},
  };
}

// kube-proxy's writeIptablesRules for IPVS, with the rules for the ipsets nicproxy
// fills. Unlike kube-proxy, rules for empty sets are written too: an empty set matches
// nothing, and the text then depends on the configuration alone.
std::string renderIpvsIptables(const IpvsIptablesOptions& options) {
  const IpvsChains c(options.prefix);
  const std::string mark = iptablesMark(options.masqueradeMark);
  const auto set = [&](IpvsSet s) { return ipvsSetName(options.prefix, s); };
  const auto comment = [](IpvsSet s) { return fmt::format("-m comment --comment \"{}\"", ipvsSetSpec(s).comment); };
  std::string out;
  line(out, "*filter");
  for (const std::string* chain : {&c.forward, &c.ipvsFilter, &c.ipvsOutFilter}) line(out, ":" + *chain + " - [0:0]");
  line(out, fmt::format("-A {} -m conntrack --ctstate INVALID -j DROP", c.forward));
  line(out, fmt::format("-A {} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {}/{} -j ACCEPT",
                        c.forward, mark, mark));
  line(out, fmt::format("-A {} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
                        "RELATED,ESTABLISHED -j ACCEPT",
                        c.forward));
  // loadBalancerSourceRanges. kube-proxy marks such packets for a drop by kubelet's
  // KUBE-FIREWALL chain; nicproxy does not rely on kubelet and drops them here: LB IPs
  // are on kube-ipvs0, so their packets pass filter INPUT before IPVS (LOCAL_IN, later).
  line(out, fmt::format("-A {} {} -m set --match-set {} dst,dst -m set ! --match-set {} dst,dst,src -j DROP",
                        c.ipvsFilter, comment(IpvsSet::LoadBalancerFW), set(IpvsSet::LoadBalancerFW),
                        set(IpvsSet::LoadBalancerSourceCIDR)));
  // Service addresses are local (kube-ipvs0): without this, any host port would answer
  // on them (kubernetes#72236). Known service ports return; the rest is rejected.
  for (const IpvsSet s : {IpvsSet::LoadBalancer, IpvsSet::ClusterIP, IpvsSet::ExternalIP, IpvsSet::ExternalIPLocal}) {
    line(out, fmt::format("-A {} -m set --match-set {} dst,dst -j RETURN", c.ipvsFilter, set(s)));
  }
  line(out, fmt::format("-A {} -m conntrack --ctstate NEW -m set --match-set {} dst -j REJECT", c.ipvsFilter,
                        set(IpvsSet::IpvsIPs)));
  line(out, "COMMIT");

  line(out, "*nat");
  for (const std::string* chain : {&c.services, &c.postrouting, &c.nodePort, &c.loadBalancer, &c.markMasq}) {
    line(out, ":" + *chain + " - [0:0]");
  }
  line(out, fmt::format("-A {} {} -m set --match-set {} dst,dst,src -j MASQUERADE", c.postrouting,
                        comment(IpvsSet::LoopBack), set(IpvsSet::LoopBack)));
  line(out, fmt::format("-A {} {} -m set --match-set {} dst,dst -j {}", c.services, comment(IpvsSet::LoadBalancer),
                        set(IpvsSet::LoadBalancer), c.loadBalancer));
  line(out, fmt::format("-A {} {} -m set --match-set {} dst,dst -j RETURN", c.loadBalancer,
                        comment(IpvsSet::LoadBalancerLocal), set(IpvsSet::LoadBalancerLocal)));
  for (const auto& [local, all, protocol] : {std::tuple{IpvsSet::NodePortLocalTCP, IpvsSet::NodePortTCP, "tcp"},
                                             std::tuple{IpvsSet::NodePortLocalUDP, IpvsSet::NodePortUDP, "udp"}}) {
    line(out, fmt::format("-A {} -p {} {} -m set --match-set {} dst -j RETURN", c.nodePort, protocol, comment(local),
                          set(local)));
    line(out, fmt::format("-A {} -p {} {} -m set --match-set {} dst -j {}", c.nodePort, protocol, comment(all), set(all),
                          c.markMasq));
  }
  const std::string clusterIP = fmt::format("-A {} {} -m set --match-set {}", c.services, comment(IpvsSet::ClusterIP),
                                            set(IpvsSet::ClusterIP));
  if (options.masqueradeAll) {
    line(out, fmt::format("{} dst,dst -j {}", clusterIP, c.markMasq));
  } else if (options.clusterCIDR) {
    // Off-cluster traffic to a cluster IP may bounce off-node: masquerade it.
    line(out, fmt::format("{} dst,dst ! -s {} -j {}", clusterIP, formatIpv4Cidr(*options.clusterCIDR), c.markMasq));
  } else {
    // The node itself picks a VIP on kube-ipvs0 as its source towards a VIP.
    line(out, fmt::format("{} src,dst -j {}", clusterIP, c.markMasq));
  }
  const std::string external = fmt::format("-A {} {} -m set --match-set {} dst,dst", c.services,
                                           comment(IpvsSet::ExternalIP), set(IpvsSet::ExternalIP));
  line(out, fmt::format("{} -j {}", external, c.markMasq));
  const std::string externalLocal = fmt::format("-A {} {} -m set --match-set {} dst,dst", c.services,
                                                comment(IpvsSet::ExternalIPLocal), set(IpvsSet::ExternalIPLocal));
  for (const std::string& rule : {external, externalLocal}) {
    // Accept traffic from off the machine and traffic to addresses that are local anyway.
    line(out, rule + " -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT");
    line(out, rule + " -m addrtype --dst-type LOCAL -j ACCEPT");
  }
  line(out, fmt::format("-A {} -m addrtype --dst-type LOCAL -j {}", c.services, c.nodePort));
  line(out, fmt::format("-A {} -j {}", c.loadBalancer, c.markMasq));
  line(out, fmt::format("-A {} -m set --match-set {} dst,dst -j ACCEPT", c.services, set(IpvsSet::ClusterIP)));
  line(out, fmt::format("-A {} -m set --match-set {} dst,dst -j ACCEPT", c.services, set(IpvsSet::LoadBalancer)));
  line(out, fmt::format("-A {} -m mark ! --mark {}/{} -j RETURN", c.postrouting, mark, mark));
  line(out, fmt::format("-A {} -j MARK --xor-mark {}", c.postrouting, mark));
  line(out, fmt::format("-A {} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE "
                        "--random-fully",
                        c.postrouting));
  line(out, fmt::format("-A {} -j MARK --or-mark {}", c.markMasq, mark));
  line(out, "COMMIT");
  return out;
}

}  // namespace nicproxy
