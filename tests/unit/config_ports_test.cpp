// Tests: what parseConfig refuses in dpdk.ports beyond types (control/config_ports), and
// duplicate JSON keys (json::duplicateKeys), each error naming its key path. `--validate`
// and the daemon both load the configuration through parseConfig, so what these refuse
// neither accepts (tests/e2e/validate_test.sh runs both on the same files).
//   ConfigPortAddress.RefusedAddresses      /0, 0.0.0.0, network, broadcast, multicast, loopback, 240/4
//   ConfigPortAddress.AcceptedAddresses     ordinary hosts; /31 and /32 have no network or broadcast
//   ConfigPortAddress.NotTwoPortsWithOneAddress  one address on two ports
//   ConfigPortAddress.GatewayIsAHost        a gateway on the subnet's network or broadcast address
//   ConfigPortCount.AtMostTheDataPathsLimit kMaxDpdkPorts ports read, one more refused
//   ConfigPortDevice.OneDevicePerPort       spellings of one PCI function, one vdev name, one interface
//   ConfigPortDevice.DistinctDevicesAccepted
//   ConfigPortDevice.Claims                 deviceClaims on each kind of device string
//   ConfigDuplicateKeys.*                   top level, nested in arrays, several; the first value is not kept
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "control/config.hpp"
#include "control/config_ports.hpp"
#include "control/json_reader.hpp"

namespace nicproxy {
namespace {

using Strings = std::vector<std::string>;

// Two ports: port 0 on 10.50.0.0/24 with a gateway, port 1 a /32.
constexpr const char* kTwoPorts = R"({
  "mode": "dpdk",
  "servicesFile": "services.json",
  "dpdk": {
    "eal": ["--no-huge", "-l", "0-1"],
    "ports": [
      {"device": "0000:03:00.0", "address": "10.50.0.1/24", "gateway": "10.50.0.254",
       "neighbors": [{"address": "10.50.0.254", "mac": "02:00:5e:00:00:fe"}]},
      {"device": "net_af_packet0,iface=veth0", "address": "10.60.0.1/32"}
    ]
  }
})";

std::string twoPortsWith(const std::function<void(boost::json::array&)>& change) {
  auto value = boost::json::parse(kTwoPorts);
  change(value.as_object()["dpdk"].as_object()["ports"].as_array());
  return boost::json::serialize(value);
}

boost::json::object& port(boost::json::array& ports, size_t i) { return ports[i].as_object(); }

