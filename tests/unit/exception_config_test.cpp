// Tests: the exception path's keys (control/config_exception): dpdk.ports[].exceptionPath,
// .exceptionInterface, .exceptionAddresses, dpdk.exception.*; their defaults, each error
// naming its key path, the "tap" default for a port that carries the Node's InternalIP
// (resolvePortAddresses), and the effective configuration writing them back.
// Addresses: port 0 is 10.50.0.1/24 (gateway 10.50.0.254), port 1 10.60.0.1/24; a port
// left to the Node gets its InternalIP 10.50.0.7.
//   ExceptionConfig.Defaults                 none, "nicproxy<index>", host; 200000/2000/4096
//   ExceptionConfig.EveryKeyRead             tap, virtio-user, names, nicproxy, limits
//   ExceptionConfig.BadValues                kinds, names (length, characters), addresses, limits
//   ExceptionConfig.InterfaceNamesClash      two ports, a default name taken, a DPDK port's own interface
//   ExceptionConfig.NicproxyAddressesNeedAnInterface  "nicproxy" with none, or with no kind where the file has the address
//   ExceptionConfig.InterfaceNameRule        whyNotAnInterfaceName's table
//   ExceptionDefault.TapForTheNodesInternalIp  unset + InternalIP: tap; set in the file: kept; flag/env: none
//   ExceptionDefault.NicproxyAddressesWithoutAnInterfaceAfterResolution  a note, not an error (shared files)
//   ExceptionConfig.WrittenBack              effectiveConfigJson has the keys, reloads the same
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <boost/json.hpp>

#include "control/config.hpp"
#include "control/config_exception.hpp"
#include "control/config_writer.hpp"
#include "control/port_addresses.hpp"

namespace nicproxy {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kPort0 = R"({"device": "net_af_packet0,iface=veth0", "address": "10.50.0.1/24", "gateway": "10.50.0.254")";
constexpr const char* kPort1 = R"({"device": "net_af_packet1,iface=veth1", "address": "10.60.0.1/24")";

// A dpdk config: `port0Extra` and `port1Extra` are appended to the two ports' objects
// (", \"exceptionPath\": \"tap\""), `dpdkExtra` to the dpdk object.
ConfigResult parseWith(const std::string& port0Extra, const std::string& port1Extra = "",
                       const std::string& dpdkExtra = "") {
  return parseConfig(R"({"mode": "dpdk", "servicesFile": "s.json", "dpdk": {"ports": [)" + std::string(kPort0) +
                         port0Extra + "}, " + kPort1 + port1Extra + "}]" + dpdkExtra + "}}",
                     "/");
}

TEST(ExceptionConfig, Defaults) {
  const ConfigResult result = parseWith("");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  const DpdkConfig& dpdk = result.config->dpdk;
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(dpdk.ports[i].exception.kind, ExceptionPathKind::None);
    EXPECT_FALSE(dpdk.ports[i].exception.kindFromFile);
    EXPECT_FALSE(dpdk.ports[i].exception.configureAddresses);
    EXPECT_EQ(exceptionInterfaceName(dpdk.ports[i], i), "nicproxy" + std::to_string(i));
  }
  EXPECT_EQ(dpdk.exception.packetsPerSecond, 200000u);
  EXPECT_EQ(dpdk.exception.burst, 2000u);
  EXPECT_EQ(dpdk.exception.ringSize, 4096u);
}

