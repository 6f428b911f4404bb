// Tests: the configuration as kube-proxy's (control/yaml_json, control/config_kube,
// control/config_writer, and parseConfig reading YAML).
//   YamlJson.*               YAML 1.2 core schema typing, duplicate keys with their path, syntax
//                            errors with line and column, one document only, toYaml reads back
//   ConfigFormat.*           YAML and JSON give the same Config; text starting with { is JSON
//   KubeProxyHeader.*        apiVersion and kind, when present, must be kube-proxy's
//   KubeProxyFields.*        ignored fields: one warning naming those set, zero values quiet,
//                            wrong types and unknown keys still errors
//   KubeProxyZeroValues.*    null, "", 0s mean the default
//   KubeProxyNodePortAddresses.*  "all", IPv6 CIDRs skipped, "primary"/"localhost" refused
//   HostnameOverride.*       the node name; an error when nodeName names another node
//   KubeadmFixture.*         tests/fixtures/kubeadm-kube-proxy.yaml loads, warning about bindAddress only
//   WriteConfig.*            --write-config-to's YAML loads back into the same Config; every key
//                            of a file with every field set is written
//   GoDuration.Format        formatGoDuration as Go writes durations
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>

#include "control/config.hpp"
#include "control/config_writer.hpp"
#include "control/duration.hpp"
#include "control/yaml_json.hpp"

namespace nicproxy {
namespace {

using Strings = std::vector<std::string>;
constexpr const char* kDuplicate = ": duplicate key (an object keeps only its last value; remove the others)";

boost::json::value yaml(std::string_view text, Strings* errorsOut = nullptr) {
  Strings errors;
  auto value = json::parseYaml(text, errors);
  if (errorsOut != nullptr) {
    *errorsOut = errors;
  } else {
    EXPECT_TRUE(errors.empty()) << testing::PrintToString(errors);
  }
  return value ? *value : boost::json::value("<parse failed>");
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

TEST(YamlJson, PlainScalarsAreTypedByTheCoreSchemaQuotedOnesStayStrings) {
  const auto value = yaml(R"(
int: 5
negative: -3
hex: 0x1F
octal: 0o17
float: 1.5
exponent: 1e3
yes: true
no: False
null1: null
null2: ~
empty:
quotedInt: "5"
singleQuoted: 'true'
yes11: yes
duration: 0s
cidr: 10.0.0.0/8
block: |
  two
  lines
list: [1, "a", 2.5]
emptyMap: {}
huge: 9223372036854775808
)");
  const auto& o = value.as_object();
  EXPECT_EQ(o.at("int"), boost::json::value(5));
  EXPECT_EQ(o.at("negative"), boost::json::value(-3));
  EXPECT_EQ(o.at("hex"), boost::json::value(31));
  EXPECT_EQ(o.at("octal"), boost::json::value(15));
  EXPECT_EQ(o.at("float"), boost::json::value(1.5));
  EXPECT_EQ(o.at("exponent"), boost::json::value(1000.0));
  EXPECT_EQ(o.at("yes"), boost::json::value(true));
  EXPECT_EQ(o.at("no"), boost::json::value(false));
  EXPECT_TRUE(o.at("null1").is_null());
  EXPECT_TRUE(o.at("null2").is_null());
  EXPECT_TRUE(o.at("empty").is_null());
  EXPECT_EQ(o.at("quotedInt"), boost::json::value("5"));
  EXPECT_EQ(o.at("singleQuoted"), boost::json::value("true"));
  EXPECT_EQ(o.at("yes11"), boost::json::value("yes"));  // YAML 1.1's boolean, a string in 1.2
  EXPECT_EQ(o.at("duration"), boost::json::value("0s"));
  EXPECT_EQ(o.at("cidr"), boost::json::value("10.0.0.0/8"));
  EXPECT_EQ(o.at("block"), boost::json::value("two\nlines\n"));
  EXPECT_EQ(o.at("list"), boost::json::parse(R"([1, "a", 2.5])"));
  EXPECT_EQ(o.at("emptyMap"), boost::json::value(boost::json::object()));
  EXPECT_TRUE(o.at("huge").is_uint64());
}

TEST(YamlJson, DuplicateKeysAreErrorsNamingTheirPath) {
  Strings errors;
  yaml("mode: iptables\niptables:\n  syncPeriod: 1s\n  syncPeriod: 2s\nmode: dpdk\n", &errors);
  EXPECT_EQ(errors, (Strings{std::string("iptables.syncPeriod") + kDuplicate, std::string("mode") + kDuplicate}));

  yaml("dpdk:\n  ports:\n  - device: a\n  - device: b\n    device: c\n", &errors);
  EXPECT_EQ(errors, Strings{std::string("dpdk.ports[1].device") + kDuplicate});

  // Through parseConfig, as for JSON.
  const auto result = parseConfig("mode: nftables\nmode: nftables\nservicesFile: s.json\n", "/");
  EXPECT_EQ(result.errors, Strings{std::string("mode") + kDuplicate});
}

TEST(YamlJson, SyntaxErrorsNameLineAndColumn) {
  Strings errors;
  EXPECT_FALSE(json::parseYaml("mode: nftables\niptables:\n  syncPeriod: [1s\nipvs: {}\n", errors));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("invalid YAML at line 4, column ", 0), 0u) << errors[0];

  const auto result = parseConfig("mode: nftables\n  bad indent: 1\n", "/");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].rfind("invalid YAML at line 2, column ", 0), 0u) << result.errors[0];
}