TEST(ConfigPortAddress, RefusedAddresses) {
  const struct {
    const char* address;
    std::string error;
  } cases[] = {
      {"0.0.0.0/0", "0.0.0.0/0 is a /0 subnet, which would put every address on this port's link; give the port's own subnet"},
      {"10.50.0.1/0", "10.50.0.1/0 is a /0 subnet, which would put every address on this port's link; give the port's own subnet"},
      {"0.0.0.0/24", R"(0.0.0.0/24 is in 0.0.0.0/8 ("this network"), not a host address)"},
      {"0.0.0.0/32", R"(0.0.0.0/32 is in 0.0.0.0/8 ("this network"), not a host address)"},
      {"0.1.2.3/8", R"(0.1.2.3/8 is in 0.0.0.0/8 ("this network"), not a host address)"},
      {"10.50.0.0/24", "10.50.0.0/24 is the network address of its subnet, not a host"},
      {"10.50.0.255/24", "10.50.0.255/24 is the broadcast address of its subnet, not a host"},
      {"10.50.0.4/30", "10.50.0.4/30 is the network address of its subnet, not a host"},
      {"10.50.0.7/30", "10.50.0.7/30 is the broadcast address of its subnet, not a host"},
      {"224.0.0.1/24", "224.0.0.1/24 is a multicast address"},
      {"239.1.1.1/32", "239.1.1.1/32 is a multicast address"},
      {"127.0.0.1/8", "127.0.0.1/8 is a loopback address"},
      {"240.0.0.1/24", "240.0.0.1/24 is in 240.0.0.0/4 (reserved, and the limited broadcast)"},
      {"255.255.255.255/32", "255.255.255.255/32 is in 240.0.0.0/4 (reserved, and the limited broadcast)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.address);
    const auto result = parseConfig(twoPortsWith([&](auto& ports) {
                                      auto& p = port(ports, 1);
                                      p["address"] = c.address;
                                    }),
                                    "/");
    EXPECT_FALSE(result.config.has_value());
    EXPECT_EQ(result.errors, Strings{"dpdk.ports[1].address: " + c.error});
  }
}

TEST(ConfigPortAddress, AcceptedAddresses) {
  // (10.50.0.3/31, not 10.50.0.1/31: that is port 0's address, refused below.)
  for (const char* address : {"10.50.0.2/24", "10.50.0.0/31", "10.50.0.3/31", "10.60.0.0/32", "192.168.0.255/16", "192.168.1.0/16",
                              "169.254.1.1/16", "100.64.0.1/10"}) {
    SCOPED_TRACE(address);
    const auto result = parseConfig(twoPortsWith([&](auto& ports) { port(ports, 1)["address"] = address; }), "/");
    EXPECT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  }
}

// Two ports answering ARP for one address would take each other's replies; easily done
// when both take the Node's InternalIP (tests/unit/port_addresses_test.cpp).
TEST(ConfigPortAddress, NotTwoPortsWithOneAddress) {
  const auto result = parseConfig(twoPortsWith([&](auto& ports) { port(ports, 1)["address"] = "10.50.0.1/32"; }), "/");
  EXPECT_EQ(result.errors, Strings{"dpdk.ports[1].address: 10.50.0.1 is also the address of dpdk.ports[0]"});
}

TEST(ConfigPortAddress, GatewayIsAHost) {
  for (const char* gateway : {"10.50.0.0", "10.50.0.255"}) {
    SCOPED_TRACE(gateway);
    const auto result = parseConfig(twoPortsWith([&](auto& ports) {
                                      auto& p = port(ports, 0);
                                      p["gateway"] = gateway;
                                      p.erase("neighbors");
                                    }),
                                    "/");
    EXPECT_EQ(result.errors,
              Strings{"dpdk.ports[0].gateway: " + std::string(gateway) + " is not a host address on 10.50.0.1/24"});
  }
}

// Ports 2.. of `count`, each its own af_packet vdev and /24.
std::string portsCounting(size_t count) {
  return twoPortsWith([&](auto& ports) {
    for (size_t i = 2; i < count; ++i) {
      ports.push_back(boost::json::object{
          {"device", "net_af_packet" + std::to_string(i) + ",iface=veth" + std::to_string(i)},
          {"address", "10.7" + std::to_string(i) + ".0.1/24"}});
    }
  });
}

TEST(ConfigPortCount, AtMostTheDataPathsLimit) {
  const auto atLimit = parseConfig(portsCounting(kMaxDpdkPorts), "/");
  ASSERT_TRUE(atLimit.ok()) << testing::PrintToString(atLimit.errors);
  EXPECT_EQ(atLimit.config->dpdk.ports.size(), kMaxDpdkPorts);

  const auto over = parseConfig(portsCounting(kMaxDpdkPorts + 1), "/");
  EXPECT_FALSE(over.config.has_value());
  EXPECT_EQ(over.errors, Strings{"dpdk.ports: 9 ports; the data path takes at most 8"});
}

TEST(ConfigPortDevice, OneDevicePerPort) {
  const struct {
    const char* first;
    const char* second;
    std::string error;  // about dpdk.ports[1].device
  } cases[] = {
      {"0000:03:00.0", "0000:03:00.0", R"("0000:03:00.0" is the same device as dpdk.ports[0] (0000:03:00.0))"},
      {"0000:03:00.0", "03:00.0", R"("03:00.0" is the same device as dpdk.ports[0] (0000:03:00.0))"},
      {"0000:af:00.1", "0000:AF:00.1,rxq=2", R"("0000:AF:00.1,rxq=2" is the same device as dpdk.ports[0] (0000:af:00.1))"},
      {"net_af_packet0,iface=veth0", "net_af_packet1,iface=veth0",
       R"("net_af_packet1,iface=veth0" uses interface veth0, as dpdk.ports[0] does)"},
      {"net_af_packet0,iface=veth0", "net_af_packet0,iface=veth1",
       R"("net_af_packet0,iface=veth1" is the same device as dpdk.ports[0] (net_af_packet0))"},
      {"net_pcap0,rx_iface=veth0,tx_iface=veth0", "net_af_xdp0,iface=veth0,start_queue=0",
       R"("net_af_xdp0,iface=veth0,start_queue=0" uses interface veth0, as dpdk.ports[0] does)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.first) + " / " + c.second);
    const auto result = parseConfig(twoPortsWith([&](auto& ports) {
                                      port(ports, 0)["device"] = c.first;
                                      port(ports, 1)["device"] = c.second;
                                    }),
                                    "/");
    EXPECT_FALSE(result.config.has_value());
    EXPECT_EQ(result.errors, Strings{"dpdk.ports[1].device: " + c.error});
  }
}

TEST(ConfigPortDevice, DistinctDevicesAccepted) {
  const struct {
    const char* first;
    const char* second;
  } cases[] = {
      {"0000:03:00.0", "0000:03:00.1"},
      {"0000:03:00.0", "0001:03:00.0"},
      {"net_af_packet0,iface=veth0", "net_af_packet1,iface=veth01"},
      {"net_tap0", "net_tap1"},
      {"net_memif0,socket=/run/a.sock", "net_memif1,socket=/run/b.sock"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.first) + " / " + c.second);
    const auto result = parseConfig(twoPortsWith([&](auto& ports) {
                                      port(ports, 0)["device"] = c.first;
                                      port(ports, 1)["device"] = c.second;
                                    }),
                                    "/");
    EXPECT_TRUE(result.ok()) << testing::PrintToString(result.errors);
  }
}

TEST(ConfigPortDevice, Claims) {
  EXPECT_EQ(deviceClaims("03:00.7").device, "0000:03:00.7");
  EXPECT_EQ(deviceClaims("0000:0A:1F.0,class=eth").device, "0000:0a:1f.0");
  EXPECT_TRUE(deviceClaims("0000:0a:1f.0,iface=x").interfaces.empty());  // a PCI device has no kernel interface
  const DeviceClaims pcap = deviceClaims("net_pcap0,rx_iface=a,tx_iface=b,rx_iface_in=a");
  EXPECT_EQ(pcap.device, "net_pcap0");
  EXPECT_EQ(pcap.interfaces, (Strings{"a", "b"}));
  EXPECT_TRUE(deviceClaims("net_ring0").interfaces.empty());
}

TEST(ConfigDuplicateKeys, TopLevelKeyNamed) {
  // Boost.JSON alone would keep "iptables"; the daemon would then run the wrong mode.
  const auto result = parseConfig(R"({"mode": "dpdk", "mode": "iptables", "servicesFile": "s.json"})", "/");
  EXPECT_FALSE(result.config.has_value());
  EXPECT_EQ(result.errors,
            Strings{"mode: duplicate key (an object keeps only its last value; remove the others)"});
}

TEST(ConfigDuplicateKeys, NestedKeysNamedWithArrayIndexes) {
  const auto result = parseConfig(R"({
  "mode": "dpdk", "servicesFile": "services.json",
  "dpdk": {
    "eal": ["--no-huge", "-l", "0-1"],
    "ports": [
      {"device": "0000:03:00.0", "address": "10.50.0.1/24",
       "neighbors": [{"address": "10.50.0.2", "mac": "02:00:00:00:00:02"},
                     {"address": "10.50.0.3", "mac": "02:00:00:00:00:03", "mac": "02:00:00:00:00:04"}]},
      {"device": "net_tap0", "address": "10.60.0.1/32", "address": "10.60.0.2/32"}
    ],
    "ingress": {"verifyIpChecksum": false, "verifyIpChecksum": true}
  },
  "conntrack": {"udpTimeout": "10s"}, "conntrack": {"udpTimeout": "20s"}
})",
                                  "/");
  EXPECT_FALSE(result.config.has_value());
  const std::string why = ": duplicate key (an object keeps only its last value; remove the others)";
  EXPECT_EQ(result.errors, (Strings{"dpdk.ports[0].neighbors[1].mac" + why, "dpdk.ports[1].address" + why,
                                    "dpdk.ingress.verifyIpChecksum" + why, "conntrack" + why}));
}

TEST(ConfigDuplicateKeys, SameKeyInSiblingObjectsIsFine) {
  EXPECT_TRUE(json::duplicateKeys(R"({"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]})").empty());
  EXPECT_EQ(json::duplicateKeys(R"({"a": [[1, 2], {"x": 1, "y": {"x": 2}, "x": 3}]})"),
            Strings{"a[1].x: duplicate key (an object keeps only its last value; remove the others)"});
  EXPECT_TRUE(json::duplicateKeys("not json").empty());
}

}  // namespace
}  // namespace nicproxy
