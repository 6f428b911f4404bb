// Tests: drivers/ipvs/ipvs_provider (IpvsProvider) against FakeIpvsTransport (decodes
// the netlink messages built, keeps an in-memory IPVS table), FakeVipLink (kube-ipvs0)
// and FakeExecutor (iptables-restore, ipset). Addresses: cluster IPs 172.30.0.0/16,
// endpoints 10.180.0.0/16, external IPs 192.168.99.0/24, node 192.168.0.2 (and
// 127.0.0.1, which gets no NodePort), a foreign IPVS service on 10.0.0.1.
#include <gtest/gtest.h>

#include <linux/ip_vs.h>

#include "drivers/ipvs/ipvs_provider.hpp"
#include "tests/kernel_fake/fake_ipvs.hpp"
#include "tests/unit/kernel_fixtures.hpp"

namespace nicproxy {
namespace {

using fixtures::endpoint;
using fixtures::ip;

const IpvsServiceKey kWebCluster{ip("172.30.0.41"), Protocol::Tcp, 80};
const IpvsServiceKey kWebExternal{ip("192.168.99.11"), Protocol::Tcp, 80};
const IpvsServiceKey kWebNodePort{ip("192.168.0.2"), Protocol::Tcp, 30080};
const IpvsServiceKey kDns{ip("172.30.0.10"), Protocol::Udp, 53};

ServicePort web(std::vector<Endpoint> endpoints) {
  ServicePort p = fixtures::clusterIpPort("ns", "web", "http", "172.30.0.41", 80, std::move(endpoints));
  p.type = ServiceType::NodePort;
  p.nodePort = 30080;
  p.externalIPs = {ip("192.168.99.11")};
  return p;
}

ServicePort dns(std::vector<Endpoint> endpoints) {
  return fixtures::clusterIpPort("kube-system", "dns", "dns", "172.30.0.10", 53, std::move(endpoints), Protocol::Udp);
}

std::vector<Endpoint> twoWebEndpoints() { return {endpoint("10.180.0.1", 8080), endpoint("10.180.0.2", 8080)}; }

// (address, port, weight) of a virtual server's real servers in the fake kernel.
std::vector<std::tuple<std::string, uint16_t, uint32_t>> realServers(const FakeIpvsTransport& fake,
                                                                     const IpvsServiceKey& key) {
  std::vector<std::tuple<std::string, uint16_t, uint32_t>> out;
  for (const auto& [id, dest] : fake.state.at(key).dests) out.emplace_back(formatIpv4(dest.address), dest.port, dest.weight);
  return out;
}

struct IpvsProviderTest : ::testing::Test {
  FakeIpvsTransport ipvs;
  FakeVipLink link;
  FakeExecutor exec;
  std::vector<std::string> sysctls;

