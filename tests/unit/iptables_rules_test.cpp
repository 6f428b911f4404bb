// Tests: drivers/names, drivers/iptables/rules (exact iptables-restore text) and
// drivers/iptables/iptables_provider with FakeExecutor (partial sync, stale chains,
// jump rules, failure, unsafe names, --cleanup). UDP conntrack cleanup: conntrack_test.cpp.
// Addresses: cluster IPs 172.30.0.41-44, endpoints 10.180.0.1-3, pod network 10.0.0.0/8,
// node 192.168.0.2 (nodePortAddresses 192.168.0.0/24).
#include <gtest/gtest.h>

#include <algorithm>

#include "drivers/exec.hpp"
#include "drivers/iptables/iptables_provider.hpp"
#include "drivers/iptables/rules.hpp"
#include "drivers/names.hpp"
#include "kernel_fixtures.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

// Hashes taken from real kube-proxy output: its unit tests (ns1/svc1:p80) and the
// default services of every cluster (kubernetes, kube-dns).
TEST(IptablesNames, MatchKubeProxy) {
  EXPECT_EQ("KUBE-SVC-" + portProtoHash({"ns1", "svc1", "p80", Protocol::Tcp}), "KUBE-SVC-XPGD46QRK7WJZT7O");
  EXPECT_EQ("KUBE-SEP-" + portProtoEndpointHash({"ns1", "svc1", "p80", Protocol::Tcp}, "10.180.0.1:80"),
            "KUBE-SEP-SXIVWICOYRO3J4NJ");
  EXPECT_EQ("KUBE-SVC-" + portProtoHash({"default", "kubernetes", "https", Protocol::Tcp}), "KUBE-SVC-NPX46M4PTMTKRN6Y");
  EXPECT_EQ("KUBE-SVC-" + portProtoHash({"kube-system", "kube-dns", "dns", Protocol::Udp}), "KUBE-SVC-TCOU7JCQXEZGVUNU");
  EXPECT_EQ("KUBE-SVC-" + portProtoHash({"kube-system", "kube-dns", "dns-tcp", Protocol::Tcp}),
            "KUBE-SVC-ERIFXISQEP7F7OF4");
}

TEST(IptablesNames, ProbabilityAndMark) {
  EXPECT_EQ(iptablesProbability(3), "0.3333333333");
  EXPECT_EQ(iptablesProbability(2), "0.5000000000");
  EXPECT_EQ(iptablesMark(0x4000), "0x004000");
  EXPECT_EQ(iptablesMark(1), "0x000001");
}

TEST(IptablesNames, UnsafeNamesAreRefused) {
  EXPECT_TRUE(isSafeServicePortName({"ns1", "svc.v2", "p-80", Protocol::Tcp}));
  EXPECT_TRUE(isSafeServicePortName({"ns1", "svc1", "", Protocol::Tcp}));
  EXPECT_FALSE(isSafeServicePortName({"ns1", "svc\" -j ACCEPT", "p", Protocol::Tcp}));
  EXPECT_FALSE(isSafeServicePortName({"ns1", "svc\n-A", "p", Protocol::Tcp}));
  EXPECT_FALSE(isSafeServicePortName({"NS", "svc", "p", Protocol::Tcp}));
  EXPECT_FALSE(isSafeServicePortName({"", "svc", "p", Protocol::Tcp}));
  EXPECT_FALSE(isSafeServicePortName({"ns", "svc", "p.80", Protocol::Tcp}));
}

IptablesRulesOptions podOptions() {
  IptablesRulesOptions o;
  o.clusterCIDR = cidr("10.0.0.0/8");
  return o;
}

TEST(IptablesRules, ClusterIpWithTwoEndpointsExactText) {
  const auto port = share(clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80,
                                        {endpoint("10.180.0.1", 80), endpoint("10.180.0.2", 80)}));
  const IptablesServiceRules r = renderIptablesService(port, podOptions());
  EXPECT_EQ(r.natServices,
            "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.41 --dport 80 "
            "-j KUBE-SVC-XPGD46QRK7WJZT7O\n");
  const std::string sep1 = "KUBE-SEP-SXIVWICOYRO3J4NJ";
  const std::string sep2 = "KUBE-SEP-" + portProtoEndpointHash(port->name, "10.180.0.2:80");
  EXPECT_EQ(r.ownRules,
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 cluster IP\" -m tcp -p tcp -d "
            "172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n"
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.1:80\" -m statistic --mode "
            "random --probability 0.5000000000 -j " + sep1 + "\n"
            "-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment \"ns1/svc1:p80 -> 10.180.0.2:80\" -j " + sep2 + "\n"
            "-A " + sep1 + " -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ\n"
            "-A " + sep1 + " -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80\n"
            "-A " + sep2 + " -m comment --comment ns1/svc1:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ\n"
            "-A " + sep2 + " -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80\n");
  EXPECT_EQ(r.ownChains, (std::vector<std::string>{"KUBE-SVC-XPGD46QRK7WJZT7O", sep1, sep2}));
  EXPECT_TRUE(r.filterServices.empty());
}

