// Tests: control/config (parseConfig, loadConfigFile).
//   ConfigParse.GoodFileWithEveryField        all fields read, servicesFile resolved, PCI vs vdev
//   ConfigParse.DefaultsWhenOptionalAbsent    flowTableSize, scheduler (maglev), workers, fragments, conntrack,
//                                             clusterCIDR "" unset, replyRateLimit 1000/s burst 50
//   ConfigParse.ReplyRateLimitHalfGiven       one of perSecond / burst given, the other keeps its default
//   ConfigParse.DualStackClusterCidr          the IPv6 half of "v4,v6" is ignored
//   ConfigParse.RelativeAndAbsoluteServicesFile
//   ConfigParse.DeviceKinds                   which device strings are PCI addresses
//   ConfigErrors.EachKindOfMistake            table: one mistake -> exactly the expected error(s)
//   ConfigErrors.InvalidJson                  one error with line and column
//   ConfigErrors.CollectsEveryError           several mistakes -> all reported, no config
//   ConfigSnatAddresses.*                     dpdk.ports[].snatAddresses: read, each mistake, neighbours, two ports
//   ConfigIngress.*                           dpdk.ingress: defaults on, switched off, mistakes
//   ConfigClientConnection.MaxResponseBytes  default 256 MiB, set, below 1 MiB, not a number
//   ConfigLoad.ReadsFileAndResolvesAgainstItsFolder
//   ConfigLoad.MissingFileNamesPathAndReason
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>

#include <boost/json.hpp>

#include "control/config.hpp"

namespace nicproxy {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kGoodConfig = R"({
  "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
  "kind": "KubeProxyConfiguration",
  "mode": "dpdk",
  "nodeName": "edge-1",
  "clusterCIDR": "10.244.0.0/16",
  "nodePortAddresses": ["10.50.0.0/24", "192.168.1.0/24"],
  "servicesFile": "services.json",
  "dpdk": {
    "eal": ["-l", "0-2", "--no-huge"],
    "ports": [
      {"device": "0000:03:00.0", "address": "10.50.0.1/24", "gateway": "10.50.0.254",
       "neighbors": [{"address": "10.50.0.254", "mac": "02:00:5e:00:00:fe"}]},
      {"device": "net_af_packet0,iface=veth0", "address": "10.60.0.1/32"}
    ],
    "flowTableSize": 65536,
    "scheduler": "random",
    "workers": 2,
    "replyRateLimit": {"perSecond": 200, "burst": 10},
    "fragments": {"maxDatagrams": 256, "timeout": "2500ms"}
  },
  "conntrack": {"tcpEstablishedTimeout": "1h30m", "tcpCloseWaitTimeout": "60s", "udpTimeout": "15s",
                "udpStreamTimeout": "2m0s", "maxPerCore": 32768, "min": 131072, "tcpBeLiberal": true,
                "tcpSynSentTimeout": "20s", "tcpSynRecvTimeout": "10s", "tcpFinWaitTimeout": "1m",
                "tcpLastAckTimeout": "15s", "tcpTimeWaitTimeout": "1m30s", "tcpCloseTimeout": "5s"}
})";

// The good config with one change applied, so each bad case differs in one place.
std::string goodWith(const std::function<void(boost::json::object&)>& change) {
  auto value = boost::json::parse(kGoodConfig);
  change(value.as_object());
  return boost::json::serialize(value);
}

boost::json::object& dpdkOf(boost::json::object& top) { return top["dpdk"].as_object(); }
boost::json::object& fragmentsOf(boost::json::object& top) { return dpdkOf(top)["fragments"].as_object(); }
boost::json::object& portOf(boost::json::object& top, size_t i) {
  return dpdkOf(top)["ports"].as_array()[i].as_object();
}