  IpvsProvider make(const std::string& scheduler = "rr", uint32_t tcpTimeout = 0) {
    IpvsProviderOptions options;
    options.scheduler = scheduler;
    options.tcpTimeout = tcpTimeout;
    options.localAddresses = [] { return std::vector<Ipv4>{ip("192.168.0.2"), ip("127.0.0.1")}; };
    options.writeSysctl = [this](const std::string& name, const std::string& value) {
      sysctls.push_back(name + "=" + value);
    };
    return IpvsProvider(ipvs, link, exec, std::move(options));
  }
};

TEST_F(IpvsProviderTest, SyncFromEmptyMakesOneVirtualServerPerFrontend) {
  IpvsProvider provider = make();
  provider.sync(fixtures::tableOf({web(twoWebEndpoints()), dns({endpoint("10.180.0.3", 53)})}), {}, true);

  ASSERT_EQ(ipvs.state.size(), 4u);  // cluster, external, NodePort on 192.168.0.2 (not 127.0.0.1), DNS
  for (const auto& key : {kWebCluster, kWebExternal, kWebNodePort}) {
    EXPECT_EQ(ipvs.state.at(key).service, (IpvsService{.key = key, .scheduler = "rr"})) << key.toString();
    EXPECT_EQ(realServers(ipvs, key), (decltype(realServers(ipvs, key)){{"10.180.0.1", 8080, 1}, {"10.180.0.2", 8080, 1}}));
  }
  EXPECT_EQ(realServers(ipvs, kDns), (decltype(realServers(ipvs, kDns)){{"10.180.0.3", 53, 1}}));
  for (const auto& [id, dest] : ipvs.state.at(kWebCluster).dests) EXPECT_EQ(dest.forwardMethod, uint32_t{IP_VS_CONN_F_MASQ});
  EXPECT_EQ(link.links.at("kube-ipvs0"), (std::set<Ipv4>{ip("172.30.0.10"), ip("172.30.0.41"), ip("192.168.99.11")}));
  EXPECT_EQ(sysctls, (std::vector<std::string>{"net/ipv4/vs/conntrack=1", "net/ipv4/vs/expire_nodest_conn=1",
                                               "net/ipv4/vs/expire_quiescent_template=1", "net/ipv4/ip_forward=1"}));
  // ipset create, iptables-restore, six jump checks (present in the fake), ipset fill.
  ASSERT_EQ(exec.calls().size(), 9u);
  EXPECT_EQ(exec.calls()[0].argv, (std::vector<std::string>{"ipset", "restore", "-exist"}));
  EXPECT_EQ(exec.calls()[0].stdinData.rfind("create KUBE-LOOP-BACK hash:ip,port,ip family inet", 0), 0u);
  EXPECT_EQ(exec.calls()[1].argv, (std::vector<std::string>{"iptables-restore", "-w", "5", "--noflush"}));
  EXPECT_EQ(exec.calls()[2].argv[5], "-C");
  EXPECT_EQ(exec.calls()[8].argv, (std::vector<std::string>{"ipset", "restore", "-exist"}));
  EXPECT_NE(exec.calls()[8].stdinData.find("add KUBE-IPVS-TMP-1 172.30.0.41,tcp:80\n"), std::string::npos);
  EXPECT_NE(exec.calls()[8].stdinData.find("add KUBE-IPVS-TMP-7 30080\n"), std::string::npos);
}

TEST_F(IpvsProviderTest, OneNewEndpointTouchesOnlyThatRealServer) {
  IpvsProvider provider = make();
  const ServicePort dnsPort = dns({endpoint("10.180.0.3", 53)});
  provider.sync(fixtures::tableOf({web(twoWebEndpoints()), dnsPort}), {}, true);
  ipvs.clearRequests();
  const size_t execBefore = exec.calls().size();

  auto endpoints = twoWebEndpoints();
  endpoints.push_back(endpoint("10.180.0.4", 8080));
  const ServicePort changed = web(endpoints);
  provider.sync(fixtures::tableOf({changed, dnsPort}, 2), {changed.name}, false);

  const auto writes = ipvs.writes();
  ASSERT_EQ(writes.size(), 3u);  // one NEW_DEST per virtual server of the web port
  for (const auto& w : writes) {
    EXPECT_EQ(w.command, IPVS_CMD_NEW_DEST);
    EXPECT_EQ(w.dest->address, ip("10.180.0.4"));
    EXPECT_EQ(w.dest->weight, 1u);
  }
  for (const auto& r : ipvs.requests) {
    if (r.command == IPVS_CMD_GET_DEST) {
      EXPECT_NE(r.service->key, kDns) << "the unchanged DNS port was listed";
    }
  }
  EXPECT_EQ(exec.calls().size(), execBefore) << "no ipset or iptables change was needed";
}

TEST_F(IpvsProviderTest, RemovedEndpointDrainsAtWeightZeroUntilItsConnectionsEnd) {
  IpvsProvider provider = make();
  provider.sync(fixtures::tableOf({web(twoWebEndpoints())}), {}, true);
  ipvs.setConnections(kWebCluster, ip("10.180.0.2"), 8080, 2, 1);
  ipvs.clearRequests();

  const ServicePort one = web({endpoint("10.180.0.1", 8080)});
  provider.sync(fixtures::tableOf({one}, 2), {one.name}, false);
  // With connections: weight 0. Without (external IP, NodePort): deleted at once.
  EXPECT_EQ(realServers(ipvs, kWebCluster),
            (decltype(realServers(ipvs, kWebCluster)){{"10.180.0.1", 8080, 1}, {"10.180.0.2", 8080, 0}}));
  EXPECT_EQ(realServers(ipvs, kWebExternal), (decltype(realServers(ipvs, kWebExternal)){{"10.180.0.1", 8080, 1}}));
  EXPECT_EQ(realServers(ipvs, kWebNodePort), (decltype(realServers(ipvs, kWebNodePort)){{"10.180.0.1", 8080, 1}}));
  EXPECT_EQ(provider.drainingCount(), 1u);

  // A later sync with nothing changed looks again; connections remain: nothing is written.
  ipvs.clearRequests();
  provider.sync(fixtures::tableOf({one}, 2), {}, false);
  EXPECT_TRUE(ipvs.writes().empty());
  EXPECT_EQ(provider.drainingCount(), 1u);

  ipvs.setConnections(kWebCluster, ip("10.180.0.2"), 8080, 0, 0);
  provider.sync(fixtures::tableOf({one}, 2), {}, false);
  ASSERT_EQ(ipvs.writes().size(), 1u);
  EXPECT_EQ(ipvs.writes()[0].command, IPVS_CMD_DEL_DEST);
  EXPECT_EQ(realServers(ipvs, kWebCluster), (decltype(realServers(ipvs, kWebCluster)){{"10.180.0.1", 8080, 1}}));
  EXPECT_EQ(provider.drainingCount(), 0u);
}

TEST_F(IpvsProviderTest, DrainingEndpointThatComesBackIsRestoredInPlace) {
  IpvsProvider provider = make();
  const ServicePort two = web(twoWebEndpoints());
  provider.sync(fixtures::tableOf({two}), {}, true);
  ipvs.setConnections(kWebCluster, ip("10.180.0.2"), 8080, 1, 0);
  const ServicePort one = web({endpoint("10.180.0.1", 8080)});
  provider.sync(fixtures::tableOf({one}, 2), {one.name}, false);
  ipvs.clearRequests();
  provider.sync(fixtures::tableOf({two}, 3), {two.name}, false);
  const auto writes = ipvs.writes();
  ASSERT_EQ(writes.size(), 3u);  // SET weight 1 on the cluster IP, NEW on the other two
  EXPECT_EQ(writes[0].command, IPVS_CMD_SET_DEST);
  EXPECT_EQ(writes[0].dest->weight, 1u);
  EXPECT_EQ(ipvs.state.at(kWebCluster).dests.at({ip("10.180.0.2"), 8080}).activeConns, 1u);  // not re-created
  EXPECT_EQ(provider.drainingCount(), 0u);
}

TEST_F(IpvsProviderTest, UdpRealServersAreDeletedAtOnce) {
  IpvsProvider provider = make();
  provider.sync(fixtures::tableOf({dns({endpoint("10.180.0.3", 53), endpoint("10.180.0.5", 53)})}), {}, true);
  ipvs.setConnections(kDns, ip("10.180.0.5"), 53, 0, 7);
  const ServicePort one = dns({endpoint("10.180.0.3", 53)});
  provider.sync(fixtures::tableOf({one}, 2), {one.name}, false);
  EXPECT_EQ(realServers(ipvs, kDns), (decltype(realServers(ipvs, kDns)){{"10.180.0.3", 53, 1}}));
  EXPECT_EQ(provider.drainingCount(), 0u);
}

TEST_F(IpvsProviderTest, ClientIpAffinityIsPersistenceWithItsTimeout) {
  IpvsProvider provider = make();
  ServicePort sticky = web(twoWebEndpoints());
  sticky.sessionAffinity = SessionAffinity::ClientIP;
  sticky.stickyMaxAgeSeconds = 300;
  provider.sync(fixtures::tableOf({sticky}), {}, true);
  const IpvsService& service = ipvs.state.at(kWebCluster).service;
  EXPECT_EQ(service.flags, uint32_t{IP_VS_SVC_F_PERSISTENT});
  EXPECT_EQ(service.timeout, 300u);
  EXPECT_EQ(service.netmask, 0xffffffffu);

  ipvs.clearRequests();
  const ServicePort plain = web(twoWebEndpoints());
  provider.sync(fixtures::tableOf({plain}, 2), {plain.name}, false);
  const auto writes = ipvs.writes();
  ASSERT_EQ(writes.size(), 3u);
  for (const auto& w : writes) {
    EXPECT_EQ(w.command, IPVS_CMD_SET_SERVICE);
    EXPECT_EQ(w.service->flags, 0u);
    EXPECT_EQ(w.service->timeout, 0u);
  }
}

TEST_F(IpvsProviderTest, SchedulerComesFromTheConfiguration) {
  IpvsProvider wlc = make("wlc");
  wlc.sync(fixtures::tableOf({web(twoWebEndpoints())}), {}, true);
  for (const auto& [key, vs] : ipvs.state) EXPECT_EQ(vs.service.scheduler, "wlc");

  // Changing it (a restart with another ipvs.scheduler) updates the services in place.
  ipvs.clearRequests();
  IpvsProvider mh = make("mh");
  mh.sync(fixtures::tableOf({web(twoWebEndpoints())}), {}, true);
  EXPECT_EQ(ipvs.writes().size(), 3u);
  for (const auto& [key, vs] : ipvs.state) {
    EXPECT_EQ(vs.service.scheduler, "mh");
    EXPECT_EQ(vs.service.flags, uint32_t{IP_VS_SVC_F_SCHED2}) << "mh hashes the source port too, as kube-proxy asks";
  }
}

TEST_F(IpvsProviderTest, TimeoutsAreSetOnlyWhenConfigured) {
  IpvsProvider plain = make();
  plain.sync(fixtures::tableOf({}), {}, true);
  for (const auto& r : ipvs.requests) EXPECT_NE(r.command, IPVS_CMD_SET_CONFIG);
  IpvsProvider withTcp = make("rr", 3600);
  withTcp.sync(fixtures::tableOf({}), {}, true);
  EXPECT_EQ(ipvs.timeouts, (std::array<uint32_t, 3>{3600, 120, 300}));
}

TEST_F(IpvsProviderTest, RestartConvergesOnStaleKernelStateWithoutDuplicates) {
  // What a previous run (or an older configuration) left behind.
  link.links["kube-ipvs0"] = {ip("172.30.0.41"), ip("172.30.0.99")};
  const IpvsServiceKey stale{ip("172.30.0.99"), Protocol::Tcp, 80};
  const IpvsServiceKey staleNodePort{ip("192.168.0.2"), Protocol::Tcp, 31000};
  const IpvsServiceKey foreign{ip("10.0.0.1"), Protocol::Tcp, 443};
  ipvs.state[kWebCluster] = {{.key = kWebCluster, .scheduler = "lc"},
                             {{{ip("10.180.0.1"), 8080}, {.address = ip("10.180.0.1"), .port = 8080, .weight = 1}},
                              {{ip("10.180.0.9"), 8080}, {.address = ip("10.180.0.9"), .port = 8080, .weight = 1}}}};
  ipvs.state[stale] = {{.key = stale}, {{{ip("10.180.0.7"), 80}, {.address = ip("10.180.0.7"), .port = 80}}}};
  ipvs.state[staleNodePort] = {{.key = staleNodePort}, {}};
  ipvs.state[foreign] = {{.key = foreign}, {}};

  IpvsProvider provider = make();
  const ServiceTable table = fixtures::tableOf({web(twoWebEndpoints())});
  provider.sync(table, {}, true);
  std::set<IpvsServiceKey> keys;
  for (const auto& [key, vs] : ipvs.state) keys.insert(key);
  EXPECT_EQ(keys, (std::set<IpvsServiceKey>{kWebCluster, kWebExternal, kWebNodePort, foreign}));
  EXPECT_EQ(ipvs.state.at(kWebCluster).service.scheduler, "rr");
  EXPECT_EQ(realServers(ipvs, kWebCluster),
            (decltype(realServers(ipvs, kWebCluster)){{"10.180.0.1", 8080, 1}, {"10.180.0.2", 8080, 1}}));
  EXPECT_EQ(link.links.at("kube-ipvs0"), (std::set<Ipv4>{ip("172.30.0.41"), ip("192.168.99.11")}));

  // Another restart on the converged kernel writes nothing to IPVS or kube-ipvs0.
  ipvs.clearRequests();
  link.addressChanges = 0;
  IpvsProvider again = make();
  again.sync(table, {}, true);
  EXPECT_TRUE(ipvs.writes().empty());
  EXPECT_EQ(link.addressChanges, 0u);
}

TEST_F(IpvsProviderTest, CleanupRemovesOnlyWhatIsOurs) {
  IpvsProvider provider = make();
  provider.sync(fixtures::tableOf({web(twoWebEndpoints())}), {}, true);
  const IpvsServiceKey foreign{ip("10.0.0.1"), Protocol::Tcp, 443};
  ipvs.state[foreign] = {{.key = foreign}, {}};

  FakeExecutor cleanupExec;
  const ExecResult ok{.exitCode = 0, .out = {}, .err = {}, .error = {}};
  for (int i = 0; i < 6; ++i) cleanupExec.pushResult({.exitCode = 1, .out = {}, .err = "no such rule", .error = {}});
  cleanupExec.pushResult({.exitCode = 0, .out = ":INPUT ACCEPT [0:0]\n:KUBE-FORWARD - [0:0]\n:KUBE-IPVS-FILTER - [0:0]\n",
                          .err = {}, .error = {}});
  cleanupExec.pushResult(ok);
  cleanupExec.pushResult({.exitCode = 0, .out = ":KUBE-SERVICES - [0:0]\n:KUBE-NODE-PORT - [0:0]\n", .err = {}, .error = {}});
  cleanupExec.pushResult(ok);
  cleanupExec.pushResult({.exitCode = 0, .out = "KUBE-CLUSTER-IP\nsomeone-else\nKUBE-NODE-PORT-TCP\n", .err = {}, .error = {}});
  cleanupExec.setDefaultResult({.exitCode = 0, .out = {}, .err = {}, .error = {}});

  const auto problems = IpvsProvider::cleanup(&ipvs, link, cleanupExec, "KUBE", {ip("192.168.0.2")});
  EXPECT_TRUE(problems.empty()) << testing::PrintToString(problems);
  EXPECT_EQ(ipvs.state.size(), 1u);
  EXPECT_TRUE(ipvs.state.contains(foreign));
  EXPECT_FALSE(link.links.contains("kube-ipvs0"));
  const auto& calls = cleanupExec.calls();
  ASSERT_EQ(calls.size(), 13u);
  EXPECT_EQ(calls[0].argv, (std::vector<std::string>{"iptables", "-w", "5", "-t", "nat", "-D", "OUTPUT", "-m", "comment",
                                                     "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"}));
  EXPECT_EQ(calls[7].stdinData, "*filter\n:KUBE-FORWARD - [0:0]\n:KUBE-IPVS-FILTER - [0:0]\n-X KUBE-IPVS-FILTER\nCOMMIT\n");
  EXPECT_EQ(calls[9].stdinData, "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-NODE-PORT - [0:0]\n-X KUBE-NODE-PORT\nCOMMIT\n");
  EXPECT_EQ(calls[11].argv, (std::vector<std::string>{"ipset", "destroy", "KUBE-CLUSTER-IP"}));
  EXPECT_EQ(calls[12].argv, (std::vector<std::string>{"ipset", "destroy", "KUBE-NODE-PORT-TCP"}));
}

TEST_F(IpvsProviderTest, CleanupWithoutIpvsInTheKernelStillSucceeds) {
  FakeExecutor cleanupExec;  // everything "succeeds" with empty output: nothing to remove
  for (int i = 0; i < 6; ++i) cleanupExec.pushResult({.exitCode = 1, .out = {}, .err = "no chain", .error = {}});
  const auto problems = IpvsProvider::cleanup(nullptr, link, cleanupExec, "KUBE", {});
  EXPECT_TRUE(problems.empty()) << testing::PrintToString(problems);
  // Six jump deletions, iptables-save of filter and nat (no chain of ours), ipset list.
  EXPECT_EQ(cleanupExec.calls().size(), 9u);
}

TEST_F(IpvsProviderTest, FullSyncRepairsOutsideEdits) {
  IpvsProvider provider = make();
  provider.sync(fixtures::tableOf({web(twoWebEndpoints())}), {}, true);
  // Someone ran ipvsadm: real servers and a whole virtual server are gone.
  ipvs.state.at(kWebCluster).dests.clear();
  ipvs.state.erase(kWebExternal);
  provider.sync(fixtures::tableOf({web(twoWebEndpoints())}), {}, true);
  EXPECT_EQ(realServers(ipvs, kWebCluster).size(), 2u);
  EXPECT_EQ(realServers(ipvs, kWebExternal).size(), 2u);
}

}  // namespace
}  // namespace nicproxy