TEST(IptablesRules, NoEndpointsRejectsInFilter) {
  const auto port = share(clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {}));
  const IptablesServiceRules r = renderIptablesService(port, podOptions());
  EXPECT_EQ(r.filterServices,
            "-A KUBE-SERVICES -m comment --comment \"ns1/svc1:p80 has no endpoints\" -m tcp -p tcp -d 172.30.0.41 "
            "--dport 80 -j REJECT\n");
  EXPECT_TRUE(r.natServices.empty());
  EXPECT_TRUE(r.ownChains.empty());
}

TEST(IptablesRules, PrefixMarkAndNodePortAddressesInTheFixedChains) {
  IptablesRulesOptions o = podOptions();
  o.prefix = "NICPRX";
  o.masqueradeMark = 1U << 12;
  o.nodePortIPs = std::vector<Ipv4>{ip("192.168.0.2")};
  const std::string text = assembleIptablesRestore({}, {}, {"NICPRX-SVC-OLD"}, o);
  EXPECT_EQ(text,
            "*filter\n"
            ":NICPRX-NODEPORTS - [0:0]\n:NICPRX-SERVICES - [0:0]\n:NICPRX-EXTERNAL-SERVICES - [0:0]\n"
            ":NICPRX-FORWARD - [0:0]\n:NICPRX-PROXY-FIREWALL - [0:0]\n"
            "-A NICPRX-FORWARD -m conntrack --ctstate INVALID -j DROP\n"
            "-A NICPRX-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x001000/0x001000 "
            "-j ACCEPT\n"
            "-A NICPRX-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
            "RELATED,ESTABLISHED -j ACCEPT\n"
            "COMMIT\n"
            "*nat\n"
            ":NICPRX-SERVICES - [0:0]\n:NICPRX-NODEPORTS - [0:0]\n:NICPRX-POSTROUTING - [0:0]\n"
            ":NICPRX-MARK-MASQ - [0:0]\n:NICPRX-SVC-OLD - [0:0]\n"
            "-A NICPRX-POSTROUTING -m mark ! --mark 0x001000/0x001000 -j RETURN\n"
            "-A NICPRX-POSTROUTING -j MARK --xor-mark 0x001000\n"
            "-A NICPRX-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE "
            "--random-fully\n"
            "-A NICPRX-MARK-MASQ -j MARK --or-mark 0x001000\n"
            "-X NICPRX-SVC-OLD\n"
            "-A NICPRX-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule "
            "in this chain\" -d 192.168.0.2 -j NICPRX-NODEPORTS\n"
            "COMMIT\n");
}

// --- the provider, with the kernel faked ---------------------------------------------

struct ProviderFixture : ::testing::Test {
  FakeExecutor exec;
  std::unique_ptr<IptablesProvider> provider;
  void SetUp() override {
    IptablesProviderOptions o;
    o.rules = podOptions();
    o.localAddresses = [] { return std::vector<Ipv4>{ip("192.168.0.2")}; };
    provider = std::make_unique<IptablesProvider>(exec, o);
  }
  std::vector<FakeExecutor::Call> callsOf(const std::string& program) const {
    std::vector<FakeExecutor::Call> out;
    for (const auto& c : exec.calls()) {
      if (c.argv[0] == program) out.push_back(c);
    }
    return out;
  }
};