TEST(ConfigParse, GoodFileWithEveryField) {
  const auto result = parseConfig(kGoodConfig, "/etc/nicproxy");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  const Config& config = *result.config;
  EXPECT_EQ(config.mode, ProxyMode::Dpdk);
  EXPECT_EQ(config.nodeName, "edge-1");
  ASSERT_TRUE(config.clusterCIDR.has_value());
  EXPECT_EQ(formatIpv4Cidr(*config.clusterCIDR), "10.244.0.0/16");
  ASSERT_EQ(config.nodePortAddresses.size(), 2u);
  EXPECT_EQ(formatIpv4Cidr(config.nodePortAddresses[1]), "192.168.1.0/24");
  EXPECT_EQ(config.servicesFile, "/etc/nicproxy/services.json");
  EXPECT_EQ(config.dpdk.eal, (Strings{"-l", "0-2", "--no-huge"}));
  ASSERT_EQ(config.dpdk.ports.size(), 2u);
  EXPECT_EQ(config.dpdk.ports[0].device, "0000:03:00.0");
  EXPECT_TRUE(config.dpdk.ports[0].isPci);
  EXPECT_EQ(formatIpv4Cidr(config.dpdk.ports[0].address), "10.50.0.1/24");
  ASSERT_TRUE(config.dpdk.ports[0].gateway.has_value());
  EXPECT_EQ(formatIpv4(*config.dpdk.ports[0].gateway), "10.50.0.254");
  ASSERT_EQ(config.dpdk.ports[0].neighbors.size(), 1u);
  EXPECT_EQ(formatIpv4(config.dpdk.ports[0].neighbors[0].address), "10.50.0.254");
  EXPECT_EQ(formatMac(config.dpdk.ports[0].neighbors[0].mac), "02:00:5e:00:00:fe");
  EXPECT_TRUE(config.dpdk.ports[1].neighbors.empty());
  EXPECT_FALSE(config.dpdk.ports[1].isPci);
  EXPECT_FALSE(config.dpdk.ports[1].gateway.has_value());
  EXPECT_EQ(config.dpdk.ports[1].address.prefixLength, 32);
  EXPECT_EQ(config.dpdk.flowTableSize, 65536u);
  EXPECT_EQ(config.dpdk.scheduler, Scheduler::Random);
  EXPECT_EQ(config.dpdk.workers, 2);
  EXPECT_EQ(config.dpdk.replyRateLimit.perSecond, 200u);
  EXPECT_EQ(config.dpdk.replyRateLimit.burst, 10u);
  EXPECT_EQ(config.dpdk.fragments.maxDatagrams, 256u);
  EXPECT_EQ(config.dpdk.fragments.timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(config.conntrack.tcpEstablishedTimeout, std::chrono::minutes(90));
  EXPECT_EQ(config.conntrack.tcpCloseWaitTimeout, std::chrono::seconds(60));
  EXPECT_EQ(config.conntrack.udpTimeout, std::chrono::seconds(15));
  EXPECT_EQ(config.conntrack.udpStreamTimeout, std::chrono::seconds(120));
  EXPECT_TRUE(config.conntrack.tcpBeLiberal);
  EXPECT_EQ(config.conntrack.tcpSynSentTimeout, std::chrono::seconds(20));
  EXPECT_EQ(config.conntrack.tcpSynRecvTimeout, std::chrono::seconds(10));
  EXPECT_EQ(config.conntrack.tcpFinWaitTimeout, std::chrono::seconds(60));
  EXPECT_EQ(config.conntrack.tcpLastAckTimeout, std::chrono::seconds(15));
  EXPECT_EQ(config.conntrack.tcpTimeWaitTimeout, std::chrono::seconds(90));
  EXPECT_EQ(config.conntrack.tcpCloseTimeout, std::chrono::seconds(5));
}

TEST(ConfigParse, DefaultsWhenOptionalAbsent) {
  const auto result = parseConfig(R"({"servicesFile": "/s.json", "clusterCIDR": "",
                                      "dpdk": {"ports": [{"device": "net_tap0", "address": "10.0.0.1/24"}]}})",
                                  "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(result.config->mode, ProxyMode::Dpdk);
  EXPECT_FALSE(result.config->clusterCIDR.has_value());
  EXPECT_TRUE(result.config->nodePortAddresses.empty());
  EXPECT_EQ(result.config->dpdk.flowTableSize, 1048576u);
  EXPECT_EQ(result.config->dpdk.scheduler, Scheduler::Maglev);
  EXPECT_EQ(result.config->dpdk.workers, 0);
  EXPECT_EQ(result.config->dpdk.replyRateLimit.perSecond, 1000u);
  EXPECT_EQ(result.config->dpdk.replyRateLimit.burst, 50u);
  EXPECT_EQ(result.config->dpdk.fragments.maxDatagrams, 1024u);
  EXPECT_EQ(result.config->dpdk.fragments.timeout, std::chrono::seconds(5));
  EXPECT_EQ(result.config->conntrack.tcpEstablishedTimeout, std::chrono::hours(24));
  EXPECT_EQ(result.config->conntrack.udpTimeout, std::chrono::seconds(30));
  EXPECT_FALSE(result.config->conntrack.tcpBeLiberal);
  EXPECT_EQ(result.config->conntrack.tcpSynSentTimeout, std::chrono::seconds(30));
  EXPECT_EQ(result.config->conntrack.tcpSynRecvTimeout, std::chrono::seconds(30));
  EXPECT_EQ(result.config->conntrack.tcpCloseWaitTimeout, std::chrono::hours(1));
  EXPECT_EQ(result.config->conntrack.tcpTimeWaitTimeout, std::chrono::seconds(120));
  EXPECT_TRUE(result.config->dpdk.eal.empty());
}

