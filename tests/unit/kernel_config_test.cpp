// Tests: control/config_kernel (the iptables, nftables and ipvs sections, kernel-only
// modes without a dpdk section, dpdk.kernelFallback, Go durations).
#include <gtest/gtest.h>

#include "control/config.hpp"
#include "control/duration.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;

TEST(KernelConfig, IptablesModeNeedsNoDpdkSection) {
  const auto r = parseConfig(R"({"mode": "iptables", "clusterCIDR": "10.244.0.0/16", "servicesFile": "s.json",
    "iptables": {"masqueradeAll": true, "masqueradeBit": 12, "minSyncPeriod": "250ms", "syncPeriod": "1m30s",
                 "chainPrefix": "NICPRX"}})",
                             "/etc");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->mode, ProxyMode::Iptables);
  EXPECT_TRUE(r.config->iptables.masqueradeAll);
  EXPECT_EQ(r.config->iptables.masqueradeBit, 12);
  EXPECT_EQ(r.config->iptables.minSyncPeriod, 250ms);
  EXPECT_EQ(r.config->iptables.syncPeriod, 90s);
  EXPECT_EQ(r.config->iptables.chainPrefix, "NICPRX");
}

TEST(KernelConfig, NftablesDefaultsAndFallback) {
  const auto r = parseConfig(R"({"mode": "nftables", "servicesFile": "s.json", "nftables": {"tableName": "nicproxy"}})", "/");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->nftables.tableName, "nicproxy");
  EXPECT_EQ(r.config->nftables.minSyncPeriod, 1s);
  EXPECT_EQ(r.config->nftables.syncPeriod, 30s);
  EXPECT_EQ(r.config->iptables.chainPrefix, "KUBE");
  EXPECT_EQ(r.config->dpdk.kernelFallback, KernelFallback::None);
}

TEST(KernelConfig, KernelModesFollowAnApiServerWithoutAServicesFile) {
  for (const char* mode : {"iptables", "nftables", "ipvs"}) {
    const auto r = parseConfig(std::string(R"({"mode": ")") + mode + R"(", "clientConnection": {"kubeconfig": "/k"}})", "/");
    ASSERT_TRUE(r.ok()) << mode << ": " << testing::PrintToString(r.errors);
    EXPECT_TRUE(r.config->usesApiServer()) << mode;
    const auto inCluster = parseConfig(std::string(R"({"mode": ")") + mode + R"("})", "/");
    ASSERT_TRUE(inCluster.ok()) << mode << ": " << testing::PrintToString(inCluster.errors);
    EXPECT_TRUE(inCluster.config->usesApiServer()) << mode;
  }
}

TEST(KernelConfig, Mistakes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("iptables": {"masqueradeBit": 32})", "iptables.masqueradeBit: 32 is out of range 0..31"},
      {R"("iptables": {"chainPrefix": "kube"})", R"(iptables.chainPrefix: "kube" must be 1 to 7 characters of A-Z and 0-9)"},
      {R"("iptables": {"chainPrefix": "KUBEPROXY"})", R"(iptables.chainPrefix: "KUBEPROXY" must be 1 to 7 characters of A-Z and 0-9)"},
      {R"("iptables": {"syncPeriod": "30"})", R"(iptables.syncPeriod: "30" is not a duration such as "1s", "500ms" or "1m30s")"},
      {R"("iptables": {"bogus": 1})", "iptables.bogus: unknown key"},
      {R"("nftables": {"tableName": "kube proxy; flush ruleset"})",
       R"(nftables.tableName: "kube proxy; flush ruleset" is not an nft name (a letter, then letters, digits, - and _))"},
      {R"("ipvs": {"scheduler": "fifo"})", R"(ipvs.scheduler: "fifo" is not one of rr, wrr, lc, wlc, sh, dh, sed, nq, mh)"},
      {R"("ipvs": {"tcpTimeout": 900})", "ipvs.tcpTimeout: expected a string, got 900"},
      {R"("ipvs": {"strictArp": true})", "ipvs.strictArp: unknown key"},  // strictARP is kube-proxy's, ignored
  };
  for (const auto& [fragment, error] : cases) {
    const auto r = parseConfig(R"({"mode": "iptables", "servicesFile": "s.json", )" + fragment + "}", "/");
    EXPECT_EQ(r.errors, std::vector<std::string>{error}) << fragment;
  }
}

TEST(KernelConfig, DpdkModeStillNeedsItsSectionAndReadsKernelFallback) {
  EXPECT_EQ(parseConfig(R"({"mode": "dpdk", "servicesFile": "s.json"})", "/").errors,
            std::vector<std::string>{R"(dpdk: required when mode is "dpdk")"});
  const auto r = parseConfig(R"({"servicesFile": "s.json", "dpdk": {"ports": [{"device": "net_null0", "address": "10.0.0.1/24"}],
    "kernelFallback": "nftables"}})",
                             "/");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->dpdk.kernelFallback, KernelFallback::Nftables);
  const auto ipvs = parseConfig(R"({"servicesFile": "s.json", "dpdk": {"ports": [{"device": "net_null0", "address": "10.0.0.1/24"}],
    "kernelFallback": "ipvs"}})",
                                "/");
  ASSERT_TRUE(ipvs.ok()) << testing::PrintToString(ipvs.errors);
  EXPECT_EQ(ipvs.config->dpdk.kernelFallback, KernelFallback::Ipvs);
  const auto bad = parseConfig(R"({"servicesFile": "s.json", "dpdk": {"ports": [{"device": "net_null0", "address": "10.0.0.1/24"}],
    "kernelFallback": "pf"}})",
                               "/");
  EXPECT_EQ(bad.errors, std::vector<std::string>{R"(dpdk.kernelFallback: "pf" is not one of iptables, ipvs, nftables, none)"});
}

TEST(KernelConfig, IpvsTimeouts) {
  const auto r = parseConfig(R"({"mode": "ipvs", "servicesFile": "s.json",
    "ipvs": {"scheduler": "wlc", "tcpTimeout": "2h0m0s", "tcpFinTimeout": "30s", "udpTimeout": "1m"}})",
                             "/");
  ASSERT_TRUE(r.ok()) << testing::PrintToString(r.errors);
  EXPECT_EQ(r.config->ipvs.scheduler, "wlc");
  EXPECT_EQ(r.config->ipvs.tcpTimeout, 2h);
  EXPECT_EQ(r.config->ipvs.tcpFinTimeout, 30s);
  EXPECT_EQ(r.config->ipvs.udpTimeout, 60s);
}

TEST(KernelConfig, GoDurations) {
  EXPECT_EQ(parseGoDuration("1s"), 1s);
  EXPECT_EQ(parseGoDuration("500ms"), 500ms);
  EXPECT_EQ(parseGoDuration("1m0s"), 60s);
  EXPECT_EQ(parseGoDuration("1h"), 3600s);
  EXPECT_EQ(parseGoDuration("1.5s"), 1500ms);
  EXPECT_EQ(parseGoDuration("0"), 0ms);
  EXPECT_FALSE(parseGoDuration(""));
  EXPECT_FALSE(parseGoDuration("10"));
  EXPECT_FALSE(parseGoDuration("-1s"));
  EXPECT_FALSE(parseGoDuration("1d"));
}

}  // namespace
}  // namespace nicproxy