ExecResult ok() { return {.exitCode = 0, .out = {}, .err = {}, .error = {}}; }

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(ProviderFixture, FullSyncThenOnlyChangedChainsThenStaleChainsDeleted) {
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  ServicePort b = clusterIpPort("ns2", "svc2", "p80", "172.30.0.42", 80, {endpoint("10.180.0.2", 80)});
  const std::string svcA = "KUBE-SVC-" + portProtoHash(a.name);
  const std::string svcB = "KUBE-SVC-" + portProtoHash(b.name);
  // iptables-save -t nat answers with a leftover chain from an earlier run.
  exec.pushResult({.exitCode = 0, .out = "*nat\n:KUBE-SVC-LEFTOVER1234567 - [0:0]\n:OTHER - [0:0]\nCOMMIT\n", .err = {}, .error = {}});
  provider->sync(tableOf({a, b}), {}, true);
  ASSERT_EQ(callsOf("iptables-restore").size(), 1u);
  const auto first = callsOf("iptables-restore")[0];
  EXPECT_EQ(first.argv, (std::vector<std::string>{"iptables-restore", "-w", "5", "--noflush"}));
  EXPECT_TRUE(contains(first.stdinData, ":" + svcA + " - [0:0]"));
  EXPECT_TRUE(contains(first.stdinData, ":" + svcB + " - [0:0]"));
  EXPECT_TRUE(contains(first.stdinData, "-X KUBE-SVC-LEFTOVER1234567\n"));
  EXPECT_FALSE(contains(first.stdinData, "OTHER"));
  // A full sync ensures the 12 jump rules: -C each (the fake says they exist).
  EXPECT_EQ(callsOf("iptables").size(), 12u);

  // b's endpoint changes: only b's chains are written, in the nat table; KUBE-SERVICES
  // and the filter table are left as they are (none of their lines changed).
  b.endpoints = {endpoint("10.180.0.3", 80)};
  const size_t before = exec.calls().size();
  provider->sync(tableOf({a, b}, 2), {b.name}, false);
  ASSERT_EQ(exec.calls().size(), before + 1) << "one iptables-restore, no iptables-save, no jump checks";
  const std::string second = exec.calls().back().stdinData;
  const std::string oldSep = "KUBE-SEP-" + portProtoEndpointHash(b.name, "10.180.0.2:80");
  const std::string newSep = "KUBE-SEP-" + portProtoEndpointHash(b.name, "10.180.0.3:80");
  EXPECT_EQ(second,
            "*nat\n"
            ":" + svcB + " - [0:0]\n"
            ":" + newSep + " - [0:0]\n"
            ":" + oldSep + " - [0:0]\n"
            "-A " + svcB + " -m comment --comment \"ns2/svc2:p80 cluster IP\" -m tcp -p tcp -d 172.30.0.42 --dport 80 "
            "! -s 10.0.0.0/8 -j KUBE-MARK-MASQ\n"
            "-A " + svcB + " -m comment --comment \"ns2/svc2:p80 -> 10.180.0.3:80\" -j " + newSep + "\n"
            "-A " + newSep + " -m comment --comment ns2/svc2:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ\n"
            "-A " + newSep + " -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80\n"
            "-X " + oldSep + "\n"
            "COMMIT\n");

  // b goes away: KUBE-SERVICES is rewritten without it, its chains flushed and deleted.
  provider->sync(tableOf({a}, 3), {b.name}, false);
  const std::string third = exec.calls().back().stdinData;
  EXPECT_TRUE(contains(third, "-X " + svcB + "\n"));
  EXPECT_TRUE(contains(third, "-j " + svcA + "\n"));
  EXPECT_FALSE(contains(third, "-A KUBE-SERVICES -m comment --comment \"ns2/svc2:p80"));
}

TEST_F(ProviderFixture, FailedRestoreThrowsWithStderrAndKeepsState) {
  const ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  exec.pushResult(ok());  // iptables-save
  exec.pushResult({.exitCode = 2, .out = {}, .err = "iptables-restore: line 7 failed\n", .error = {}});
  try {
    provider->sync(tableOf({a}), {}, true);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "iptables-restore failed: iptables-restore: line 7 failed");
  }
  // Nothing was recorded as written, and the next sync is a full one even though the
  // caller asks for a partial one: iptables-save for stale chains, a's chains, the jumps.
  const size_t saves = callsOf("iptables-save").size();
  provider->sync(tableOf({a}, 2), {}, false);
  EXPECT_EQ(callsOf("iptables-save").size(), saves + 1);
  const std::string restored = callsOf("iptables-restore").back().stdinData;
  EXPECT_TRUE(contains(restored, ":KUBE-SVC-" + portProtoHash(a.name) + " - [0:0]"));
  EXPECT_TRUE(contains(restored, "*filter\n"));
  EXPECT_EQ(callsOf("iptables").size(), 12u);
  // After that success a partial sync is partial again.
  provider->sync(tableOf({a}, 3), {a.name}, false);
  EXPECT_EQ(callsOf("iptables-save").size(), saves + 1);
  EXPECT_EQ(callsOf("iptables-restore").back().stdinData.rfind("*nat\n", 0), 0u);
}