TEST(YamlJson, OneDocumentOnly) {
  Strings errors;
  EXPECT_FALSE(json::parseYaml("---\nkind: InitConfiguration\n---\nkind: KubeProxyConfiguration\n", errors));
  EXPECT_EQ(errors, Strings{"more than one YAML document in one file; give nicproxy the KubeProxyConfiguration "
                            "document alone"});
  errors.clear();
  EXPECT_TRUE(json::parseYaml("---\nmode: nftables\n", errors));  // a leading "---" is one document
  EXPECT_TRUE(errors.empty());
}

// The config fuzzer's find: yaml-cpp 0.7's LoadAll() never returns (and allocates until
// the OOM killer comes) on a line that starts with ","; parseYaml must return.
TEST(YamlJson, ALineStartingWithACommaEnds) {
  for (const char* text : {",\n", "mode: nftables\n,\n", "# comment\n, with words\nmode: nftables\n"}) {
    Strings errors;
    const auto value = json::parseYaml(text, errors);
    // Whatever yaml-cpp makes of it, the caller gets a value or an error, not a hang.
    EXPECT_TRUE(value.has_value() || !errors.empty()) << text;
  }
}

TEST(YamlJson, ToYamlReadsBackToTheSameValue) {
  const auto value = boost::json::parse(R"({
    "strings": ["0", "true", "", "null", "~", "a: b", "#x", "-", "0s", "1.5", "yes", "0x10", " padded ", "*:warning"],
    "numbers": [0, -7, 268435456], "flags": [true, false], "nothing": null,
    "nested": {"empty": {}, "list": [], "deep": {"k": "v"}}
  })");
  const std::string text = json::toYaml(value);
  EXPECT_EQ(yaml(text), value) << text;
  EXPECT_TRUE(contains(text, "nothing: null")) << text;
}

// One configuration in both formats.
constexpr const char* kYamlConfig = R"(# kube-proxy's header, nicproxy's fields beside kube-proxy's
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
nodeName: node-a
clusterCIDR: 10.244.0.0/16
nodePortAddresses: [10.50.0.0/24]
servicesFile: services.json
iptables:
  masqueradeBit: 12
  syncPeriod: 1m
  chainPrefix: NICP
conntrack:
  tcpEstablishedTimeout: 2h0m0s
)";
constexpr const char* kJsonConfig = R"({
  "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
  "mode": "iptables", "nodeName": "node-a", "clusterCIDR": "10.244.0.0/16",
  "nodePortAddresses": ["10.50.0.0/24"], "servicesFile": "services.json",
  "iptables": {"masqueradeBit": 12, "syncPeriod": "1m", "chainPrefix": "NICP"},
  "conntrack": {"tcpEstablishedTimeout": "2h0m0s"}
})";

