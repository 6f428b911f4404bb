// Tests: per-node DPDK port addresses. parseConfig's side (dpdk.ports[].address left out,
// prefixLength) and resolvePortAddresses (control/port_addresses): the order of the
// sources, the subnet length, each error naming the port and what was tried, and the
// address checks run again on what was found.
// Addresses: port 0 (net_tap0) has none in the file, prefixLength 24, gateway 10.50.0.254;
// port 1 (net_tap1) is 10.60.0.1/24 in the file. The Node's InternalIP is 10.50.0.7.
//   PortAddressParse.LeftOutWithPrefixLength  unresolved port read; subnet checks wait
//   PortAddressParse.Mistakes                 no prefixLength, out of range, wrong type, differs
//   PortAddressOrder.*                        flag > file > environment > Node; Node asked once, only if needed
//   PortAddressLength.*                       bare values take prefixLength (or the file's length), CIDRs their own
//   PortAddressErrors.*                       nothing found, Node lookup failed, malformed flags and values
//   PortAddressChecks.*                       gateway, neighbours, SNAT, clashes, bad hosts: after resolution too
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "control/config.hpp"
#include "control/port_addresses.hpp"

namespace nicproxy {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kPort0 = R"({"device": "net_tap0", "prefixLength": 24, "gateway": "10.50.0.254"})";
constexpr const char* kPort1 = R"({"device": "net_tap1", "address": "10.60.0.1/24"})";

// A config with these ports; the test fails if it does not parse.
DpdkConfig portsOf(const std::string& ports) {
  const ConfigResult result =
      parseConfig(R"({"mode": "dpdk", "nodeName": "node-a", "servicesFile": "s.json", "dpdk": {"ports": [)" + ports +
                      "]}}",
                  "/");
  EXPECT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  return result.ok() ? result.config->dpdk : DpdkConfig{};
}

Strings parseErrors(const std::string& port) {
  return parseConfig(R"({"mode": "dpdk", "servicesFile": "s.json", "dpdk": {"ports": [)" + port + "]}}", "/").errors;
}

// Sources from a map of environment variables and a Node that answers `nodeIp`
// (nullopt: the lookup fails), counting the lookups.
struct FakeSources {
  std::vector<std::string> flags;
  std::map<std::string, std::string> env;
  std::optional<std::string> nodeIp = "10.50.0.7";
  bool apiServer = true;
  int nodeLookups = 0;