TEST_F(ProviderFixture, MissingJumpRulesAreInserted) {
  exec.pushResult(ok());  // iptables-save
  exec.pushResult(ok());  // iptables-restore
  exec.pushResult({.exitCode = 1, .out = {}, .err = "Bad rule", .error = {}});  // first -C: missing
  provider->sync(tableOf({}), {}, true);
  const auto calls = callsOf("iptables");
  ASSERT_EQ(calls.size(), 13u);
  EXPECT_EQ(calls[1].argv, (std::vector<std::string>{"iptables", "-w", "5", "-t", "filter", "-I", "INPUT", "-m", "conntrack",
                                                     "--ctstate", "NEW", "-m", "comment", "--comment",
                                                     "kubernetes externally-visible service portals", "-j",
                                                     "KUBE-EXTERNAL-SERVICES"}));
}

// The canary: one `iptables -C` of a jump rule per table. `iptables -t nat -F` keeps
// the chains and removes the jumps, so it is the nat jump that goes missing.
TEST_F(ProviderFixture, CanaryChecksOneJumpRulePerTable) {
  EXPECT_EQ(provider->checkCanary(), std::nullopt) << "nothing installed yet";
  EXPECT_TRUE(exec.calls().empty());
  provider->sync(tableOf({}), {}, true);
  const size_t before = callsOf("iptables").size();
  EXPECT_EQ(provider->checkCanary(), std::nullopt);
  const auto calls = callsOf("iptables");
  ASSERT_EQ(calls.size(), before + 2);
  EXPECT_EQ(calls[before].argv, (std::vector<std::string>{"iptables", "-w", "5", "-t", "filter", "-C", "INPUT", "-m",
                                                          "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
                                                          "kubernetes externally-visible service portals", "-j",
                                                          "KUBE-EXTERNAL-SERVICES"}));
  EXPECT_EQ(calls[before + 1].argv,
            (std::vector<std::string>{"iptables", "-w", "5", "-t", "nat", "-C", "OUTPUT", "-m", "comment", "--comment",
                                      "kubernetes service portals", "-j", "KUBE-SERVICES"}));

  exec.pushResult(ok());  // filter: there
  exec.pushResult({.exitCode = 1, .out = {}, .err = "iptables: Bad rule (does a matching rule exist in that chain?).\n",
                   .error = {}});
  EXPECT_EQ(provider->checkCanary(), "the jump from nat OUTPUT to KUBE-SERVICES is gone (table flushed?): iptables: "
                                     "Bad rule (does a matching rule exist in that chain?).");
}

TEST_F(ProviderFixture, UnsafeNamesNeverReachTheRules) {
  const ServicePort bad = clusterIpPort("ns1", "svc\" -j ACCEPT #", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  const ServicePort good = clusterIpPort("ns1", "svc2", "p80", "172.30.0.42", 80, {endpoint("10.180.0.2", 80)});
  provider->sync(tableOf({bad, good}), {}, true);
  const std::string text = callsOf("iptables-restore").back().stdinData;
  EXPECT_FALSE(contains(text, "172.30.0.41"));
  EXPECT_FALSE(contains(text, "ACCEPT #"));
  EXPECT_TRUE(contains(text, "172.30.0.42"));
}

TEST(IptablesCleanup, DeletesJumpsAndOnlyOurChains) {
  FakeExecutor exec;
  exec.setDefaultResult({.exitCode = 1, .out = {}, .err = "Bad rule (does a matching rule exist?)", .error = {}});
  for (int i = 0; i < 12; ++i) exec.pushResult({.exitCode = 1, .out = {}, .err = {}, .error = {}});  // -D: none left
  exec.pushResult({.exitCode = 0, .out = "*filter\n:INPUT ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-FIREWALL - [0:0]\nCOMMIT\n", .err = {}, .error = {}});
  exec.pushResult(ok());  // restore filter
  exec.pushResult({.exitCode = 0, .out = "*nat\n:KUBE-SVC-ABC - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:DOCKER - [0:0]\nCOMMIT\n", .err = {}, .error = {}});
  exec.pushResult(ok());  // restore nat
  EXPECT_TRUE(IptablesProvider::cleanup(exec, "KUBE").empty());
  const auto& calls = exec.calls();
  ASSERT_EQ(calls.size(), 16u);
  // KUBE-FIREWALL belongs to kubelet, not to kube-proxy's layout: left alone.
  EXPECT_EQ(calls[13].stdinData, "*filter\n:KUBE-SERVICES - [0:0]\n-X KUBE-SERVICES\nCOMMIT\n");
  EXPECT_EQ(calls[15].stdinData,
            "*nat\n:KUBE-SVC-ABC - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n-X KUBE-SVC-ABC\n-X KUBE-MARK-MASQ\nCOMMIT\n");
}

}  // namespace
}  // namespace nicproxy