TEST(ConfigFormat, YamlAndJsonGiveTheSameConfig) {
  const auto fromYaml = parseConfig(kYamlConfig, "/etc/nicproxy");
  const auto fromJson = parseConfig(kJsonConfig, "/etc/nicproxy");
  ASSERT_TRUE(fromYaml.ok()) << testing::PrintToString(fromYaml.errors);
  ASSERT_TRUE(fromJson.ok()) << testing::PrintToString(fromJson.errors);
  EXPECT_EQ(effectiveConfigJson(*fromYaml.config), effectiveConfigJson(*fromJson.config));
  EXPECT_EQ(fromYaml.config->mode, ProxyMode::Iptables);
  EXPECT_EQ(fromYaml.config->iptables.masqueradeBit, 12);
  EXPECT_EQ(fromYaml.config->iptables.syncPeriod, std::chrono::minutes(1));
  EXPECT_EQ(fromYaml.config->conntrack.tcpEstablishedTimeout, std::chrono::hours(2));
  EXPECT_EQ(fromYaml.config->servicesFile, "/etc/nicproxy/services.json");
}

TEST(ConfigFormat, YamlErrorsNameTheSameKeyPathsAsJson) {
  const auto result = parseConfig("mode: iptables\nservicesFile: s.json\niptables:\n  masqueradeBit: \"14\"\n"
                                  "  chainPrefx: X\n",
                                  "/");
  EXPECT_EQ(result.errors,
            (Strings{R"(iptables.masqueradeBit: expected an integer 0..31, got "14")", "iptables.chainPrefx: unknown key"}));
}

TEST(ConfigFormat, TextStartingWithABraceIsJson) {
  const auto result = parseConfig("  {\"mode\": \"iptables\",\n  \"servicesFile\" \"s.json\"}", "/");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].rfind("invalid JSON at line 2, column ", 0), 0u) << result.errors[0];
}

TEST(KubeProxyHeader, ApiVersionAndKindMustBeKubeProxysWhenPresent) {
  EXPECT_TRUE(parseConfig("mode: iptables\nservicesFile: s.json\n", "/").ok());
  EXPECT_EQ(parseConfig("apiVersion: v1\nkind: ConfigMap\nmode: iptables\nservicesFile: s.json\n", "/").errors,
            (Strings{R"(apiVersion: "v1" is not kubeproxy.config.k8s.io/v1alpha1 (the KubeProxyConfiguration )"
                     "version nicproxy reads)",
                     R"(kind: "ConfigMap" is not KubeProxyConfiguration)"}));
  EXPECT_EQ(parseConfig(R"({"apiVersion": "kubeproxy.config.k8s.io/v1alpha2", "mode": "iptables", "servicesFile": "s"})",
                        "/")
                .errors,
            Strings{R"(apiVersion: "kubeproxy.config.k8s.io/v1alpha2" is not kubeproxy.config.k8s.io/v1alpha1 )"
                    "(the KubeProxyConfiguration version nicproxy reads)"});
}

constexpr const char* kKernelBase = "mode: nftables\nservicesFile: s.json\n";

TEST(KubeProxyFields, IgnoredOnesSetToAValueGetOneWarningNamingThem) {
  const auto result = parseConfig(std::string(kKernelBase) + R"(
bindAddress: 10.0.0.1
healthzBindAddress: ""
metricsBindAddress: ""
featureGates: {NFTablesProxyMode: true}
oomScoreAdj: -999
configSyncPeriod: 15m0s
portRange: ""
clientConnection: {qps: 5, burst: 0, contentType: application/vnd.kubernetes.protobuf}
ipvs: {strictARP: true, excludeCIDRs: null}
conntrack: {maxPerCore: 32768, min: 0}
logging: {verbosity: 4, format: "", options: {json: {infoBufferSize: "0"}}}
winkernel: {enableDSR: false}
detectLocal: {interfaceNamePrefix: veth}
)",
                                  "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  ASSERT_EQ(result.warnings.size(), 1u);
  EXPECT_EQ(result.warnings[0],
            "kube-proxy settings that nicproxy ignores: bindAddress, clientConnection.contentType, "
            "clientConnection.qps, configSyncPeriod, conntrack.maxPerCore, detectLocal.interfaceNamePrefix, "
            "featureGates, ipvs.strictARP, logging.verbosity, oomScoreAdj");
}