TEST(ExceptionConfig, EveryKeyRead) {
  const ConfigResult result =
      parseWith(R"(, "exceptionPath": "tap", "exceptionInterface": "uplink-0.x", "exceptionAddresses": "nicproxy")",
                R"(, "exceptionPath": "virtio-user", "exceptionAddresses": "host")",
                R"(, "exception": {"packetsPerSecond": 0, "burst": 64, "ringSize": 1024})");
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  const DpdkConfig& dpdk = result.config->dpdk;
  EXPECT_EQ(dpdk.ports[0].exception.kind, ExceptionPathKind::Tap);
  EXPECT_TRUE(dpdk.ports[0].exception.kindFromFile);
  EXPECT_TRUE(dpdk.ports[0].exception.configureAddresses);
  EXPECT_EQ(exceptionInterfaceName(dpdk.ports[0], 0), "uplink-0.x");
  EXPECT_EQ(dpdk.ports[1].exception.kind, ExceptionPathKind::VirtioUser);
  EXPECT_FALSE(dpdk.ports[1].exception.configureAddresses);
  EXPECT_EQ(exceptionInterfaceName(dpdk.ports[1], 1), "nicproxy1");
  EXPECT_EQ(dpdk.exception.packetsPerSecond, 0u);
  EXPECT_EQ(dpdk.exception.burst, 64u);
  EXPECT_EQ(dpdk.exception.ringSize, 1024u);

  const ConfigResult none = parseWith(R"(, "exceptionPath": "none")");
  ASSERT_TRUE(none.ok()) << testing::PrintToString(none.errors);
  EXPECT_EQ(none.config->dpdk.ports[0].exception.kind, ExceptionPathKind::None);
  EXPECT_TRUE(none.config->dpdk.ports[0].exception.kindFromFile);
}

