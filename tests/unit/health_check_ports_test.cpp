// Tests: daemon/health_check_ports (serviceHealthChecks, healthCheckBody, HealthCheckPorts).
//   ServiceHealthChecks.OnlyServicesWithAPortAndLocalReadyAddresses  distinct local ready addresses over
//                                                                   all ports; remote, not ready, terminating
//                                                                   and eTP Cluster do not count
//   HealthCheckBody.IsKubeProxysText                     tabs, field order, no final newline
//   HealthCheckPorts.AnswersAsKubeProxyAndFollowsSyncs   200 + body + headers with a local endpoint, 503
//                                                        without, 503 when the proxy is unhealthy, any path
//                                                        and HEAD, closed (refused) after the Service goes
//   HealthCheckPorts.PortChangeMovesTheServer            the old port closes, the new one answers
//   HealthCheckPorts.PortInUseIsRetriedNotThrown         sync does not throw; served once the port is free
//   HealthCheckPorts.SecondOwnerDoesNotSharePort         no SO_REUSEPORT: a second server cannot steal probes
//   HealthCheckPorts.ListensOnNodePortAddressesOnly      127.0.0.2 is served, 127.0.0.1 is not
// Real sockets on loopback only (127.0.0.1, 127.0.0.2), on ports the kernel picked as free.
// Endpoints: 10.244.0.0/16; this node is "edge-1".
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <httplib.h>

#include "daemon/health_check_ports.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;

Ipv4 ip(const char* text) { return parseIpv4(text).value(); }

Endpoint endpoint(const char* address, uint16_t port, bool local, bool ready = true, bool terminating = false) {
  Endpoint e;
  e.address = ip(address);
  e.port = port;
  e.isLocal = local;
  e.nodeName = local ? "edge-1" : "edge-2";
  e.ready = ready;
  e.serving = ready || terminating;
  e.terminating = terminating;
  return e;
}

ServicePortPtr lbPort(const char* ns, const char* name, const char* portName, uint16_t hcPort,
                      std::vector<Endpoint> endpoints) {
  auto port = std::make_shared<ServicePort>();
  port->name = ServicePortName{ns, name, portName, Protocol::Tcp};
  port->type = ServiceType::LoadBalancer;
  port->externalTrafficPolicy = hcPort != 0 ? TrafficPolicy::Local : TrafficPolicy::Cluster;
  port->healthCheckNodePort = hcPort;
  port->endpoints = std::move(endpoints);
  return port;
}

ServiceTable table(std::vector<ServicePortPtr> ports) {
  ServiceTable::Map map;
  for (auto& port : ports) map.emplace(port->name, std::move(port));
  return ServiceTable(std::move(map), 1);
}

TEST(ServiceHealthChecks, OnlyServicesWithAPortAndLocalReadyAddresses) {
  const auto checks = serviceHealthChecks(table({
      // One pod behind two ports is one endpoint; the remote, the not ready and the
      // terminating ones do not count.
      lbPort("shop", "web", "http", 32001,
             {endpoint("10.244.0.1", 8080, true), endpoint("10.244.0.2", 8080, false),
              endpoint("10.244.0.3", 8080, true, false), endpoint("10.244.0.4", 8080, true, false, true)}),
      lbPort("shop", "web", "https", 32001, {endpoint("10.244.0.1", 8443, true), endpoint("10.244.0.5", 8443, true)}),
      lbPort("shop", "empty", "", 32002, {endpoint("10.244.0.2", 8080, false)}),
      lbPort("shop", "cluster", "", 0, {endpoint("10.244.0.1", 8080, true)}),
  }));
  std::string text;  // "namespace/name port count;" per Service, readable when it fails
  for (const auto& [service, check] : checks) {
    text += service.toString() + " " + std::to_string(check.port) + " " + std::to_string(check.localEndpoints) + ";";
  }
  EXPECT_EQ(text, "shop/empty 32002 0;shop/web 32001 2;");
}

TEST(HealthCheckBody, IsKubeProxysText) {
  EXPECT_EQ(healthCheckBody(k8s::ObjectKey{"shop", "web"}, 2, true),
            "{\n\t\"service\": {\n\t\t\"namespace\": \"shop\",\n\t\t\"name\": \"web\"\n\t},\n"
            "\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}");
}

// A port nothing listens on now (the kernel's pick, released again).
uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A plain listening socket that holds a port, as another program would.
struct PortHolder {
  explicit PortHolder(uint16_t port) : fd(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_ANY);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(fd, 4), 0);
  }
  ~PortHolder() { ::close(fd); }
  int fd;
};

struct Probe {
  int status = -1;  // -1: no answer (refused)
  std::string body;
  std::string weight;
  std::string contentType;
  std::string nosniff;
};

Probe probe(const std::string& host, uint16_t port, const std::string& path = "/", bool head = false) {
  httplib::Client client(host, port);
  client.set_connection_timeout(1s);
  client.set_read_timeout(2s);
  const auto result = head ? client.Head(path.c_str()) : client.Get(path.c_str());
  Probe out;
  if (!result) return out;
  out.status = result->status;
  out.body = result->body;
  out.weight = result->get_header_value("X-Load-Balancing-Endpoint-Weight");
  out.contentType = result->get_header_value("Content-Type");
  out.nosniff = result->get_header_value("X-Content-Type-Options");
  return out;
}

// Probes until `done` holds or 3 s pass (the server's thread binds asynchronously).
template <typename Done>
Probe probeUntil(const std::string& host, uint16_t port, Done done) {
  Probe last;
  for (int i = 0; i < 60; ++i) {
    last = probe(host, port);
    if (done(last)) break;
    std::this_thread::sleep_for(50ms);
  }
  return last;
}