// metricsBindAddress and healthzBindAddress as kube-proxy defaults and validates them.
TEST(KubeProxyFields, BindAddressesDefaultAsKubeProxyAndErrorsNameTheKey) {
  const auto defaults = parseConfig(std::string(kKernelBase) + "metricsBindAddress: \"\"\nhealthzBindAddress: null\n", "/");
  ASSERT_TRUE(defaults.ok()) << testing::PrintToString(defaults.errors);
  EXPECT_EQ(defaults.config->metricsBindAddress, "127.0.0.1:10249");
  EXPECT_EQ(defaults.config->healthzBindAddress, "0.0.0.0:10256");
  EXPECT_TRUE(defaults.warnings.empty()) << testing::PrintToString(defaults.warnings);

  const auto bare = parseConfig(std::string(kKernelBase) + "metricsBindAddress: 0.0.0.0\nhealthzBindAddress: '::'\n", "/");
  ASSERT_TRUE(bare.ok()) << testing::PrintToString(bare.errors);
  EXPECT_EQ(bare.config->metricsBindAddress, "0.0.0.0:10249");
  EXPECT_EQ(bare.config->healthzBindAddress, "[::]:10256");

  const auto bad = parseConfig(std::string(kKernelBase) + "metricsBindAddress: localhost:10249\nhealthzBindAddress: 0.0.0.0:0\n", "/");
  EXPECT_EQ(bad.errors, (Strings{R"(metricsBindAddress: "localhost" in "localhost:10249" is not an IP address)",
                                 R"(healthzBindAddress: port "0" in "0.0.0.0:0" is not a number from 1 to 65535)"}));
  EXPECT_EQ(parseConfig(std::string(kKernelBase) + "metricsBindAddress: 10249\n", "/").errors,
            Strings{R"(metricsBindAddress: expected a string, got 10249)"});
}

TEST(KubeProxyFields, NothingSetNothingSaid) {
  const auto result = parseConfig(kKernelBase, "/");
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.warnings.empty());
}

TEST(KubeProxyFields, WrongTypesAndUnknownKeysAreStillErrors) {
  const auto result = parseConfig(std::string(kKernelBase) + R"(
bindAddress: 5
bindAddressHardFail: "no"
featureGates: [a]
configSyncPeriod: 15
clientConnection: {qps: fast, qpz: 5}
ipvs: {excludeCIDRs: [10.0.0.0/8, 7]}
winkernel: {enableDSR: false, networkNmae: x}
logging: {verbosity: high}
bindAdress: 0.0.0.0
)",
                                  "/");
  EXPECT_EQ(result.errors, (Strings{
                               R"(clientConnection.qps: expected a number, got "fast")",
                               "clientConnection.qpz: unknown key",
                               "ipvs.excludeCIDRs[1]: expected a string, got 7",
                               "featureGates: expected an object, got an array",
                               "bindAddress: expected a string, got 5",
                               R"(bindAddressHardFail: expected true or false, got "no")",
                               "configSyncPeriod: expected a string, got 15",
                               "winkernel.networkNmae: unknown key",
                               R"(logging.verbosity: expected an integer, got "high")",
                               "bindAdress: unknown key",
                           }));
}

