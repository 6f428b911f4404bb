// Tests: control/k8s/node_address: the Node's InternalIP, read from the fake HTTPS API
// server (tests/k8s_fake) with GET /api/v1/nodes/{name}, and each way of not finding it.
// Addresses: node-a's InternalIP 10.50.0.7; the fake listens on 127.0.0.1.
//   NodeAddress.FoundByName               the named Node's IPv4 InternalIP, not another Node's
//   NodeAddress.DualStackTakesTheIpv4One  an IPv6 InternalIP listed first is passed over
//   NodeAddress.NoInternalIp              only Hostname / IPv6 addresses: says what the Node has
//   NodeAddress.UnknownNode               404 names the Node
//   NodeAddress.Refused                   wrong token: HTTP 401 and the Status message
//   NodeAddress.ServerDown                transport error names the request
#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include <boost/json.hpp>

#include "control/k8s/node_address.hpp"
#include "tests/k8s_fake/fake_apiserver.hpp"
#include "tests/k8s_fake/objects.hpp"

namespace nicproxy::k8s {
namespace {

class NodeAddress : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/nicproxy-nodeaddress.XXXXXX";
    dir_ = mkdtemp(pattern);
    nicproxy::testing::makeTestCertificates(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override {
    server_ = std::make_unique<nicproxy::testing::FakeApiServer>(
        nicproxy::testing::FakeApiServerOptions{dir_ + "/server.crt", dir_ + "/server.key", "t"});
    server_->start();
  }
  Connection connection(const std::string& token = "t") const {
    Connection c;
    c.server = "https://127.0.0.1:" + std::to_string(server_->port());
    c.caFile = dir_ + "/ca.crt";
    c.token = token;
    return c;
  }
  // A Node with these status.addresses, each {type, address}.
  void applyNode(const std::string& name, const std::vector<std::pair<std::string, std::string>>& addresses) {
    boost::json::array list;
    for (const auto& [type, address] : addresses) list.push_back({{"type", type}, {"address", address}});
    boost::json::value node = nicproxy::testing::nodeJson(name, "0.0.0.0", "zone-a");
    node.as_object()["status"].as_object()["addresses"] = list;
    server_->apply("nodes", node);
  }

  static std::string dir_;
  std::unique_ptr<nicproxy::testing::FakeApiServer> server_;
};
std::string NodeAddress::dir_;

TEST_F(NodeAddress, FoundByName) {
  applyNode("node-b", {{"InternalIP", "10.50.0.8"}});
  applyNode("node-a", {{"Hostname", "node-a"}, {"InternalIP", "10.50.0.7"}, {"ExternalIP", "192.0.2.7"}});
  const NodeInternalIp found = fetchNodeInternalIp(connection(), "node-a");
  ASSERT_TRUE(found.address.has_value()) << found.error;
  EXPECT_EQ(formatIpv4(*found.address), "10.50.0.7");
  // One GET of the named Node, not a list.
  const auto requests = server_->requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back(), "GET /api/v1/nodes/node-a");
}

TEST_F(NodeAddress, DualStackTakesTheIpv4One) {
  applyNode("node-a", {{"InternalIP", "fd00::7"}, {"InternalIP", "10.50.0.7"}});
  const NodeInternalIp found = fetchNodeInternalIp(connection(), "node-a");
  ASSERT_TRUE(found.address.has_value()) << found.error;
  EXPECT_EQ(formatIpv4(*found.address), "10.50.0.7");
}

TEST_F(NodeAddress, NoInternalIp) {
  applyNode("node-a", {{"Hostname", "node-a"}, {"InternalIP", "fd00::7"}});
  NodeInternalIp found = fetchNodeInternalIp(connection(), "node-a");
  EXPECT_FALSE(found.address.has_value());
  EXPECT_EQ(found.error, "Node node-a has no IPv4 InternalIP in status.addresses (it has Hostname node-a, InternalIP "
                         "fd00::7)");
  applyNode("node-a", {});
  found = fetchNodeInternalIp(connection(), "node-a");
  EXPECT_EQ(found.error, "Node node-a has no IPv4 InternalIP in status.addresses (it lists none)");
}

TEST_F(NodeAddress, UnknownNode) {
  applyNode("node-b", {{"InternalIP", "10.50.0.8"}});
  const NodeInternalIp found = fetchNodeInternalIp(connection(), "node-a");
  EXPECT_FALSE(found.address.has_value());
  const std::string url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/api/v1/nodes/node-a";
  EXPECT_EQ(found.error, "Node node-a is not known to the API server (GET " + url + ": HTTP 404)");
}

TEST_F(NodeAddress, Refused) {
  applyNode("node-a", {{"InternalIP", "10.50.0.7"}});
  const NodeInternalIp found = fetchNodeInternalIp(connection("wrong"), "node-a");
  EXPECT_FALSE(found.address.has_value());
  const std::string url = "https://127.0.0.1:" + std::to_string(server_->port()) + "/api/v1/nodes/node-a";
  EXPECT_EQ(found.error, "GET " + url + ": HTTP 401: Unauthorized");
}

TEST_F(NodeAddress, ServerDown) {
  // Served once first: the fake's stop() at the end must find it serving (cpp-httplib
  // misses a stop() that comes before listen() has started).
  applyNode("node-a", {{"InternalIP", "10.50.0.7"}});
  ASSERT_TRUE(fetchNodeInternalIp(connection(), "node-a").address.has_value());
  Connection c = connection();
  c.server = "https://127.0.0.1:1";  // nothing listens there: refused at once
  ClientTimeouts timeouts;
  timeouts.connect = std::chrono::seconds{2};
  timeouts.lowSpeedTime = std::chrono::seconds{2};
  const NodeInternalIp found = fetchNodeInternalIp(c, "node-a", timeouts);
  EXPECT_FALSE(found.address.has_value());
  EXPECT_EQ(found.error.rfind("GET " + c.server + "/api/v1/nodes/node-a: ", 0), 0u) << found.error;
  EXPECT_NE(found.error.find("connect"), std::string::npos) << found.error;
}

}  // namespace
}  // namespace nicproxy::k8s
