// Tests: drivers/ipvs/ipvs_desired (virtual servers, real servers, kube-ipvs0 addresses
// and ipset entries from a ServiceTable, as kube-proxy's IPVS proxier computes them) and
// drivers/ipvs/ipvs_rules (ipset restore and iptables-restore input, exact text), then
// the same input loaded into real netfilter and ipset in a network namespace of our own
// and removed again by IpvsProvider::cleanup. Addresses: cluster IPs 172.30.0.0/16,
// endpoints 10.180.0.0/16, external IPs 192.168.99.0/24, LB IPs 1.2.3.0/24, node
// 192.168.0.2, pod network 10.0.0.0/8.
#include <gtest/gtest.h>

#include <unistd.h>

#include "drivers/ipvs/ipvs_desired.hpp"
#include "drivers/ipvs/ipvs_iptables.hpp"
#include "drivers/ipvs/ipvs_provider.hpp"
#include "tests/kernel_fake/fake_ipvs.hpp"
#include "tests/unit/kernel_fixtures.hpp"
#include "tests/unit/scratch_namespace.hpp"

namespace nicproxy {
namespace {

using fixtures::endpoint;
using fixtures::ip;

const IpvsDesiredOptions kNode{.scheduler = "rr", .nodeIPs = {ip("192.168.0.2")}};

std::vector<std::string> destText(const IpvsDesired& desired, const char* address, Protocol protocol, uint16_t port) {
  std::vector<std::string> out;
  for (const IpvsDestination& d : desired.servers.at({ip(address), protocol, port}).destinations) {
    out.push_back(formatIpv4(d.address) + ":" + std::to_string(d.port) + " w" + std::to_string(d.weight));
  }
  return out;
}

const std::set<std::string>& entries(const IpvsDesired& desired, IpvsSet set) {
  return desired.sets[static_cast<size_t>(set)];
}

TEST(IpvsDesired, ExternalTrafficPolicyLocalUsesLocalEndpointsForExternalFrontendsOnly) {
  ServicePort p = fixtures::clusterIpPort("ns", "web", "", "172.30.0.41", 80,
                                          {endpoint("10.180.0.1", 8080, true), endpoint("10.180.0.2", 8080, false)});
  p.type = ServiceType::LoadBalancer;
  p.nodePort = 30080;
  p.externalIPs = {ip("192.168.99.11")};
  p.loadBalancerIPs = {ip("1.2.3.4")};
  p.externalTrafficPolicy = TrafficPolicy::Local;
  const IpvsDesired d = buildIpvsDesired(fixtures::tableOf({p}), kNode);
  const std::vector<std::string> both{"10.180.0.1:8080 w1", "10.180.0.2:8080 w1"};
  const std::vector<std::string> local{"10.180.0.1:8080 w1"};
  EXPECT_EQ(destText(d, "172.30.0.41", Protocol::Tcp, 80), both);
  EXPECT_EQ(destText(d, "192.168.99.11", Protocol::Tcp, 80), local);
  EXPECT_EQ(destText(d, "1.2.3.4", Protocol::Tcp, 80), local);
  EXPECT_EQ(destText(d, "192.168.0.2", Protocol::Tcp, 30080), local);
  EXPECT_EQ(d.boundAddresses, (std::set<Ipv4>{ip("1.2.3.4"), ip("172.30.0.41"), ip("192.168.99.11")}));
  EXPECT_EQ(entries(d, IpvsSet::ExternalIPLocal), (std::set<std::string>{"192.168.99.11,tcp:80"}));
  EXPECT_TRUE(entries(d, IpvsSet::ExternalIP).empty());
  EXPECT_EQ(entries(d, IpvsSet::LoadBalancer), (std::set<std::string>{"1.2.3.4,tcp:80"}));
  EXPECT_EQ(entries(d, IpvsSet::LoadBalancerLocal), (std::set<std::string>{"1.2.3.4,tcp:80"}));
  EXPECT_EQ(entries(d, IpvsSet::NodePortTCP), (std::set<std::string>{"30080"}));
  EXPECT_EQ(entries(d, IpvsSet::NodePortLocalTCP), (std::set<std::string>{"30080"}));
  EXPECT_EQ(entries(d, IpvsSet::LoopBack), (std::set<std::string>{"10.180.0.1,tcp:8080,10.180.0.1"}));
  EXPECT_EQ(entries(d, IpvsSet::IpvsIPs), (std::set<std::string>{"1.2.3.4", "172.30.0.41", "192.168.99.11"}));
  EXPECT_TRUE(entries(d, IpvsSet::LoadBalancerFW).empty());
}

TEST(IpvsDesired, LoadBalancerSourceRangesFillTheFirewallSets) {
  ServicePort p = fixtures::clusterIpPort("ns", "lb", "", "172.30.0.44", 443, {endpoint("10.180.0.1", 8443)});
  p.type = ServiceType::LoadBalancer;
  p.loadBalancerIPs = {ip("1.2.3.4")};
  p.loadBalancerSourceRanges = {fixtures::cidr("203.0.113.0/24"), fixtures::cidr("198.51.100.7/32")};
  const IpvsDesired d = buildIpvsDesired(fixtures::tableOf({p}), kNode);
  EXPECT_EQ(entries(d, IpvsSet::LoadBalancerFW), (std::set<std::string>{"1.2.3.4,tcp:443"}));
  EXPECT_EQ(entries(d, IpvsSet::LoadBalancerSourceCIDR),
            (std::set<std::string>{"1.2.3.4,tcp:443,198.51.100.7/32", "1.2.3.4,tcp:443,203.0.113.0/24"}));
}

TEST(IpvsDesired, InternalTrafficPolicyLocalWithoutLocalEndpointsLeavesTheClusterIpEmpty) {
  ServicePort p = fixtures::clusterIpPort("ns", "web", "", "172.30.0.41", 80, {endpoint("10.180.0.2", 8080, false)});
  p.internalTrafficPolicy = TrafficPolicy::Local;
  const IpvsDesired d = buildIpvsDesired(fixtures::tableOf({p}), kNode);
  EXPECT_TRUE(destText(d, "172.30.0.41", Protocol::Tcp, 80).empty());
  EXPECT_EQ(entries(d, IpvsSet::ClusterIP), (std::set<std::string>{"172.30.0.41,tcp:80"}));
}

TEST(IpvsDesired, TerminatingEndpointsOnlyWhenNoneIsReadyAndNoEndpointsMeansNoRealServers) {
  Endpoint terminating = endpoint("10.180.0.3", 8080);
  terminating.ready = false;
  terminating.serving = true;
  terminating.terminating = true;
  const ServicePort withReady =
      fixtures::clusterIpPort("ns", "a", "", "172.30.0.1", 80, {endpoint("10.180.0.1", 8080), terminating});
  const ServicePort onlyTerminating = fixtures::clusterIpPort("ns", "b", "", "172.30.0.2", 80, {terminating});
  const ServicePort none = fixtures::clusterIpPort("ns", "c", "", "172.30.0.3", 53, {}, Protocol::Udp);
  const IpvsDesired d = buildIpvsDesired(fixtures::tableOf({withReady, onlyTerminating, none}), kNode);
  EXPECT_EQ(destText(d, "172.30.0.1", Protocol::Tcp, 80), std::vector<std::string>{"10.180.0.1:8080 w1"});
  EXPECT_EQ(destText(d, "172.30.0.2", Protocol::Tcp, 80), std::vector<std::string>{"10.180.0.3:8080 w1"});
  EXPECT_TRUE(destText(d, "172.30.0.3", Protocol::Udp, 53).empty());
  EXPECT_EQ(entries(d, IpvsSet::ClusterIP),
            (std::set<std::string>{"172.30.0.1,tcp:80", "172.30.0.2,tcp:80", "172.30.0.3,udp:53"}));
}

TEST(IpvsRules, IpsetRestoreFillsAScratchSetAndSwapsIt) {
  ServicePort p = fixtures::clusterIpPort("ns", "web", "", "172.30.0.41", 80, {endpoint("10.180.0.1", 8080)});
  p.nodePort = 30080;
  const IpvsDesired d = buildIpvsDesired(fixtures::tableOf({p}), kNode);
  EXPECT_EQ(renderIpsetRestore("KUBE", d.sets, {IpvsSet::ClusterIP, IpvsSet::NodePortTCP}),
            "create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            "create KUBE-IPVS-TMP-1 hash:ip,port family inet hashsize 1024 maxelem 65536\n"
            "flush KUBE-IPVS-TMP-1\n"
            "add KUBE-IPVS-TMP-1 172.30.0.41,tcp:80\n"
            "swap KUBE-IPVS-TMP-1 KUBE-CLUSTER-IP\n"
            "destroy KUBE-IPVS-TMP-1\n"
            "create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\n"
            "create KUBE-IPVS-TMP-7 bitmap:port range 0-65535\n"
            "flush KUBE-IPVS-TMP-7\n"
            "add KUBE-IPVS-TMP-7 30080\n"
            "swap KUBE-IPVS-TMP-7 KUBE-NODE-PORT-TCP\n"
            "destroy KUBE-IPVS-TMP-7\n");
}

TEST(IpvsRules, IptablesRestoreAsKubeProxysIpvsMode) {
  IpvsIptablesOptions options;
  options.clusterCIDR = fixtures::cidr("10.0.0.0/8");
  EXPECT_EQ(renderIpvsIptables(options), R"(*filter
:KUBE-FORWARD - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x004000/0x004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -m set ! --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j DROP
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-UDP dst -j RETURN
-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m addrtype --dst-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m mark ! --mark 0x004000/0x004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x004000
COMMIT
)");
}

TEST(IpvsRules, ClusterIpMasqueradeFollowsMasqueradeAllAndClusterCidr) {
  const auto clusterRule = [](const IpvsIptablesOptions& options) {
    const std::string text = renderIpvsIptables(options);
    const size_t at = text.find("-m set --match-set KUBE-CLUSTER-IP ", text.find("*nat"));
    return text.substr(at, text.find('\n', at) - at);
  };
  IpvsIptablesOptions all;
  all.masqueradeAll = true;
  all.masqueradeMark = 0x8000;
  EXPECT_EQ(clusterRule(all), "-m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ");
  EXPECT_NE(renderIpvsIptables(all).find("-A KUBE-MARK-MASQ -j MARK --or-mark 0x008000\n"), std::string::npos);
  // Without clusterCIDR the node's own VIP-sourced connections are masqueraded.
  EXPECT_EQ(clusterRule(IpvsIptablesOptions{}), "-m set --match-set KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ");
}

TEST(IpvsRulesKernel, LoadIntoRealNetfilterInANamespaceAndCleanUp) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  const testing::ScratchNamespace scratch("npipvs");
  ASSERT_TRUE(scratch.created());
  testing::NetnsExecutor exec(scratch.name());