TEST(KubeProxyZeroValues, MeanTheDefaults) {
  const auto result = parseConfig(R"(
mode: ""
clusterCIDR: ""
nodePortAddresses: null
hostnameOverride: ""
servicesFile: s.json
clientConnection: {kubeconfig: "", qps: 0}
iptables: {masqueradeAll: false, masqueradeBit: null, minSyncPeriod: 0s, syncPeriod: 0s, localhostNodePorts: null}
nftables: {masqueradeAll: null, masqueradeBit: null, minSyncPeriod: 0s, syncPeriod: 0s}
ipvs: {scheduler: "", minSyncPeriod: 0s, syncPeriod: 0s, tcpTimeout: 0s, tcpFinTimeout: 0s, udpTimeout: 0s}
conntrack: {tcpEstablishedTimeout: null, tcpCloseWaitTimeout: null, udpTimeout: 0s, udpStreamTimeout: 0s,
            tcpBeLiberal: false, maxPerCore: null, min: null}
dpdk:
  ports: [{device: net_null0, address: 10.0.0.1/24}]
)",
                                  "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_TRUE(result.warnings.empty()) << testing::PrintToString(result.warnings);
  const Config& c = *result.config;
  const Config defaults;
  EXPECT_EQ(c.mode, ProxyMode::Dpdk);  // nicproxy's default mode
  EXPECT_FALSE(c.clusterCIDR.has_value());
  EXPECT_TRUE(c.nodePortAddresses.empty());
  EXPECT_TRUE(c.nodeName.empty());
  EXPECT_TRUE(c.clientConnection.kubeconfig.empty());
  EXPECT_EQ(c.iptables.masqueradeBit, 14);
  EXPECT_EQ(c.iptables.minSyncPeriod, std::chrono::seconds(1));
  EXPECT_EQ(c.iptables.syncPeriod, std::chrono::seconds(30));
  EXPECT_EQ(c.nftables.masqueradeBit, 14);
  EXPECT_EQ(c.nftables.minSyncPeriod, std::chrono::seconds(1));
  EXPECT_EQ(c.nftables.syncPeriod, std::chrono::seconds(30));
  EXPECT_EQ(c.ipvs.scheduler, "rr");
  EXPECT_EQ(c.ipvs.minSyncPeriod, std::chrono::seconds(1));
  EXPECT_EQ(c.ipvs.syncPeriod, std::chrono::seconds(30));
  EXPECT_EQ(c.ipvs.tcpTimeout, std::chrono::seconds(0));
  EXPECT_EQ(c.conntrack.tcpEstablishedTimeout, defaults.conntrack.tcpEstablishedTimeout);
  EXPECT_EQ(c.conntrack.tcpCloseWaitTimeout, defaults.conntrack.tcpCloseWaitTimeout);
  EXPECT_EQ(c.conntrack.udpTimeout, defaults.conntrack.udpTimeout);
  EXPECT_EQ(c.conntrack.udpStreamTimeout, defaults.conntrack.udpStreamTimeout);
}

TEST(KubeProxyZeroValues, NicproxysOwnFieldsStayStrict) {
  EXPECT_EQ(parseConfig(std::string(kKernelBase) + "nodeName: null\nconntrack: {tcpSynRecvTimeout: 0s}\n", "/").errors,
            (Strings{"nodeName: expected a string, got null",
                     R"(conntrack.tcpSynRecvTimeout: "0s" is not a duration of at least 1s (for example "15m0s"))"}));
}

