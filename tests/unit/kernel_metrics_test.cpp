// Tests: kube-proxy's kernel dataplane metrics as the drivers record them
// (control/proxy_metrics.hpp): iptables restore failures (full and partial) and the
// rule gauges {table}, nftables sync and cleanup failures, the IPVS mode's restore
// failures. The kernel is FakeExecutor behind a wrapper that fails one command.
// Addresses: see kernel_fixtures.hpp.
#include <gtest/gtest.h>

#include <optional>
#include <stdexcept>
#include <string>

#include <prometheus/registry.h>

#include "control/proxy_metrics.hpp"
#include "drivers/iptables/iptables_provider.hpp"
#include "drivers/ipvs/ipvs_iptables.hpp"
#include "drivers/nftables/nftables_provider.hpp"
#include "kernel_fixtures.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

// FakeExecutor that fails every command named `failing` while it is set.
class FailingExecutor : public Executor {
 public:
  std::optional<std::string> failing;
  ExecResult run(const std::vector<std::string>& argv, std::string_view stdinData = {}) override {
    if (failing && argv.at(0) == *failing) {
      inner.run(argv, stdinData);
      return {.exitCode = 1, .out = {}, .err = "failed on purpose\n", .error = {}};
    }
    return inner.run(argv, stdinData);
  }
  FakeExecutor inner;
};

class KernelMetricsTest : public ::testing::Test {
 protected:
  double value(prometheus::Counter& c) { return c.Value(); }
  double rules(prometheus::Family<prometheus::Gauge>& family, const char* table) {
    return family.Add({{"table", table}}).Value();
  }

  prometheus::Registry registry_;
  ProxyMetrics metrics_{registry_};
  FailingExecutor exec_;
};

ServicePort web(std::vector<Endpoint> endpoints) {
  ServicePort p = clusterIpPort("ns1", "web", "http", "172.30.0.20", 80, std::move(endpoints));
  p.nodePort = 30080;
  return p;
}

std::vector<Endpoint> endpoints(int n) {
  static const char* addresses[] = {"10.180.0.1", "10.180.0.2", "10.180.0.3", "10.180.0.4"};
  std::vector<Endpoint> out;
  for (int i = 0; i < n; ++i) out.push_back(endpoint(addresses[i], 8080));
  return out;
}

IptablesProviderOptions iptablesOptions(ProxyMetrics& metrics) {
  IptablesProviderOptions o;
  o.rules.clusterCIDR = cidr("10.0.0.0/8");
  o.metrics = &metrics;
  return o;
}

TEST_F(KernelMetricsTest, IptablesRestoreFailuresCountFullAndPartialApart) {
  IptablesProvider provider(exec_, iptablesOptions(metrics_));
  const ServicePort dns = clusterIpPort("kube-system", "dns", "dns", "172.30.0.10", 53, endpoints(1));
  exec_.failing = "iptables-restore";
  EXPECT_THROW(provider.sync(tableOf({web(endpoints(1)), dns}), {}, true), std::runtime_error);
  EXPECT_EQ(value(metrics_.iptablesRestoreFailures), 1);
  EXPECT_EQ(value(metrics_.iptablesPartialRestoreFailures), 0);
  exec_.failing.reset();
  provider.sync(tableOf({web(endpoints(1)), dns}), {}, true);
  // An endpoint change is a partial sync; its failure counts in both.
  exec_.failing = "iptables-restore";
  const ServicePort changed = web(endpoints(2));
  EXPECT_THROW(provider.sync(tableOf({changed, dns}, 2), {changed.name}, false), std::runtime_error);
  EXPECT_EQ(value(metrics_.iptablesRestoreFailures), 2);
  EXPECT_EQ(value(metrics_.iptablesPartialRestoreFailures), 1);
  // A failure elsewhere (iptables-save) is not a restore failure.
  exec_.failing = "iptables-save";
  EXPECT_THROW(provider.sync(tableOf({changed, dns}, 3), {}, true), std::runtime_error);
  EXPECT_EQ(value(metrics_.iptablesRestoreFailures), 2);
}

