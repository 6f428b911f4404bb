// Tests: drivers/ipvs/ipvs_netlink (IpvsClient) against FakeIpvsTransport, which
// decodes the generic-netlink messages the client actually built with libnl's
// genlmsg_parse/nla_parse_nested as the kernel does. Addresses: virtual servers
// 172.30.0.0/16, real servers 10.180.0.0/16.
#include <gtest/gtest.h>

#include <linux/ip_vs.h>

#include "drivers/ipvs/ipvs_netlink.hpp"
#include "tests/kernel_fake/fake_ipvs.hpp"
#include "tests/unit/kernel_fixtures.hpp"

namespace nicproxy {
namespace {

using fixtures::ip;

const IpvsServiceKey kWeb{.address = ip("172.30.0.41"), .protocol = Protocol::Tcp, .port = 80};
const IpvsServiceKey kDns{.address = ip("172.30.0.10"), .protocol = Protocol::Udp, .port = 53};

TEST(IpvsClient, NewServiceCarriesEveryAttributeTheKernelRequires) {
  FakeIpvsTransport fake;
  IpvsClient client(fake);
  client.addService({.key = kWeb, .scheduler = "wlc", .flags = IP_VS_SVC_F_PERSISTENT, .timeout = 10800});
  ASSERT_EQ(fake.requests.size(), 1u);
  const auto& r = fake.requests[0];
  EXPECT_EQ(r.command, IPVS_CMD_NEW_SERVICE);
  EXPECT_FALSE(r.dump);
  ASSERT_TRUE(r.service);
  EXPECT_TRUE(r.serviceFull);
  EXPECT_EQ(r.service->key, kWeb);  // address and port decoded from network order
  EXPECT_EQ(r.service->scheduler, "wlc");
  EXPECT_EQ(r.service->flags, uint32_t{IP_VS_SVC_F_PERSISTENT});
  EXPECT_EQ(r.service->timeout, 10800u);
  EXPECT_EQ(r.service->netmask, 0xffffffffu);
  EXPECT_FALSE(r.dest);
}

TEST(IpvsClient, ServicesDumpReadsBackWhatWasAddedWithoutTheKernelsHashedFlag) {
  FakeIpvsTransport fake;
  IpvsClient client(fake);
  client.addService({.key = kWeb, .scheduler = "rr"});
  client.addService({.key = kDns, .scheduler = "sh", .flags = IP_VS_SVC_F_PERSISTENT, .timeout = 60});
  const auto services = client.services();
  ASSERT_EQ(services.size(), 2u);
  EXPECT_EQ(services[0], (IpvsService{.key = kDns, .scheduler = "sh", .flags = IP_VS_SVC_F_PERSISTENT, .timeout = 60}));
  EXPECT_EQ(services[1], (IpvsService{.key = kWeb, .scheduler = "rr"}));
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_GET_SERVICE);
  EXPECT_TRUE(fake.requests.back().dump);
}

TEST(IpvsClient, DestinationsAddSetDeleteAndDumpWithConnectionCounts) {
  FakeIpvsTransport fake;
  IpvsClient client(fake);
  client.addService({.key = kWeb});
  client.addDestination(kWeb, {.address = ip("10.180.0.1"), .port = 8080, .weight = 1});
  client.addDestination(kWeb, {.address = ip("10.180.0.2"), .port = 8080, .weight = 1});
  const auto& add = fake.requests.back();
  EXPECT_EQ(add.command, IPVS_CMD_NEW_DEST);
  ASSERT_TRUE(add.service && add.dest);
  EXPECT_EQ(add.service->key, kWeb);
  EXPECT_FALSE(add.serviceFull);  // the service is named, not redefined
  EXPECT_TRUE(add.destFull);
  EXPECT_EQ(add.dest->address, ip("10.180.0.2"));
  EXPECT_EQ(add.dest->port, 8080);
  EXPECT_EQ(add.dest->forwardMethod, uint32_t{IP_VS_CONN_F_MASQ});

  client.updateDestination(kWeb, {.address = ip("10.180.0.1"), .port = 8080, .weight = 0});
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_SET_DEST);
  fake.setConnections(kWeb, ip("10.180.0.1"), 8080, 3, 4);
  auto dests = client.destinations(kWeb);
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_GET_DEST);
  EXPECT_EQ(fake.requests.back().service->key, kWeb);
  ASSERT_EQ(dests.size(), 2u);
  EXPECT_EQ(dests[0].address, ip("10.180.0.1"));
  EXPECT_EQ(dests[0].weight, 0u);
  EXPECT_EQ(dests[0].activeConns, 3u);
  EXPECT_EQ(dests[0].inactiveConns, 4u);
  EXPECT_EQ(dests[1].weight, 1u);

  client.deleteDestination(kWeb, dests[0]);
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_DEL_DEST);
  EXPECT_EQ(client.destinations(kWeb).size(), 1u);
}

TEST(IpvsClient, SetAndDeleteServiceAndFlush) {
  FakeIpvsTransport fake;
  IpvsClient client(fake);
  client.addService({.key = kWeb, .scheduler = "rr"});
  client.updateService({.key = kWeb, .scheduler = "lc"});
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_SET_SERVICE);
  EXPECT_TRUE(fake.requests.back().serviceFull);
  EXPECT_EQ(fake.state.at(kWeb).service.scheduler, "lc");
  client.deleteService(kWeb);
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_DEL_SERVICE);
  EXPECT_FALSE(fake.requests.back().serviceFull);
  EXPECT_TRUE(fake.state.empty());
  client.addService({.key = kDns});
  client.flush();
  EXPECT_EQ(fake.requests.back().command, IPVS_CMD_FLUSH);
  EXPECT_TRUE(fake.state.empty());
}

TEST(IpvsClient, SetTimeoutsSendsTheThreeConfigAttributes) {
  FakeIpvsTransport fake;
  IpvsClient client(fake);
  client.setTimeouts(7200, 0, 60);
  ASSERT_EQ(fake.requests.size(), 1u);
  EXPECT_EQ(fake.requests[0].command, IPVS_CMD_SET_CONFIG);
  EXPECT_EQ(fake.requests[0].timeouts[0], 7200u);
  EXPECT_EQ(fake.requests[0].timeouts[1], 0u);
  EXPECT_EQ(fake.requests[0].timeouts[2], 60u);
  EXPECT_EQ(fake.timeouts, (std::array<uint32_t, 3>{7200, 120, 60}));  // 0 leaves TCP FIN as it was
}

TEST(IpvsClient, KernelRefusalsBecomeErrorsNamingTheService) {
  FakeIpvsTransport fake;
  IpvsClient client(fake);
  client.addService({.key = kWeb});
  try {
    client.addService({.key = kWeb});
    FAIL() << "a duplicate service was accepted";
  } catch (const std::runtime_error& error) {
    EXPECT_NE(std::string(error.what()).find("add virtual server TCP 172.30.0.41:80"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("File exists"), std::string::npos) << error.what();
  }
  EXPECT_THROW(client.deleteService(kDns), std::runtime_error);
  EXPECT_THROW(client.addService({.key = kDns, .scheduler = "nope"}), std::runtime_error);
}

}  // namespace
}  // namespace nicproxy