TEST(KubeProxyNodePortAddresses, AllIsEveryAddressIpv6IsSkippedOtherKeywordsAreErrors) {
  const auto result = parseConfig(std::string(kKernelBase) + "nodePortAddresses: [all, \"fd00::/64\", 10.0.0.0/8]\n", "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  ASSERT_EQ(result.config->nodePortAddresses.size(), 2u);
  EXPECT_EQ(formatIpv4Cidr(result.config->nodePortAddresses[0]), "0.0.0.0/0");
  EXPECT_EQ(formatIpv4Cidr(result.config->nodePortAddresses[1]), "10.0.0.0/8");
  EXPECT_EQ(parseConfig(std::string(kKernelBase) + "nodePortAddresses: [10.0.0.0/8, primary]\n", "/").errors,
            Strings{R"(nodePortAddresses[1]: "primary" is a kube-proxy keyword nicproxy does not take; list the CIDRs )"
                    "of the node's addresses"});
}

TEST(HostnameOverride, IsTheNodeName) {
  const auto result = parseConfig(std::string(kKernelBase) + "hostnameOverride: \" Node-A \"\n", "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(result.config->nodeName, "node-a");  // as kube-proxy: trimmed, lower case
  EXPECT_TRUE(parseConfig(std::string(kKernelBase) + "nodeName: node-a\nhostnameOverride: node-a\n", "/").ok());
  EXPECT_EQ(parseConfig(std::string(kKernelBase) + "nodeName: node-a\nhostnameOverride: node-b\n", "/").errors,
            Strings{R"(hostnameOverride: "node-b" names another node than nodeName "node-a"; set one of them)"});
}

const std::filesystem::path kFixture = std::filesystem::path(NICPROXY_SOURCE_DIR) / "tests/fixtures/kubeadm-kube-proxy.yaml";

// The rule that kernel modes need a servicesFile goes away with the kernel modes following
// the API server (issue 11, part a); until then it is the one error this file may get.
constexpr const char* kKernelModesNeedServicesFile =
    "servicesFile: required in mode nftables (following an API server is supported in mode dpdk only, so far)";

TEST(KubeadmFixture, LoadsUnchangedWithOneWarningAboutBindAddress) {
  const auto result = loadConfigFile(kFixture);
  if (result.errors == Strings{kKernelModesNeedServicesFile}) {
    GTEST_SKIP() << "kernel modes do not follow an API server in this build yet: " << result.errors[0];
  }
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  // kubeadm sets bindAddress 0.0.0.0; every other field it prints is a zero value.
  EXPECT_EQ(result.warnings, Strings{"kube-proxy settings that nicproxy ignores: bindAddress"});
  const Config& c = *result.config;
  EXPECT_EQ(c.mode, ProxyMode::Nftables);
  EXPECT_EQ(c.clientConnection.kubeconfig, "/var/lib/kube-proxy/kubeconfig.conf");
  EXPECT_TRUE(c.usesApiServer());
  EXPECT_FALSE(c.clusterCIDR.has_value());
  EXPECT_TRUE(c.nodeName.empty());
  EXPECT_EQ(c.nftables.masqueradeBit, 14);
  EXPECT_EQ(c.nftables.syncPeriod, std::chrono::seconds(30));
  EXPECT_EQ(c.nftables.minSyncPeriod, std::chrono::seconds(1));
  EXPECT_EQ(c.ipvs.scheduler, "rr");
  EXPECT_EQ(c.conntrack.tcpEstablishedTimeout, std::chrono::hours(24));
}

TEST(KubeadmFixture, EveryMistakeInItIsStillFound) {
  std::ifstream in(kFixture);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_FALSE(text.empty());
  text.replace(text.find("  strictARP: false"), 17, "  strictARP: false\n  strictArp: true");
  const auto result = parseConfig(text, "/");
  EXPECT_NE(std::find(result.errors.begin(), result.errors.end(), "ipvs.strictArp: unknown key"), result.errors.end())
      << testing::PrintToString(result.errors);
}

// A configuration with every field away from its default.
constexpr const char* kEveryField = R"({
  "mode": "dpdk", "hostnameOverride": "edge-1", "clusterCIDR": "10.244.0.0/16",
  "nodePortAddresses": ["10.50.0.0/24", "192.168.1.0/24"], "servicesFile": "/srv/services.json",
  "syncPeriod": "45s", "minSyncPeriod": "250ms", "serviceProxyName": "nicproxy",
  "metricsBindAddress": "0.0.0.0:10250", "healthzBindAddress": "[::1]:10257",
  "clientConnection": {"maxResponseBytes": 2097152},
  "iptables": {"masqueradeAll": true, "masqueradeBit": 3, "minSyncPeriod": "2s", "syncPeriod": "1m30s", "chainPrefix": "NP"},
  "nftables": {"masqueradeAll": true, "masqueradeBit": 4, "minSyncPeriod": "1.5s", "syncPeriod": "2m", "tableName": "nicproxy"},
  "ipvs": {"scheduler": "wlc", "minSyncPeriod": "3s", "syncPeriod": "1h", "tcpTimeout": "15m", "tcpFinTimeout": "2m",
           "udpTimeout": "45s"},
  "conntrack": {"tcpEstablishedTimeout": "1h30m", "tcpCloseWaitTimeout": "60s", "udpTimeout": "15s",
                "udpStreamTimeout": "3m", "tcpBeLiberal": true, "tcpSynSentTimeout": "20s", "tcpSynRecvTimeout": "10s",
                "tcpFinWaitTimeout": "1m", "tcpLastAckTimeout": "15s", "tcpTimeWaitTimeout": "1m30s",
                "tcpCloseTimeout": "5s"},
  "dpdk": {
    "eal": ["-l", "0-2", "--log-level", "*:warning", "-m", "256"],
    "ports": [
      {"device": "0000:03:00.0", "address": "10.50.0.1/24", "gateway": "10.50.0.254",
       "neighbors": [{"address": "10.50.0.254", "mac": "02:00:5e:00:00:fe"}], "snatAddresses": ["10.50.0.5"]},
      {"device": "net_af_packet0,iface=veth0", "address": "10.60.0.1/32"}
    ],
    "flowTableSize": 65536, "scheduler": "roundrobin", "workers": 2, "kernelFallback": "nftables",
    "ingress": {"dropInvalidSourceMac": false, "dropMartianSources": false, "verifyIpChecksum": false,
                "dropSourceRoute": false},
    "replyRateLimit": {"perSecond": 200, "burst": 10},
    "fragments": {"maxDatagrams": 256, "timeout": "2500ms"}
  }
})";