// kube-proxy's gauges: _last what one sync wrote, _total what the tables hold. Checked
// against a full sync, which writes everything: the total kept across partial syncs
// must be what a full sync then writes.
TEST_F(KernelMetricsTest, IptablesRuleGaugesFollowPartialSyncs) {
  IptablesProvider provider(exec_, iptablesOptions(metrics_));
  const ServicePort dns = clusterIpPort("kube-system", "dns", "dns", "172.30.0.10", 53, endpoints(1));
  provider.sync(tableOf({web(endpoints(2)), dns}), {}, true);
  const double filterAll = rules(metrics_.iptablesRulesTotal, "filter");
  const double natAll = rules(metrics_.iptablesRulesTotal, "nat");
  EXPECT_GT(filterAll, 0);
  EXPECT_GT(natAll, 0);
  EXPECT_EQ(rules(metrics_.iptablesRulesLast, "filter"), filterAll);
  EXPECT_EQ(rules(metrics_.iptablesRulesLast, "nat"), natAll);

  // Two more endpoints: only web's own chains are written (two more SEP chains, two
  // more jumps), the shared chains stay as they are.
  const ServicePort bigger = web(endpoints(4));
  provider.sync(tableOf({bigger, dns}, 2), {bigger.name}, false);
  EXPECT_EQ(provider.lastRestoreInput().find("*filter"), std::string::npos);
  EXPECT_EQ(rules(metrics_.iptablesRulesLast, "filter"), 0);
  const double natAfterPartial = rules(metrics_.iptablesRulesTotal, "nat");
  EXPECT_LT(rules(metrics_.iptablesRulesLast, "nat"), natAfterPartial);
  EXPECT_GT(natAfterPartial, natAll);
  EXPECT_EQ(rules(metrics_.iptablesRulesTotal, "filter"), filterAll);

  provider.sync(tableOf({bigger, dns}, 3), {}, true);
  EXPECT_EQ(rules(metrics_.iptablesRulesLast, "nat"), natAfterPartial);
  EXPECT_EQ(rules(metrics_.iptablesRulesTotal, "nat"), natAfterPartial);

  // A Service removed in a partial sync: its rules leave the total.
  provider.sync(tableOf({bigger}, 4), {dns.name}, false);
  const double natWithoutDns = rules(metrics_.iptablesRulesTotal, "nat");
  EXPECT_LT(natWithoutDns, natAfterPartial);
  provider.sync(tableOf({bigger}, 5), {}, true);
  EXPECT_EQ(rules(metrics_.iptablesRulesLast, "nat"), natWithoutDns);
}

TEST(IptablesRuleCounts, CountsAppendLinesPerTable) {
  const IptablesRuleCounts counts = countIptablesRules(
      "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j REJECT\nCOMMIT\n"
      "*nat\n:KUBE-SVC-X - [0:0]\n-A KUBE-SVC-X -j KUBE-SEP-Y\n-A KUBE-SEP-Y -j DNAT\n-X KUBE-OLD\nCOMMIT\n");
  EXPECT_EQ(counts.filter, 1u);
  EXPECT_EQ(counts.nat, 2u);
  EXPECT_EQ(countIptablesRuleLines("-A A -j B\n-A B -j C\n"), 2u);
  EXPECT_EQ(countIptablesRuleLines(""), 0u);
}

NftablesProviderOptions nftOptions(ProxyMetrics& metrics, std::optional<std::string>* deletionError) {
  NftablesProviderOptions o;
  o.rules.clusterCIDR = cidr("10.0.0.0/8");
  o.metrics = &metrics;
  o.deleteObjects = [deletionError](const std::string&) { return *deletionError; };
  return o;
}

TEST_F(KernelMetricsTest, NftablesTransactionFailuresAreSyncFailuresDeletionsAreCleanupFailures) {
  std::optional<std::string> deletionError;
  NftablesProvider provider(exec_, nftOptions(metrics_, &deletionError));
  exec_.failing = "nft";
  EXPECT_THROW(provider.sync(tableOf({web(endpoints(2))}), {}, true), std::runtime_error);
  EXPECT_EQ(value(metrics_.nftablesSyncFailures), 1);
  exec_.failing.reset();
  provider.sync(tableOf({web(endpoints(2))}), {}, true);
  // One endpoint goes: the transaction goes in, the deletion of its hairpin element fails.
  deletionError = "Operation not permitted";
  const ServicePort smaller = web(endpoints(1));
  EXPECT_THROW(provider.sync(tableOf({smaller}, 2), {smaller.name}, false), std::runtime_error);
  EXPECT_EQ(value(metrics_.nftablesCleanupFailures), 1);
  EXPECT_EQ(value(metrics_.nftablesSyncFailures), 1);
}

TEST_F(KernelMetricsTest, IpvsIptablesRestoreFailureCounts) {
  IpvsIptablesOptions options;
  exec_.failing = "iptables-restore";
  EXPECT_THROW(writeIpvsIptables(exec_, options, "iptables", &metrics_), std::runtime_error);
  EXPECT_EQ(value(metrics_.iptablesRestoreFailures), 1);
  exec_.failing.reset();
  writeIpvsIptables(exec_, options, "iptables", &metrics_);
  EXPECT_EQ(value(metrics_.iptablesRestoreFailures), 1);
}

}  // namespace
}  // namespace nicproxy