TEST(ConfigParse, ReplyRateLimitHalfGiven) {
  auto result = parseConfig(goodWith([](auto& top) { dpdkOf(top)["replyRateLimit"] = {{"perSecond", 0}}; }), "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(result.config->dpdk.replyRateLimit.perSecond, 0u) << "0: no limit";
  EXPECT_EQ(result.config->dpdk.replyRateLimit.burst, 50u);
  result = parseConfig(goodWith([](auto& top) { dpdkOf(top)["replyRateLimit"] = {{"burst", 1}}; }), "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(result.config->dpdk.replyRateLimit.perSecond, 1000u);
  EXPECT_EQ(result.config->dpdk.replyRateLimit.burst, 1u);
}

TEST(ConfigParse, DualStackClusterCidr) {
  const auto result =
      parseConfig(goodWith([](auto& top) { top["clusterCIDR"] = "fd00:10::/56,10.244.0.0/16"; }), "/etc");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(formatIpv4Cidr(result.config->clusterCIDR.value()), "10.244.0.0/16");
}

TEST(ConfigParse, RelativeAndAbsoluteServicesFile) {
  const struct {
    const char* value;
    const char* baseDir;
    const char* expected;
  } cases[] = {
      {"services.json", "/etc/nicproxy", "/etc/nicproxy/services.json"},
      {"../shared/services.json", "/etc/nicproxy", "/etc/shared/services.json"},
      {"/var/lib/nicproxy/services.json", "/etc/nicproxy", "/var/lib/nicproxy/services.json"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.value);
    const auto result = parseConfig(goodWith([&](auto& top) { top["servicesFile"] = c.value; }), c.baseDir);
    ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
    EXPECT_EQ(result.config->servicesFile, c.expected);
  }
}

TEST(ConfigParse, DeviceKinds) {
  const struct {
    const char* device;
    bool isPci;
  } cases[] = {
      {"0000:03:00.0", true},       {"03:00.0", true},          {"0000:af:1f.7", true},
      {"0000:03:00.0,rxq=2", true}, {"net_af_packet0,iface=veth0", false},
      {"net_tap0", false},          {"0000:03:00.8", false},    {"03:00", false},
      {"net_memif0,socket-abstract=no", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.device);
    const auto result = parseConfig(goodWith([&](auto& top) {
                                      portOf(top, 0)["device"] = c.device;
                                      portOf(top, 1)["device"] = "net_tap9";
                                    }),
                                    "/");
    ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
    EXPECT_EQ(result.config->dpdk.ports[0].isPci, c.isPci);
  }
}

TEST(ConfigErrors, EachKindOfMistake) {
  const struct {
    const char* description;
    std::function<void(boost::json::object&)> change;
    std::vector<std::string> errors;
  } cases[] = {
      {"unknown top-level key", [](auto& top) { top["modee"] = "dpdk"; }, {"modee: unknown key"}},
      {"unknown nested key", [](auto& top) { portOf(top, 1)["gatway"] = "10.60.0.2"; },
       {"dpdk.ports[1].gatway: unknown key"}},
      {"unknown dpdk key", [](auto& top) { dpdkOf(top)["lcores"] = 4; }, {"dpdk.lcores: unknown key"}},
      {"mode of the wrong type", [](auto& top) { top["mode"] = 5; }, {"mode: expected a string, got 5"}},
      {"null is a wrong type, not absent", [](auto& top) { top["nodeName"] = nullptr; },
       {"nodeName: expected a string, got null"}},
      {"eal entry not a string", [](auto& top) { dpdkOf(top)["eal"].as_array()[1] = 2; },
       {"dpdk.eal[1]: expected a string, got 2"}},
      {"bad address", [](auto& top) { portOf(top, 0)["address"] = "10.50.0.300/24"; },
       {R"(dpdk.ports[0].address: "10.50.0.300/24" is not a valid CIDR)"}},
      {"address without prefix", [](auto& top) { portOf(top, 0)["address"] = "10.50.0.1"; },
       {R"(dpdk.ports[0].address: "10.50.0.1" is not a valid CIDR)"}},
      {"prefix /33", [](auto& top) { portOf(top, 0)["address"] = "10.50.0.1/33"; },
       {R"(dpdk.ports[0].address: "10.50.0.1/33" is not a valid CIDR)"}},
      {"missing address", [](auto& top) { portOf(top, 1).erase("address"); },
       {"dpdk.ports[1].address: required, or left out with prefixLength given, for an address found per node "
        "(--dpdk-port-address 1=CIDR, NICPROXY_DPDK_PORT1_ADDRESS or the Node's InternalIP)"}},
      {"missing device", [](auto& top) { portOf(top, 1).erase("device"); }, {"dpdk.ports[1].device: required"}},
      {"empty device", [](auto& top) { portOf(top, 1)["device"] = ""; }, {"dpdk.ports[1].device: must not be empty"}},
      {"same device twice", [](auto& top) { portOf(top, 1)["device"] = "0000:03:00.0"; },
       {R"(dpdk.ports[1].device: "0000:03:00.0" is the same device as dpdk.ports[0] (0000:03:00.0))"}},
      {"gateway outside the subnet", [](auto& top) { portOf(top, 0)["gateway"] = "10.60.0.1"; },
       {"dpdk.ports[0].gateway: 10.60.0.1 is not inside 10.50.0.1/24"}},
      {"gateway not an address", [](auto& top) { portOf(top, 0)["gateway"] = "10.50.0"; },
       {R"(dpdk.ports[0].gateway: "10.50.0" is not a valid IPv4 address)"}},
      {"gateway is the port itself", [](auto& top) { portOf(top, 0)["gateway"] = "10.50.0.1"; },
       {"dpdk.ports[0].gateway: 10.50.0.1 is the port's own address"}},
      {"neighbor off the subnet",
       [](auto& top) { portOf(top, 0)["neighbors"].as_array()[0].as_object()["address"] = "10.60.0.9"; },
       {"dpdk.ports[0].neighbors[0].address: 10.60.0.9 is not another host on 10.50.0.1/24"}},
      {"neighbor is the port itself",
       [](auto& top) { portOf(top, 0)["neighbors"].as_array()[0].as_object()["address"] = "10.50.0.1"; },
       {"dpdk.ports[0].neighbors[0].address: 10.50.0.1 is not another host on 10.50.0.1/24"}},
      {"neighbor MAC malformed",
       [](auto& top) { portOf(top, 0)["neighbors"].as_array()[0].as_object()["mac"] = "02-00-5e-00-00-fe"; },
       {R"(dpdk.ports[0].neighbors[0].mac: "02-00-5e-00-00-fe" is not a MAC address (six hex pairs separated by ':'))"}},
      {"neighbor MAC multicast",
       [](auto& top) { portOf(top, 0)["neighbors"].as_array()[0].as_object()["mac"] = "01:00:5e:00:00:01"; },
       {"dpdk.ports[0].neighbors[0].mac: 01:00:5e:00:00:01 is not a unicast MAC address"}},
      {"neighbor without a MAC", [](auto& top) { portOf(top, 0)["neighbors"].as_array()[0].as_object().erase("mac"); },
       {"dpdk.ports[0].neighbors[0].mac: required"}},
      {"neighbor listed twice",
       [](auto& top) {
         auto& list = portOf(top, 0)["neighbors"].as_array();
         list.push_back(list[0]);
       },
       {"dpdk.ports[0].neighbors[1].address: 10.50.0.254 is listed twice"}},
      {"flowTableSize a string", [](auto& top) { dpdkOf(top)["flowTableSize"] = "big"; },
       {R"(dpdk.flowTableSize: expected a positive integer, got "big")"}},
      {"flowTableSize fractional", [](auto& top) { dpdkOf(top)["flowTableSize"] = 1.5; },
       {"dpdk.flowTableSize: expected a positive integer, got 1.5"}},
      {"flowTableSize too small", [](auto& top) { dpdkOf(top)["flowTableSize"] = 100; },
       {"dpdk.flowTableSize: 100 is out of range 1024..67108864"}},
      {"flowTableSize negative", [](auto& top) { dpdkOf(top)["flowTableSize"] = -1; },
       {"dpdk.flowTableSize: -1 is out of range 1024..67108864"}},
      {"flowTableSize too large", [](auto& top) { dpdkOf(top)["flowTableSize"] = int64_t{1} << 27; },
       {"dpdk.flowTableSize: 134217728 is out of range 1024..67108864"}},
      {"mode unknown", [](auto& top) { top["mode"] = "userspace"; },
       {R"(mode: "userspace" is not one of dpdk, iptables, ipvs, nftables)"}},
      {"workers negative", [](auto& top) { dpdkOf(top)["workers"] = -1; },
       {"dpdk.workers: -1 is out of range 0..128"}},
      {"replyRateLimit.perSecond negative",
       [](auto& top) { dpdkOf(top)["replyRateLimit"].as_object()["perSecond"] = -5; },
       {"dpdk.replyRateLimit.perSecond: -5 is out of range 0..10000000 (0: no limit)"}},
      {"replyRateLimit.perSecond a string",
       [](auto& top) { dpdkOf(top)["replyRateLimit"].as_object()["perSecond"] = "1000/s"; },
       {R"(dpdk.replyRateLimit.perSecond: expected a non-negative integer, got "1000/s")"}},
      {"replyRateLimit.burst zero", [](auto& top) { dpdkOf(top)["replyRateLimit"].as_object()["burst"] = 0; },
       {"dpdk.replyRateLimit.burst: 0 is out of range 1..1000000"}},
      {"replyRateLimit unknown key", [](auto& top) { dpdkOf(top)["replyRateLimit"].as_object()["rate"] = 5; },
       {"dpdk.replyRateLimit.rate: unknown key"}},
      {"replyRateLimit not an object", [](auto& top) { dpdkOf(top)["replyRateLimit"] = 1000; },
       {"dpdk.replyRateLimit: expected an object, got 1000"}},
      {"fragments.maxDatagrams negative", [](auto& top) { fragmentsOf(top)["maxDatagrams"] = -1; },
       {"dpdk.fragments.maxDatagrams: -1 is out of range 0..65536"}},
      {"fragments.maxDatagrams too large", [](auto& top) { fragmentsOf(top)["maxDatagrams"] = 65537; },
       {"dpdk.fragments.maxDatagrams: 65537 is out of range 0..65536"}},
      {"fragments.maxDatagrams a string", [](auto& top) { fragmentsOf(top)["maxDatagrams"] = "many"; },
       {R"(dpdk.fragments.maxDatagrams: expected a non-negative integer, got "many")"}},
      {"fragments.timeout not a duration", [](auto& top) { fragmentsOf(top)["timeout"] = "5"; },
       {R"(dpdk.fragments.timeout: "5" is not a duration from 100ms to 1m (for example "5s"))"}},
      {"fragments.timeout too short", [](auto& top) { fragmentsOf(top)["timeout"] = "10ms"; },
       {R"(dpdk.fragments.timeout: "10ms" is not a duration from 100ms to 1m (for example "5s"))"}},
      {"fragments.timeout too long", [](auto& top) { fragmentsOf(top)["timeout"] = "2m"; },
       {R"(dpdk.fragments.timeout: "2m" is not a duration from 100ms to 1m (for example "5s"))"}},
      {"fragments unknown key", [](auto& top) { fragmentsOf(top)["maxFragments"] = 8; },
       {"dpdk.fragments.maxFragments: unknown key"}},
      {"fragments not an object", [](auto& top) { dpdkOf(top)["fragments"] = 1024; },
       {"dpdk.fragments: expected an object, got 1024"}},
      {"conntrack timeout not a duration", [](auto& top) { top["conntrack"] = boost::json::object{{"udpTimeout", "30"}}; },
       {R"(conntrack.udpTimeout: "30" is not a duration of at least 1s (for example "15m0s"))"}},
      {"conntrack tcpBeLiberal not a boolean",
       [](auto& top) { top["conntrack"] = boost::json::object{{"tcpBeLiberal", "yes"}}; },
       {R"(conntrack.tcpBeLiberal: expected true or false, got "yes")"}},
      {"conntrack half-open timeout not a duration",
       [](auto& top) { top["conntrack"] = boost::json::object{{"tcpSynRecvTimeout", "0s"}}; },
       {R"(conntrack.tcpSynRecvTimeout: "0s" is not a duration of at least 1s (for example "15m0s"))"}},
      {"conntrack unknown key", [](auto& top) { top["conntrack"] = boost::json::object{{"tcpTimeout", "1s"}}; },
       {"conntrack.tcpTimeout: unknown key"}},
      {"scheduler unknown", [](auto& top) { dpdkOf(top)["scheduler"] = "wrr"; },
       {R"(dpdk.scheduler: "wrr" is not one of random, roundrobin, maglev)"}},
      {"ports missing", [](auto& top) { dpdkOf(top).erase("ports"); }, {"dpdk.ports: required (at least one port)"}},
      {"ports empty", [](auto& top) { dpdkOf(top)["ports"] = boost::json::array(); },
       {"dpdk.ports: at least one port is required"}},
      {"port not an object", [](auto& top) { dpdkOf(top)["ports"].as_array()[0] = "eth0"; },
       {R"(dpdk.ports[0]: expected an object, got "eth0")"}},
      {"dpdk section missing", [](auto& top) { top.erase("dpdk"); }, {R"(dpdk: required when mode is "dpdk")"}},
      {"servicesFile and kubeconfig", [](auto& top) { top["clientConnection"] = {{"kubeconfig", "/k"}}; },
       {"servicesFile: cannot be used together with an API server (clientConnection.kubeconfig /k); "
        "choose one source"}},
      {"syncPeriod bad", [](auto& top) { top["syncPeriod"] = "30"; },
       {R"(syncPeriod: "30" is not a duration such as "1s", "500ms" or "1m30s")"}},
      {"minSyncPeriod wrong type", [](auto& top) { top["minSyncPeriod"] = 1; },
       {"minSyncPeriod: expected a string, got 1"}},
      {"clusterCIDR bad", [](auto& top) { top["clusterCIDR"] = "10.244.0.0/40"; },
       {R"(clusterCIDR: "10.244.0.0/40" is not a valid CIDR)"}},
      {"nodePortAddresses entry bad", [](auto& top) { top["nodePortAddresses"].as_array()[1] = "192.168.1.0"; },
       {R"(nodePortAddresses[1]: "192.168.1.0" is not a valid CIDR)"}},
      {"nodePortAddresses not an array", [](auto& top) { top["nodePortAddresses"] = "10.0.0.0/8"; },
       {R"(nodePortAddresses: expected an array, got "10.0.0.0/8")"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    const auto result = parseConfig(goodWith(c.change), "/etc/nicproxy");
    EXPECT_FALSE(result.ok());
    EXPECT_FALSE(result.config.has_value());
    EXPECT_EQ(result.errors, c.errors);
  }
}

TEST(ConfigErrors, InvalidJson) {
  const auto result = parseConfig("{\n  \"mode\": \"dpdk\",\n  \"nodeName\" \"x\"\n}", "/");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].rfind("invalid JSON at line 3, column ", 0), 0u) << result.errors[0];
  EXPECT_FALSE(result.config.has_value());

  const auto notObject = parseConfig("[1, 2]", "/");
  EXPECT_EQ(notObject.errors, Strings{"expected an object (keys and values) at the top, got an array"});
}

TEST(ConfigErrors, CollectsEveryError) {
  const auto result = parseConfig(goodWith([](auto& top) {
                                    top["mode"] = 5;
                                    top["colour"] = "blue";
                                    portOf(top, 0)["address"] = "10.50.0.1/33";
                                    dpdkOf(top)["flowTableSize"] = "big";
                                  }),
                                  "/");
  EXPECT_FALSE(result.config.has_value());
  Strings errors = result.errors;
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, (Strings{"colour: unknown key", R"(dpdk.flowTableSize: expected a positive integer, got "big")",
                             R"(dpdk.ports[0].address: "10.50.0.1/33" is not a valid CIDR)",
                             "mode: expected a string, got 5"}));
}

// dpdk.ports[].snatAddresses. Port 0 is 10.50.0.1/24 with gateway 10.50.0.254 (also a
// static neighbour); port 1 is 10.60.0.1/32.
TEST(ConfigSnatAddresses, ReadInOrderBesideThePortAddress) {
  const auto result = parseConfig(goodWith([](auto& top) {
                                    portOf(top, 0)["snatAddresses"] = boost::json::array{"10.50.0.5", "10.50.0.6"};
                                  }),
                                  "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  const auto& snat = result.config->dpdk.ports[0].snatAddresses;
  ASSERT_EQ(snat.size(), 2u);
  EXPECT_EQ(formatIpv4(snat[0]), "10.50.0.5");
  EXPECT_EQ(formatIpv4(snat[1]), "10.50.0.6");
  EXPECT_TRUE(result.config->dpdk.ports[1].snatAddresses.empty());
}

TEST(ConfigSnatAddresses, EachMistakeNamesItsKeyPath) {
  using Array = boost::json::array;
  const struct {
    const char* description;
    size_t port;
    boost::json::value list;
    std::vector<std::string> errors;
  } cases[] = {
      {"not a list", 0, "10.50.0.5", {R"(dpdk.ports[0].snatAddresses: expected an array, got "10.50.0.5")"}},
      {"not a string", 0, Array{5}, {"dpdk.ports[0].snatAddresses[0]: expected a string, got 5"}},
      {"not an address", 0, Array{"10.50.0.5", "10.50.0"},
       {R"(dpdk.ports[0].snatAddresses[1]: "10.50.0" is not a valid IPv4 address)"}},
      {"outside the subnet", 0, Array{"10.51.0.5"},
       {"dpdk.ports[0].snatAddresses[0]: 10.51.0.5 is not a host address on 10.50.0.1/24"}},
      {"the subnet's network address", 0, Array{"10.50.0.0"},
       {"dpdk.ports[0].snatAddresses[0]: 10.50.0.0 is not a host address on 10.50.0.1/24"}},
      {"the subnet's broadcast address", 0, Array{"10.50.0.255"},
       {"dpdk.ports[0].snatAddresses[0]: 10.50.0.255 is not a host address on 10.50.0.1/24"}},
      {"the port address", 0, Array{"10.50.0.1"},
       {"dpdk.ports[0].snatAddresses[0]: 10.50.0.1 is the port's own address (a SNAT address already)"}},
      {"the gateway", 0, Array{"10.50.0.254"}, {"dpdk.ports[0].snatAddresses[0]: 10.50.0.254 is the port's gateway"}},
      {"listed twice", 0, Array{"10.50.0.5", "10.50.0.6", "10.50.0.5"},
       {"dpdk.ports[0].snatAddresses[2]: 10.50.0.5 is listed twice"}},
      {"too many", 0, Array{"10.50.0.2", "10.50.0.3", "10.50.0.4", "10.50.0.5", "10.50.0.6", "10.50.0.7", "10.50.0.8",
                            "10.50.0.9"},
       {"dpdk.ports[0].snatAddresses: 8 addresses; at most 7 (the port address is one more)"}},
      {"a /32 port has no room for one", 1, Array{"10.60.0.2"},
       {"dpdk.ports[1].snatAddresses[0]: 10.60.0.2 is not a host address on 10.60.0.1/32"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    const auto result = parseConfig(goodWith([&](auto& top) { portOf(top, c.port)["snatAddresses"] = c.list; }), "/");
    EXPECT_FALSE(result.ok());
    EXPECT_EQ(result.errors, c.errors);
  }
}

TEST(ConfigSnatAddresses, AStaticNeighbourIsAnotherHost) {
  const auto result = parseConfig(goodWith([](auto& top) {
                                    auto& port = portOf(top, 0);
                                    port["neighbors"].as_array().push_back(
                                        boost::json::object{{"address", "10.50.0.9"}, {"mac", "02:00:5e:00:00:09"}});
                                    port["snatAddresses"] = boost::json::array{"10.50.0.9"};
                                  }),
                                  "/");
  EXPECT_EQ(result.errors, Strings{"dpdk.ports[0].snatAddresses[0]: 10.50.0.9 is a static neighbour (another host)"});
}

TEST(ConfigSnatAddresses, NoAddressBelongsToTwoPorts) {
  // Two ports on the same subnet (10.50.0.0/24): neither may take the other's addresses.
  const auto result = parseConfig(goodWith([](auto& top) {
                                    portOf(top, 0)["snatAddresses"] = boost::json::array{"10.50.0.5"};
                                    auto& second = portOf(top, 1);
                                    second["address"] = "10.50.0.5/24";
                                    second["snatAddresses"] = boost::json::array{"10.50.0.1", "10.50.0.7"};
                                  }),
                                  "/");
  EXPECT_EQ(result.errors, (Strings{"dpdk.ports[1].snatAddresses[0]: 10.50.0.1 is already an address of dpdk.ports[0]",
                                    "dpdk.ports[1].address: 10.50.0.5 is a SNAT address of dpdk.ports[0]"}));
}

// dpdk.ingress: every check on unless switched off.
TEST(ConfigIngress, ChecksAreOnByDefaultAndEachCanBeSwitchedOff) {
  const auto defaults = parseConfig(kGoodConfig, "/");
  ASSERT_TRUE(defaults.ok());
  const IngressConfig& on = defaults.config->dpdk.ingress;
  EXPECT_TRUE(on.dropInvalidSourceMac && on.dropMartianSources && on.verifyIpChecksum && on.dropSourceRoute);

  const auto result = parseConfig(goodWith([](auto& top) {
                                    dpdkOf(top)["ingress"] = boost::json::object{{"verifyIpChecksum", false},
                                                                                 {"dropSourceRoute", false}};
                                  }),
                                  "/");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  const IngressConfig& some = result.config->dpdk.ingress;
  EXPECT_TRUE(some.dropInvalidSourceMac);
  EXPECT_TRUE(some.dropMartianSources);
  EXPECT_FALSE(some.verifyIpChecksum);
  EXPECT_FALSE(some.dropSourceRoute);
}

TEST(ConfigIngress, MistakesNameTheirKeyPath) {
  const auto result = parseConfig(goodWith([](auto& top) {
                                    dpdkOf(top)["ingress"] =
                                        boost::json::object{{"verifyIpChecksum", "no"}, {"dropMartians", false}};
                                  }),
                                  "/");
  Strings errors = result.errors;
  std::sort(errors.begin(), errors.end());
  EXPECT_EQ(errors, (Strings{"dpdk.ingress.dropMartians: unknown key",
                             R"(dpdk.ingress.verifyIpChecksum: expected true or false, got "no")"}));
  const auto notObject = parseConfig(goodWith([](auto& top) { dpdkOf(top)["ingress"] = true; }), "/");
  EXPECT_EQ(notObject.errors, Strings{"dpdk.ingress: expected an object, got true"});
}

TEST(ConfigClientConnection, MaxResponseBytes) {
  const auto defaults = parseConfig(kGoodConfig, "/");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults.config->clientConnection.maxResponseBytes, uint64_t{256} << 20);

  const auto set = parseConfig(
      goodWith([](auto& top) { top["clientConnection"] = boost::json::object{{"maxResponseBytes", 8 << 20}}; }), "/");
  ASSERT_TRUE(set.ok()) << testing::PrintToString(set.errors);
  EXPECT_EQ(set.config->clientConnection.maxResponseBytes, uint64_t{8} << 20);

  const auto small = parseConfig(
      goodWith([](auto& top) { top["clientConnection"] = boost::json::object{{"maxResponseBytes", 4096}}; }), "/");
  EXPECT_EQ(small.errors, Strings{"clientConnection.maxResponseBytes: 4096 is below the minimum of 1048576 (1 MiB)"});
  const auto text = parseConfig(
      goodWith([](auto& top) { top["clientConnection"] = boost::json::object{{"maxResponseBytes", "256Mi"}}; }), "/");
  EXPECT_EQ(text.errors, Strings{R"(clientConnection.maxResponseBytes: expected a number of bytes, got "256Mi")"});
}

class ConfigLoad : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("nicproxy_config_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ConfigLoad, ReadsFileAndResolvesAgainstItsFolder) {
  const auto path = dir_ / "nicproxy.json";
  std::ofstream(path) << kGoodConfig;
  const auto result = loadConfigFile(path);
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(result.config->servicesFile, dir_ / "services.json");
}

TEST_F(ConfigLoad, MissingFileNamesPathAndReason) {
  const auto path = dir_ / "absent.json";
  const auto result = loadConfigFile(path);
  EXPECT_FALSE(result.config.has_value());
  // The caller names the file; the error says why it could not be read.
  EXPECT_EQ(result.errors, Strings{"cannot read: No such file or directory"});
}

}  // namespace
}  // namespace nicproxy