TEST(WriteConfig, WhatIsWrittenLoadsBackIntoTheSameConfig) {
  for (const std::string& text :
       {std::string(kEveryField), std::string(kJsonConfig),
        std::string(R"({"mode": "ipvs", "clientConnection": {"kubeconfig": "/etc/kubernetes/proxy.conf"}})")}) {
    const auto original = parseConfig(text, "/etc/nicproxy");
    if (original.errors == Strings{"servicesFile: required in mode ipvs (following an API server is supported in "
                                   "mode dpdk only, so far)"}) {
      continue;  // kernel modes without a services file come with issue 11, part a
    }
    ASSERT_TRUE(original.ok()) << testing::PrintToString(original.errors);
    const std::string written = effectiveConfigYaml(*original.config);
    SCOPED_TRACE(written);
    EXPECT_EQ(written.rfind("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n", 0), 0u);
    const auto reloaded = parseConfig(written, "/elsewhere");
    ASSERT_TRUE(reloaded.ok()) << testing::PrintToString(reloaded.errors);
    EXPECT_TRUE(reloaded.warnings.empty()) << testing::PrintToString(reloaded.warnings);
    EXPECT_EQ(effectiveConfigJson(*reloaded.config), effectiveConfigJson(*original.config));
  }
}

// Every key path of `given` is in `written` (values may be spelled otherwise: "1h" is "1h0m0s").
void expectKeysWritten(const boost::json::value& given, const boost::json::value& written, const std::string& path) {
  if (given.is_object()) {
    for (const auto& entry : given.get_object()) {
      const std::string key(entry.key());
      const auto* object = written.if_object();
      const auto* value = object == nullptr ? nullptr : object->if_contains(key);
      if (value == nullptr) {
        ADD_FAILURE() << path + key << " is not written";
      } else {
        expectKeysWritten(entry.value(), *value, path + key + ".");
      }
    }
  } else if (given.is_array() && written.is_array() && given.get_array().size() == written.get_array().size()) {
    for (size_t i = 0; i < given.get_array().size(); ++i) {
      expectKeysWritten(given.get_array()[i], written.get_array()[i], path + "[" + std::to_string(i) + "].");
    }
  }
}

TEST(WriteConfig, EveryKeyGivenIsWritten) {
  const auto original = parseConfig(kEveryField, "/");
  ASSERT_TRUE(original.ok()) << testing::PrintToString(original.errors);
  expectKeysWritten(boost::json::parse(kEveryField), effectiveConfigJson(*original.config), "");
}