HealthCheckPorts::Options loopbackOptions(std::function<bool()> healthy = {}) {
  HealthCheckPorts::Options options;
  options.nodePortAddresses = {Ipv4Cidr{ip("127.0.0.1"), 32}};
  options.localAddresses = [] { return std::vector<Ipv4>{ip("127.0.0.1"), ip("127.0.0.2")}; };
  options.proxyHealthy = std::move(healthy);
  options.retryInterval = 100ms;
  return options;
}

TEST(HealthCheckPorts, AnswersAsKubeProxyAndFollowsSyncs) {
  const uint16_t port = freePort();
  std::atomic<bool> healthy{true};
  HealthCheckPorts ports(loopbackOptions([&healthy] { return healthy.load(); }));
  ports.sync(table({lbPort("shop", "web", "http", port, {endpoint("10.244.0.1", 8080, true)})}), {}, true);
  EXPECT_EQ(ports.ports(), (std::map<k8s::ObjectKey, uint16_t>{{k8s::ObjectKey{"shop", "web"}, port}}));

  Probe answer = probeUntil("127.0.0.1", port, [](const Probe& p) { return p.status != -1; });
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, healthCheckBody(k8s::ObjectKey{"shop", "web"}, 1, true));
  EXPECT_EQ(answer.weight, "1");
  EXPECT_EQ(answer.contentType, "application/json");
  EXPECT_EQ(answer.nosniff, "nosniff");
  EXPECT_EQ(probe("127.0.0.1", port, "/healthz").status, 200);  // any path
  EXPECT_EQ(probe("127.0.0.1", port, "/", true).status, 200);    // HEAD

  healthy = false;
  answer = probe("127.0.0.1", port);
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.body, healthCheckBody(k8s::ObjectKey{"shop", "web"}, 1, false));
  healthy = true;

  // The last local endpoint goes (only a remote one left): 503, weight 0, same port.
  ports.sync(table({lbPort("shop", "web", "http", port, {endpoint("10.244.0.2", 8080, false)})}), {}, false);
  answer = probe("127.0.0.1", port);
  EXPECT_EQ(answer.status, 503);
  EXPECT_EQ(answer.body, healthCheckBody(k8s::ObjectKey{"shop", "web"}, 0, true));
  EXPECT_EQ(answer.weight, "0");

  // The Service goes: the port is closed at once.
  ports.sync(table({}), {}, false);
  EXPECT_TRUE(ports.ports().empty());
  EXPECT_EQ(probe("127.0.0.1", port).status, -1);
}

TEST(HealthCheckPorts, PortChangeMovesTheServer) {
  const uint16_t before = freePort();
  const uint16_t after = freePort();
  HealthCheckPorts ports(loopbackOptions());
  ports.sync(table({lbPort("shop", "web", "", before, {endpoint("10.244.0.1", 8080, true)})}), {}, true);
  ASSERT_EQ(probeUntil("127.0.0.1", before, [](const Probe& p) { return p.status == 200; }).status, 200);
  ports.sync(table({lbPort("shop", "web", "", after, {endpoint("10.244.0.1", 8080, true)})}), {}, false);
  EXPECT_EQ(probeUntil("127.0.0.1", after, [](const Probe& p) { return p.status == 200; }).status, 200);
  EXPECT_EQ(probe("127.0.0.1", before).status, -1);
}

TEST(HealthCheckPorts, PortInUseIsRetriedNotThrown) {
  const uint16_t port = freePort();
  HealthCheckPorts ports(loopbackOptions());
  {
    const PortHolder holder(port);
    EXPECT_NO_THROW(
        ports.sync(table({lbPort("shop", "web", "", port, {endpoint("10.244.0.1", 8080, true)})}), {}, true));
    std::this_thread::sleep_for(250ms);  // a few failed attempts
  }
  const Probe answer = probeUntil("127.0.0.1", port, [](const Probe& p) { return p.status == 200; });
  EXPECT_EQ(answer.status, 200);
}

TEST(HealthCheckPorts, SecondOwnerDoesNotSharePort) {
  const uint16_t port = freePort();
  HealthCheckPorts first(loopbackOptions());
  first.sync(table({lbPort("shop", "web", "", port, {endpoint("10.244.0.1", 8080, true)})}), {}, true);
  ASSERT_EQ(probeUntil("127.0.0.1", port, [](const Probe& p) { return p.status == 200; }).status, 200);
  // A second owner of the same port (another nicproxy) would answer 503 for its Service
  // "other" if the kernel let it share the port; every probe must reach the first.
  HealthCheckPorts second(loopbackOptions());
  second.sync(table({lbPort("shop", "other", "", port, {})}), {}, true);
  std::this_thread::sleep_for(200ms);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(probe("127.0.0.1", port).status, 200) << "probe " << i;
}

TEST(HealthCheckPorts, ListensOnNodePortAddressesOnly) {
  const uint16_t port = freePort();
  HealthCheckPorts::Options options = loopbackOptions();
  options.nodePortAddresses = {Ipv4Cidr{ip("127.0.0.2"), 32}};
  HealthCheckPorts ports(std::move(options));
  ports.sync(table({lbPort("shop", "web", "", port, {endpoint("10.244.0.1", 8080, true)})}), {}, true);
  EXPECT_EQ(probeUntil("127.0.0.2", port, [](const Probe& p) { return p.status == 200; }).status, 200);
  EXPECT_EQ(probe("127.0.0.1", port).status, -1);
}

}  // namespace
}  // namespace nicproxy