TEST(ExceptionConfig, BadValues) {
  const struct {
    std::string port0, dpdk;
    Strings errors;
  } cases[] = {
      {R"(, "exceptionPath": "kni")", "",
       {R"(dpdk.ports[0].exceptionPath: "kni" is not one of tap, virtio-user, none)"}},
      {R"(, "exceptionPath": "TAP")", "",
       {R"(dpdk.ports[0].exceptionPath: "TAP" is not one of tap, virtio-user, none)"}},
      {R"(, "exceptionPath": true)", "", {"dpdk.ports[0].exceptionPath: expected a string, got true"}},
      {R"(, "exceptionInterface": "")", "", {R"(dpdk.ports[0].exceptionInterface: "" is empty)"}},
      {R"(, "exceptionInterface": "nicproxy-uplink-0")", "",
       {R"(dpdk.ports[0].exceptionInterface: "nicproxy-uplink-0" is 17 bytes long; Linux takes at most 15)"}},
      {R"(, "exceptionInterface": "eth0:1")", "",
       {R"(dpdk.ports[0].exceptionInterface: "eth0:1" may hold only letters, digits, '-', '_' and '.')"}},
      {R"(, "exceptionInterface": "a,b=c")", "",
       {R"(dpdk.ports[0].exceptionInterface: "a,b=c" may hold only letters, digits, '-', '_' and '.')"}},
      {R"(, "exceptionInterface": "..")", "", {R"(dpdk.ports[0].exceptionInterface: ".." is not a usable interface name)"}},
      {R"(, "exceptionAddresses": "kernel")", "",
       {R"(dpdk.ports[0].exceptionAddresses: "kernel" is not one of host, nicproxy)"}},
      {"", R"(, "exception": {"ringSize": 1000})", {"dpdk.exception.ringSize: 1000 is not a power of two"}},
      {"", R"(, "exception": {"ringSize": 32})", {"dpdk.exception.ringSize: 32 is out of range 64..32768"}},
      {"", R"(, "exception": {"ringSize": 65536})", {"dpdk.exception.ringSize: 65536 is out of range 64..32768"}},
      {"", R"(, "exception": {"burst": 0})", {"dpdk.exception.burst: 0 is out of range 1..1000000"}},
      {"", R"(, "exception": {"packetsPerSecond": -1})",
       {"dpdk.exception.packetsPerSecond: -1 is out of range 0..10000000"}},
      {"", R"(, "exception": {"packetsPerSecond": "fast"})",
       {R"(dpdk.exception.packetsPerSecond: expected a non-negative integer (0: no limit), got "fast")"}},
      {"", R"(, "exception": {"pps": 10})", {"dpdk.exception.pps: unknown key"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.port0 + c.dpdk);
    const ConfigResult result = parseWith(c.port0, "", c.dpdk);
    EXPECT_EQ(result.errors, c.errors);
  }
}

TEST(ExceptionConfig, InterfaceNamesClash) {
  EXPECT_EQ(parseWith(R"(, "exceptionPath": "tap", "exceptionInterface": "up0")",
                      R"(, "exceptionPath": "tap", "exceptionInterface": "up0")")
                .errors,
            Strings{R"(dpdk.ports[1].exceptionInterface: "up0" is also the exception interface of dpdk.ports[0])"});
  // Port 1's default name, taken by port 0.
  EXPECT_EQ(parseWith(R"(, "exceptionPath": "tap", "exceptionInterface": "nicproxy1")", R"(, "exceptionPath": "tap")")
                .errors,
            Strings{R"(dpdk.ports[1].exceptionInterface: "nicproxy1" is also the exception interface of dpdk.ports[0])"});
  // The interface port 1's af_packet device reads from.
  EXPECT_EQ(parseWith(R"(, "exceptionPath": "tap", "exceptionInterface": "veth1")").errors,
            Strings{R"(dpdk.ports[0].exceptionInterface: "veth1" is an interface a dpdk.ports[].device attaches to)"});
  // A port without an exception path does not hold its name.
  EXPECT_TRUE(parseWith(R"(, "exceptionPath": "none", "exceptionInterface": "up0")",
                        R"(, "exceptionPath": "tap", "exceptionInterface": "up0")")
                  .ok());
}

TEST(ExceptionConfig, NicproxyAddressesNeedAnInterface) {
  EXPECT_EQ(parseWith(R"(, "exceptionPath": "none", "exceptionAddresses": "nicproxy")").errors,
            Strings{R"(dpdk.ports[0].exceptionAddresses: "nicproxy" needs an exception interface, and exceptionPath is "none")"});
  EXPECT_EQ(parseWith(R"(, "exceptionAddresses": "nicproxy")").errors,
            Strings{R"(dpdk.ports[0].exceptionAddresses: "nicproxy" needs an exception interface, and exceptionPath is not set (set it to "tap"))"});
}

TEST(ExceptionConfig, InterfaceNameRule) {
  for (const char* good : {"nicproxy0", "a", "eth0.100", "br-lan_2", "123456789012345"}) {
    EXPECT_EQ(whyNotAnInterfaceName(good), "") << good;
  }
  for (const char* bad : {"", ".", "..", "1234567890123456", "a/b", "a b", "a:b", "a,b", "a=b", "tab\t", "caf\xc3\xa9"}) {
    EXPECT_NE(whyNotAnInterfaceName(bad), "") << bad;
  }
}

// resolvePortAddresses on a config whose port 0 takes its address per node.
struct Resolved {
  DpdkConfig dpdk;
  PortAddressResolution resolution;
};
Resolved resolveWith(const std::string& port0Extra, const std::vector<std::string>& flags = {}) {
  const ConfigResult parsed = parseConfig(
      R"({"mode": "dpdk", "nodeName": "node-a", "servicesFile": "s.json", "dpdk": {"ports": [)"
      R"({"device": "net_af_packet0,iface=veth0", "prefixLength": 24, "gateway": "10.50.0.254")" +
          port0Extra + "}]}}",
      "/");
  EXPECT_TRUE(parsed.ok()) << testing::PrintToString(parsed.errors);
  Resolved r;
  if (!parsed.ok()) return r;
  r.dpdk = parsed.config->dpdk;
  PortAddressSources sources;
  sources.flags = flags;
  sources.nodeInternalIp = [] {
    NodeAddressLookup lookup;
    lookup.address = parseIpv4("10.50.0.7");
    lookup.origin = "the InternalIP of Node node-a";
    return lookup;
  };
  r.resolution = resolvePortAddresses(r.dpdk, sources);
  return r;
}

TEST(ExceptionDefault, TapForTheNodesInternalIp) {
  Resolved node = resolveWith("");
  ASSERT_TRUE(node.resolution.ok()) << testing::PrintToString(node.resolution.errors);
  EXPECT_EQ(node.dpdk.ports[0].exception.kind, ExceptionPathKind::Tap);
  EXPECT_EQ(node.resolution.notes,
            (Strings{"dpdk.ports[0].address 10.50.0.7/24 from the InternalIP of Node node-a",
                     R"(dpdk.ports[0].exceptionPath tap: the port carries the Node's InternalIP (set exceptionPath to "none" to do without))"}));

  Resolved kept = resolveWith(R"(, "exceptionPath": "none")");
  ASSERT_TRUE(kept.resolution.ok());
  EXPECT_EQ(kept.dpdk.ports[0].exception.kind, ExceptionPathKind::None);

  Resolved virtio = resolveWith(R"(, "exceptionPath": "virtio-user")");
  ASSERT_TRUE(virtio.resolution.ok());
  EXPECT_EQ(virtio.dpdk.ports[0].exception.kind, ExceptionPathKind::VirtioUser);

  // From a flag the address is not the Node's: nothing says the port carries the node's traffic.
  Resolved flag = resolveWith("", {"0=10.50.0.9"});
  ASSERT_TRUE(flag.resolution.ok());
  EXPECT_EQ(flag.dpdk.ports[0].exception.kind, ExceptionPathKind::None);
}

TEST(ExceptionDefault, NicproxyAddressesWithoutAnInterfaceAfterResolution) {
  Resolved node = resolveWith(R"(, "exceptionAddresses": "nicproxy")");
  EXPECT_TRUE(node.resolution.ok()) << testing::PrintToString(node.resolution.errors);
  // One node of a shared file whose address comes from a flag: no interface, a note, no error.
  Resolved flag = resolveWith(R"(, "exceptionAddresses": "nicproxy")", {"0=10.50.0.9"});
  EXPECT_TRUE(flag.resolution.ok()) << testing::PrintToString(flag.resolution.errors);
  EXPECT_EQ(flag.dpdk.ports[0].exception.kind, ExceptionPathKind::None);
  EXPECT_EQ(flag.resolution.notes,
            (Strings{"dpdk.ports[0].address 10.50.0.9/24 from --dpdk-port-address",
                     "dpdk.ports[0].exceptionAddresses \"nicproxy\" unused: no exception path (exceptionPath is not "
                     "set and the address is not the Node's InternalIP)"}));
}

TEST(ExceptionConfig, WrittenBack) {
  const ConfigResult original =
      parseWith(R"(, "exceptionPath": "tap", "exceptionInterface": "up0", "exceptionAddresses": "nicproxy")", "",
                R"(, "exception": {"packetsPerSecond": 5000, "burst": 100, "ringSize": 512})");
  ASSERT_TRUE(original.ok()) << testing::PrintToString(original.errors);
  const boost::json::object written = effectiveConfigJson(*original.config);
  const auto& dpdk = written.at("dpdk").as_object();
  const auto& port0 = dpdk.at("ports").as_array()[0].as_object();
  const auto& port1 = dpdk.at("ports").as_array()[1].as_object();
  EXPECT_EQ(port0.at("exceptionPath"), "tap");
  EXPECT_EQ(port0.at("exceptionInterface"), "up0");
  EXPECT_EQ(port0.at("exceptionAddresses"), "nicproxy");
  EXPECT_EQ(port1.at("exceptionPath"), "none");
  EXPECT_EQ(port1.at("exceptionInterface"), "nicproxy1");
  EXPECT_EQ(port1.at("exceptionAddresses"), "host");
  EXPECT_EQ(dpdk.at("exception"), boost::json::parse(R"({"packetsPerSecond": 5000, "burst": 100, "ringSize": 512})"));
  const ConfigResult reloaded = parseConfig(effectiveConfigYaml(*original.config), "/");
  ASSERT_TRUE(reloaded.ok()) << testing::PrintToString(reloaded.errors);
  EXPECT_EQ(effectiveConfigJson(*reloaded.config), written);
}

}  // namespace
}  // namespace nicproxy