TEST(WriteConfig, EveryFieldIsWrittenAndReadBack) {
  const auto original = parseConfig(kEveryField, "/");
  ASSERT_TRUE(original.ok()) << testing::PrintToString(original.errors);
  const auto tmp = std::filesystem::temp_directory_path() / ("nicproxy-write-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  ASSERT_EQ(writeEffectiveConfig(*original.config, tmp / "out.yaml"), "");
  const auto reloaded = loadConfigFile(tmp / "out.yaml");
  std::filesystem::remove_all(tmp);
  ASSERT_TRUE(reloaded.ok()) << testing::PrintToString(reloaded.errors);
  // Field by field, so that a field the writer leaves out fails here even where both
  // sides of the JSON comparison above would miss it the same way.
  const Config& a = *original.config;
  const Config& b = *reloaded.config;
  EXPECT_EQ(b.nodeName, a.nodeName);
  EXPECT_EQ(formatIpv4Cidr(*b.clusterCIDR), "10.244.0.0/16");
  EXPECT_EQ(b.nodePortAddresses.size(), 2u);
  EXPECT_EQ(b.servicesFile, "/srv/services.json");
  EXPECT_EQ(b.syncPeriod, std::chrono::seconds(45));
  EXPECT_EQ(b.minSyncPeriod, std::chrono::milliseconds(250));
  EXPECT_EQ(b.serviceProxyName, "nicproxy");
  EXPECT_EQ(b.metricsBindAddress, "0.0.0.0:10250");
  EXPECT_EQ(b.healthzBindAddress, "[::1]:10257");
  EXPECT_EQ(b.clientConnection.maxResponseBytes, 2097152u);
  EXPECT_TRUE(b.iptables.masqueradeAll);
  EXPECT_EQ(b.iptables.masqueradeBit, 3);
  EXPECT_EQ(b.iptables.syncPeriod, std::chrono::seconds(90));
  EXPECT_EQ(b.iptables.chainPrefix, "NP");
  EXPECT_EQ(b.nftables.minSyncPeriod, std::chrono::milliseconds(1500));
  EXPECT_EQ(b.nftables.tableName, "nicproxy");
  EXPECT_EQ(b.ipvs.scheduler, "wlc");
  EXPECT_EQ(b.ipvs.syncPeriod, std::chrono::hours(1));
  EXPECT_EQ(b.ipvs.udpTimeout, std::chrono::seconds(45));
  EXPECT_EQ(b.conntrack.tcpEstablishedTimeout, std::chrono::minutes(90));
  EXPECT_EQ(b.conntrack.udpStreamTimeout, std::chrono::minutes(3));
  EXPECT_TRUE(b.conntrack.tcpBeLiberal);
  EXPECT_EQ(b.conntrack.tcpCloseTimeout, std::chrono::seconds(5));
  EXPECT_EQ(b.dpdk.eal, a.dpdk.eal);
  ASSERT_EQ(b.dpdk.ports.size(), 2u);
  EXPECT_EQ(formatIpv4(*b.dpdk.ports[0].gateway), "10.50.0.254");
  ASSERT_EQ(b.dpdk.ports[0].neighbors.size(), 1u);
  EXPECT_EQ(formatMac(b.dpdk.ports[0].neighbors[0].mac), "02:00:5e:00:00:fe");
  ASSERT_EQ(b.dpdk.ports[0].snatAddresses.size(), 1u);
  EXPECT_EQ(b.dpdk.ports[1].device, "net_af_packet0,iface=veth0");
  EXPECT_EQ(b.dpdk.flowTableSize, 65536u);
  EXPECT_EQ(b.dpdk.scheduler, Scheduler::RoundRobin);
  EXPECT_EQ(b.dpdk.workers, 2);
  EXPECT_EQ(b.dpdk.kernelFallback, KernelFallback::Nftables);
  EXPECT_FALSE(b.dpdk.ingress.dropInvalidSourceMac);
  EXPECT_FALSE(b.dpdk.ingress.dropSourceRoute);
  EXPECT_EQ(b.dpdk.replyRateLimit.perSecond, 200u);
  EXPECT_EQ(b.dpdk.fragments.timeout, std::chrono::milliseconds(2500));
}

TEST(WriteConfig, AnUnwritableFileSaysWhy) {
  const std::string error = writeEffectiveConfig(Config{}, "/nonexistent-dir/out.yaml");
  EXPECT_EQ(error, "/nonexistent-dir/out.yaml: cannot write: No such file or directory");
}

TEST(GoDuration, Format) {
  using std::chrono::milliseconds;
  EXPECT_EQ(formatGoDuration(milliseconds(0)), "0s");
  EXPECT_EQ(formatGoDuration(milliseconds(250)), "250ms");
  EXPECT_EQ(formatGoDuration(milliseconds(1000)), "1s");
  EXPECT_EQ(formatGoDuration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(formatGoDuration(milliseconds(90'000)), "1m30s");
  EXPECT_EQ(formatGoDuration(milliseconds(3'600'000)), "1h0m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(86'400'000)), "24h0m0s");
  EXPECT_EQ(formatGoDuration(milliseconds(3'661'010)), "1h1m1.01s");
  for (const int64_t ms : {0, 1, 999, 1001, 61'000, 3'600'001, 90'061'500}) {
    EXPECT_EQ(parseGoDuration(formatGoDuration(milliseconds(ms))), std::chrono::nanoseconds(milliseconds(ms)));
  }
}

}  // namespace
}  // namespace nicproxy