  ServicePort p = fixtures::clusterIpPort("ns", "web", "", "172.30.0.41", 80, {endpoint("10.180.0.1", 8080, true)});
  p.nodePort = 30080;
  p.loadBalancerIPs = {ip("1.2.3.4")};
  p.loadBalancerSourceRanges = {fixtures::cidr("203.0.113.0/24")};
  const IpvsDesired d = buildIpvsDesired(fixtures::tableOf({p}), kNode);
  IpvsIptablesOptions options;
  options.clusterCIDR = fixtures::cidr("10.0.0.0/8");
  runIpsetRestore(exec, renderIpsetCreate("KUBE"), "ipset");
  writeIpvsIptables(exec, options, "iptables");
  writeIpvsIptables(exec, options, "iptables");  // again: jumps are not duplicated
  std::vector<IpvsSet> all;
  for (size_t i = 0; i < kIpvsSetCount; ++i) all.push_back(static_cast<IpvsSet>(i));
  runIpsetRestore(exec, renderIpsetRestore("KUBE", d.sets, all), "ipset");
  runIpsetRestore(exec, renderIpsetRestore("KUBE", d.sets, all), "ipset");  // refill in place

  const ExecResult members = exec.run({"ipset", "list", "KUBE-LOOP-BACK"});
  EXPECT_NE(members.out.find("10.180.0.1,tcp:8080,10.180.0.1"), std::string::npos) << members.out;
  const ExecResult ranges = exec.run({"ipset", "list", "KUBE-LOAD-BALANCER-SOURCE-CIDR"});
  EXPECT_NE(ranges.out.find("1.2.3.4,tcp:80,203.0.113.0/24"), std::string::npos) << ranges.out;
  const ExecResult names = exec.run({"ipset", "list", "-n"});
  EXPECT_EQ(names.out.find("TMP"), std::string::npos) << "a scratch set was left: " << names.out;
  const ExecResult nat = exec.run({"iptables", "-t", "nat", "-S", "PREROUTING"});
  size_t jumps = 0;
  for (size_t at = nat.out.find("-j KUBE-SERVICES"); at != std::string::npos; at = nat.out.find("-j KUBE-SERVICES", at + 1)) {
    ++jumps;
  }
  EXPECT_EQ(jumps, 1u) << nat.out;
  EXPECT_TRUE(exec.run({"iptables", "-t", "filter", "-C", "KUBE-IPVS-FILTER", "-m", "conntrack", "--ctstate", "NEW",
                        "-m", "set", "--match-set", "KUBE-IPVS-IPS", "dst", "-j", "REJECT"})
                  .ok());

  // The IPVS mode's cleanup, then the iptables mode's, as nicproxy --cleanup runs them.
  FakeVipLink link;
  EXPECT_EQ(IpvsProvider::cleanup(nullptr, link, exec, "KUBE", {}), std::vector<std::string>{});
  EXPECT_EQ(exec.run({"ipset", "list", "-n"}).out, "");
  const ExecResult filter = exec.run({"iptables-save", "-t", "filter"});
  EXPECT_EQ(filter.out.find("KUBE-IPVS"), std::string::npos) << filter.out;
}

}  // namespace
}  // namespace nicproxy
