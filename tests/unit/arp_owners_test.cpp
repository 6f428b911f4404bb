// Tests: control/arp_owners (the --validate warnings about external / LB IPs that another
// host answers ARP for). Addresses: port 0 10.50.0.1/24 with gateway 10.50.0.254 and the
// permanent neighbour 10.50.0.9 (02:00:00:00:00:09); port 1 10.60.0.1/24; endpoints
// 10.50.0.11 (service "web"), 10.60.0.21 (service "far") and 172.16.0.5 (service "pod",
// outside every port subnet); free addresses 10.50.0.200 and 192.0.2.10 (outside).
#include <gtest/gtest.h>

#include "control/arp_owners.hpp"

namespace nicproxy {
namespace {

constexpr Ipv4 ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) { return (a << 24) | (b << 16) | (c << 8) | d; }

Config dpdkConfig() {
  Config config;
  config.mode = ProxyMode::Dpdk;
  DpdkPortConfig port0;
  port0.address = Ipv4Cidr{ip(10, 50, 0, 1), 24};
  port0.gateway = ip(10, 50, 0, 254);
  port0.neighbors = {StaticNeighbor{ip(10, 50, 0, 9), MacAddress{2, 0, 0, 0, 0, 9}}};
  DpdkPortConfig port1;
  port1.address = Ipv4Cidr{ip(10, 60, 0, 1), 24};
  config.dpdk.ports = {port0, port1};
  return config;
}

ServicePortPtr servicePort(const std::string& name, Ipv4 endpoint, std::vector<Ipv4> externalIPs,
                           std::vector<Ipv4> loadBalancerIPs = {}) {
  auto sp = std::make_shared<ServicePort>();
  sp->name = ServicePortName{"default", name, "http", Protocol::Tcp};
  sp->clusterIPs = {ip(10, 96, 0, 10)};
  sp->port = 80;
  sp->externalIPs = std::move(externalIPs);
  sp->loadBalancerIPs = std::move(loadBalancerIPs);
  Endpoint e;
  e.address = endpoint;
  e.port = 8080;
  e.ready = e.serving = true;
  sp->endpoints = {e};
  return sp;
}

ServiceTable tableWith(Ipv4 externalIP, bool asLoadBalancer = false) {
  ServiceTable::Map map;
  for (auto sp : {servicePort("web", ip(10, 50, 0, 11), {}), servicePort("far", ip(10, 60, 0, 21), {}),
                  servicePort("pod", ip(172, 16, 0, 5), {})}) {
    map[sp->name] = sp;
  }
  auto clash = asLoadBalancer ? servicePort("clash", ip(10, 50, 0, 12), {}, {externalIP})
                              : servicePort("clash", ip(10, 50, 0, 12), {externalIP});
  map[clash->name] = clash;
  return ServiceTable(std::move(map), 1);
}

TEST(ArpOwnerWarnings, Table) {
  const struct {
    const char* description;
    Ipv4 address;
    bool asLoadBalancer;
    const char* expected;  // "" when no warning
  } cases[] = {
      {"a port address", ip(10, 50, 0, 1), false,
       "external IP 10.50.0.1 of default/clash:http is the address of dpdk.ports[0]"},
      {"another port's address, in its own subnet", ip(10, 60, 0, 1), false,
       "external IP 10.60.0.1 of default/clash:http is the address of dpdk.ports[1]"},
      {"a gateway", ip(10, 50, 0, 254), false,
       "external IP 10.50.0.254 of default/clash:http is the gateway of dpdk.ports[0]"},
      {"a permanent neighbour", ip(10, 50, 0, 9), false,
       "external IP 10.50.0.9 of default/clash:http is a permanent neighbour of dpdk.ports[0] (02:00:00:00:00:09)"},
      {"an endpoint of another service", ip(10, 50, 0, 11), false,
       "external IP 10.50.0.11 of default/clash:http is an endpoint of default/web:http"},
      {"an endpoint, as an LB IP", ip(10, 60, 0, 21), true,
       "loadBalancer IP 10.60.0.21 of default/clash:http is an endpoint of default/far:http"},
      {"its own endpoint", ip(10, 50, 0, 12), false,
       "external IP 10.50.0.12 of default/clash:http is an endpoint of default/clash:http"},
      {"a free address in the subnet", ip(10, 50, 0, 200), false, ""},
      {"outside every port subnet (not answered)", ip(192, 0, 2, 10), false, ""},
      {"an endpoint outside every port subnet (not answered)", ip(172, 16, 0, 5), false, ""},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    const std::vector<std::string> warnings = arpOwnerWarnings(dpdkConfig(), tableWith(c.address, c.asLoadBalancer));
    if (c.expected[0] == '\0') {
      EXPECT_TRUE(warnings.empty()) << (warnings.empty() ? "" : warnings[0]);
      continue;
    }
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].rfind(c.expected, 0), 0u) << warnings[0];
  }
}

TEST(ArpOwnerWarnings, OnlyInDpdkMode) {
  Config config = dpdkConfig();
  config.mode = ProxyMode::Iptables;
  EXPECT_TRUE(arpOwnerWarnings(config, tableWith(ip(10, 50, 0, 254))).empty())
      << "the kernel modes answer no ARP for external IPs";
}

}  // namespace
}  // namespace nicproxy