  PortAddressSources get() {
    PortAddressSources s;
    s.flags = flags;
    s.getenv = [this](const std::string& name) -> std::optional<std::string> {
      const auto it = env.find(name);
      return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    if (apiServer) {
      s.nodeInternalIp = [this] {
        ++nodeLookups;
        NodeAddressLookup lookup;
        lookup.origin = "the InternalIP of Node node-a";
        if (nodeIp) {
          lookup.address = parseIpv4(*nodeIp);
        } else {
          lookup.error = "Node node-a is not known to the API server (HTTP 404)";
        }
        return lookup;
      };
    } else {
      s.noNodeLookup = "the services come from servicesFile";
    }
    return s;
  }
};

std::string addressOf(const DpdkConfig& dpdk, size_t i) { return formatIpv4Cidr(dpdk.ports[i].address); }

TEST(PortAddressParse, LeftOutWithPrefixLength) {
  // Neighbours and SNAT addresses that only the resolved subnet can judge are read as
  // they are; resolution checks them.
  const DpdkConfig dpdk = portsOf(
      R"({"device": "net_tap0", "prefixLength": 24, "gateway": "192.0.2.1", "snatAddresses": ["10.9.9.9"],
          "neighbors": [{"address": "172.16.0.1", "mac": "02:00:00:00:00:01"}]}, )" + std::string(kPort1));
  ASSERT_EQ(dpdk.ports.size(), 2u);
  EXPECT_TRUE(dpdk.ports[0].addressUnresolved);
  EXPECT_EQ(dpdk.ports[0].prefixLength, 24);
  EXPECT_FALSE(dpdk.ports[1].addressUnresolved);
  EXPECT_EQ(addressOf(dpdk, 1), "10.60.0.1/24");
}

TEST(PortAddressParse, Mistakes) {
  const struct {
    const char* port;
    Strings errors;
  } cases[] = {
      {R"({"device": "net_tap0"})",
       {"dpdk.ports[0].address: required, or left out with prefixLength given, for an address found per node "
        "(--dpdk-port-address 0=CIDR, NICPROXY_DPDK_PORT0_ADDRESS or the Node's InternalIP)"}},
      {R"({"device": "net_tap0", "prefixLength": 0})", {"dpdk.ports[0].prefixLength: 0 is out of range 1..32"}},
      {R"({"device": "net_tap0", "prefixLength": 33})", {"dpdk.ports[0].prefixLength: 33 is out of range 1..32"}},
      {R"({"device": "net_tap0", "prefixLength": "24"})",
       {R"(dpdk.ports[0].prefixLength: expected an integer from 1 to 32, got "24")"}},
      {R"({"device": "net_tap0", "address": "10.0.0.1/24", "prefixLength": 16})",
       {"dpdk.ports[0].prefixLength: 16 differs from address 10.0.0.1/24"}},
      {R"({"device": "net_tap0", "prefixLength": 24, "gateway": "10.0.0"})",
       {R"(dpdk.ports[0].gateway: "10.0.0" is not a valid IPv4 address)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.port);
    EXPECT_EQ(parseErrors(c.port), c.errors);
  }
  // The same address and length written twice is no mistake.
  EXPECT_TRUE(parseErrors(R"({"device": "net_tap0", "address": "10.0.0.1/24", "prefixLength": 24})").empty());
}

TEST(PortAddressOrder, FlagThenEnvironmentThenNodeForALeftOutAddress) {
  const std::string ports = std::string(kPort0) + ", " + kPort1;
  {
    FakeSources sources;
    sources.flags = {"0=10.50.0.5"};
    sources.env = {{"NICPROXY_DPDK_PORT0_ADDRESS", "10.50.0.6"}};
    DpdkConfig dpdk = portsOf(ports);
    const auto result = resolvePortAddresses(dpdk, sources.get());
    ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
    EXPECT_EQ(addressOf(dpdk, 0), "10.50.0.5/24");
    EXPECT_FALSE(dpdk.ports[0].addressUnresolved);
    EXPECT_EQ(result.notes, Strings{"dpdk.ports[0].address 10.50.0.5/24 from --dpdk-port-address"});
    EXPECT_EQ(sources.nodeLookups, 0);
  }
  {
    FakeSources sources;
    sources.env = {{"NICPROXY_DPDK_PORT0_ADDRESS", "10.50.0.6"}};
    DpdkConfig dpdk = portsOf(ports);
    const auto result = resolvePortAddresses(dpdk, sources.get());
    ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
    EXPECT_EQ(addressOf(dpdk, 0), "10.50.0.6/24");
    EXPECT_EQ(result.notes, Strings{"dpdk.ports[0].address 10.50.0.6/24 from NICPROXY_DPDK_PORT0_ADDRESS"});
    EXPECT_EQ(sources.nodeLookups, 0);
  }
  {
    FakeSources sources;
    sources.env = {{"NICPROXY_DPDK_PORT0_ADDRESS", ""}};  // set but empty: unset
    DpdkConfig dpdk = portsOf(ports);
    const auto result = resolvePortAddresses(dpdk, sources.get());
    ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
    EXPECT_EQ(addressOf(dpdk, 0), "10.50.0.7/24");
    // The port carries the Node's address: it gets an exception path (exception_config_test.cpp).
    EXPECT_EQ(result.notes, (Strings{"dpdk.ports[0].address 10.50.0.7/24 from the InternalIP of Node node-a",
                                     "dpdk.ports[0].exceptionPath tap: the port carries the Node's InternalIP (set "
                                     "exceptionPath to \"none\" to do without)"}));
    EXPECT_EQ(sources.nodeLookups, 1);
  }
}

TEST(PortAddressOrder, FlagOverridesTheFileAndTheFileTheEnvironment) {
  FakeSources sources;
  sources.flags = {"1=10.60.0.9"};
  DpdkConfig dpdk = portsOf(std::string(kPort0) + ", " + kPort1);
  auto result = resolvePortAddresses(dpdk, sources.get());
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(addressOf(dpdk, 1), "10.60.0.9/24");  // the file's length
  EXPECT_EQ(result.notes.back(),
            "dpdk.ports[1].address 10.60.0.9/24 from --dpdk-port-address, over the config file's 10.60.0.1/24");

  FakeSources envOnly;
  envOnly.env = {{"NICPROXY_DPDK_PORT0_ADDRESS", "10.60.0.9/24"}};
  dpdk = portsOf(kPort1);
  result = resolvePortAddresses(dpdk, envOnly.get());
  ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  EXPECT_EQ(addressOf(dpdk, 0), "10.60.0.1/24");
  EXPECT_EQ(envOnly.nodeLookups, 0);
}

TEST(PortAddressOrder, NodeAskedOnceForManyPortsAndNeverWhenNotNeeded) {
  FakeSources sources;
  sources.nodeIp = "10.50.0.7";
  DpdkConfig dpdk = portsOf(std::string(kPort0) + R"(, {"device": "net_tap1", "prefixLength": 16})");
  const auto result = resolvePortAddresses(dpdk, sources.get());
  EXPECT_EQ(sources.nodeLookups, 1);
  // Both ports would take the one InternalIP: refused (see PortAddressChecks too).
  EXPECT_EQ(result.errors, Strings{"dpdk.ports[1].address: 10.50.0.7 is also the address of dpdk.ports[0] (address "
                                   "10.50.0.7/16 from the InternalIP of Node node-a)"});

  FakeSources fileOnly;
  dpdk = portsOf(kPort1);
  EXPECT_TRUE(resolvePortAddresses(dpdk, fileOnly.get()).ok());
  EXPECT_EQ(fileOnly.nodeLookups, 0);
}

TEST(PortAddressLength, BareValuesTakePrefixLengthCidrsTheirOwn) {
  const struct {
    const char* flag;
    const char* address;
  } cases[] = {
      {"0=10.50.0.5", "10.50.0.5/24"},
      {"0=10.50.0.5/25", "10.50.0.5/25"},
      {"0=10.50.0.5/32", "10.50.0.5/32"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.flag);
    FakeSources sources;
    sources.flags = {c.flag};
    DpdkConfig dpdk = portsOf(R"({"device": "net_tap0", "prefixLength": 24})");
    const auto result = resolvePortAddresses(dpdk, sources.get());
    ASSERT_TRUE(result.ok()) << testing::PrintToString(result.errors);
    EXPECT_EQ(addressOf(dpdk, 0), c.address);
  }
  FakeSources node;  // the Node's InternalIP has no length: prefixLength
  DpdkConfig dpdk = portsOf(R"({"device": "net_tap0", "prefixLength": 20})");
  ASSERT_TRUE(resolvePortAddresses(dpdk, node.get()).ok());
  EXPECT_EQ(addressOf(dpdk, 0), "10.50.0.7/20");
}

TEST(PortAddressErrors, NothingFound) {
  FakeSources noApi;
  noApi.apiServer = false;
  DpdkConfig dpdk = portsOf(kPort0);
  EXPECT_EQ(resolvePortAddresses(dpdk, noApi.get()).errors,
            Strings{"dpdk.ports[0].address: not in the config file, no --dpdk-port-address 0=CIDR, no "
                    "NICPROXY_DPDK_PORT0_ADDRESS, and the Node's InternalIP cannot be asked for: the services come "
                    "from servicesFile"});

  FakeSources failing;
  failing.nodeIp.reset();
  dpdk = portsOf(kPort0);
  EXPECT_EQ(resolvePortAddresses(dpdk, failing.get()).errors,
            Strings{"dpdk.ports[0].address: not in the config file, no --dpdk-port-address 0=CIDR, no "
                    "NICPROXY_DPDK_PORT0_ADDRESS, and no InternalIP: Node node-a is not known to the API server "
                    "(HTTP 404)"});
}

TEST(PortAddressErrors, MalformedFlagsAndValues) {
  const struct {
    Strings flags;
    std::map<std::string, std::string> env;
    Strings errors;
  } cases[] = {
      {{"10.50.0.5/24"}, {}, {R"(--dpdk-port-address "10.50.0.5/24": expected INDEX=CIDR (for example 0=10.0.0.5/24))"}},
      {{"=10.50.0.5"}, {}, {R"(--dpdk-port-address "=10.50.0.5": expected INDEX=CIDR (for example 0=10.0.0.5/24))"}},
      {{"a=10.50.0.5"}, {}, {R"(--dpdk-port-address "a=10.50.0.5": expected INDEX=CIDR (for example 0=10.0.0.5/24))"}},
      {{"2=10.50.0.5"}, {}, {"--dpdk-port-address 2=10.50.0.5: there is no dpdk.ports[2] (the file has 2)"}},
      {{"0=10.50.0.5", "0=10.50.0.6"}, {}, {"--dpdk-port-address 0=10.50.0.6: port 0 is given twice"}},
      {{"0=10.50.0"}, {},
       {R"(dpdk.ports[0].address: --dpdk-port-address 0="10.50.0" is not an IPv4 address or CIDR)"}},
      {{}, {{"NICPROXY_DPDK_PORT0_ADDRESS", "10.50.0.5/33"}},
       {R"(dpdk.ports[0].address: NICPROXY_DPDK_PORT0_ADDRESS="10.50.0.5/33" is not an IPv4 address or CIDR)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.flags));
    FakeSources sources;
    sources.flags = c.flags;
    sources.env = c.env;
    DpdkConfig dpdk = portsOf(std::string(kPort0) + ", " + kPort1);
    EXPECT_EQ(resolvePortAddresses(dpdk, sources.get()).errors, c.errors);
  }
}

TEST(PortAddressErrors, EnvironmentBesideAFileAddressIsOnlyANote) {
  FakeSources sources;
  sources.env = {{"NICPROXY_DPDK_PORT0_ADDRESS", "10.60.0.9/24"}};
  DpdkConfig dpdk = portsOf(kPort1);
  const auto result = resolvePortAddresses(dpdk, sources.get());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.notes, Strings{"NICPROXY_DPDK_PORT0_ADDRESS is not used: dpdk.ports[0].address is in the config file"});
}

// Every check parseConfig makes on a port's addresses, made again on a found address.
TEST(PortAddressChecks, RunOnFoundAddresses) {
  const std::string fromNode = " (address 10.50.0.7/24 from the InternalIP of Node node-a)";
  const struct {
    const char* description;
    std::string ports;
    std::optional<std::string> nodeIp;
    Strings errors;
  } cases[] = {
      {"gateway off the found subnet", R"({"device": "net_tap0", "prefixLength": 24, "gateway": "10.51.0.1"})",
       "10.50.0.7", {"dpdk.ports[0].gateway: 10.51.0.1 is not inside 10.50.0.7/24" + fromNode}},
      {"gateway is the found address", R"({"device": "net_tap0", "prefixLength": 24, "gateway": "10.50.0.7"})",
       "10.50.0.7", {"dpdk.ports[0].gateway: 10.50.0.7 is the port's own address" + fromNode}},
      {"neighbour off the found subnet",
       R"({"device": "net_tap0", "prefixLength": 24, "neighbors": [{"address": "10.51.0.2", "mac": "02:00:00:00:00:02"}]})",
       "10.50.0.7", {"dpdk.ports[0].neighbors[0].address: 10.51.0.2 is not another host on 10.50.0.7/24" + fromNode}},
      {"SNAT address off the found subnet",
       R"({"device": "net_tap0", "prefixLength": 24, "snatAddresses": ["10.51.0.5"]})", "10.50.0.7",
       {"dpdk.ports[0].snatAddresses[0]: 10.51.0.5 is not a host address on 10.50.0.7/24" + fromNode}},
      {"SNAT address is the found address",
       R"({"device": "net_tap0", "prefixLength": 24, "snatAddresses": ["10.50.0.7"]})", "10.50.0.7",
       {"dpdk.ports[0].snatAddresses[0]: 10.50.0.7 is the port's own address (a SNAT address already)" + fromNode}},
      {"found address is another port's SNAT address",
       std::string(R"({"device": "net_tap1", "address": "10.50.0.1/24", "snatAddresses": ["10.50.0.7"]}, )") + kPort0,
       "10.50.0.7",
       {"dpdk.ports[1].address: 10.50.0.7 is a SNAT address of dpdk.ports[0]" + fromNode}},
      {"found address is the subnet's broadcast", R"({"device": "net_tap0", "prefixLength": 24})", "10.50.0.255",
       {"dpdk.ports[0].address: 10.50.0.255/24 is the broadcast address of its subnet, not a host (address "
        "10.50.0.255/24 from the InternalIP of Node node-a)"}},
      {"found address is loopback", R"({"device": "net_tap0", "prefixLength": 8})", "127.0.0.1",
       {"dpdk.ports[0].address: 127.0.0.1/8 is a loopback address (address 127.0.0.1/8 from the InternalIP of Node "
        "node-a)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    FakeSources sources;
    sources.nodeIp = c.nodeIp;
    DpdkConfig dpdk = portsOf(c.ports);
    EXPECT_EQ(resolvePortAddresses(dpdk, sources.get()).errors, c.errors);
  }
}

}  // namespace
}  // namespace nicproxy
