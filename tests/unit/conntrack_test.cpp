// Tests: drivers/conntrack (which UDP conntrack entries to delete) and
// drivers/conntrack_provider (when, after the rules, with failures logged once) against
// a fake conntrack table and a fake rules provider. The real table over netlink is
// tested by tests/e2e/conntrack_reconcile_test.sh.
// Addresses: cluster IPs 172.30.0.0/16, endpoints 10.180.0.0/16, external IPs
// 192.168.99.0/24, load-balancer IPs 1.2.3.0/24, node 192.168.0.2, clients 10.9.0.0/16.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <prometheus/registry.h>

#include "control/proxy_metrics.hpp"
#include "drivers/conntrack.hpp"
#include "drivers/conntrack_provider.hpp"
#include "kernel_fixtures.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

const std::vector<Ipv4> kNode = {ip("192.168.0.2")};

// One entry from client 10.9.0.1:4000 + `n` to dst:port, answered from `replySrc`.
ConntrackEntry entry(const char* dst, uint16_t port, const char* replySrc, uint16_t n = 0) {
  return {.origSrc = ip("10.9.0.1"),
          .origDst = ip(dst),
          .origSrcPort = static_cast<uint16_t>(4000 + n),
          .origDstPort = port,
          .replySrc = ip(replySrc),
          .zone = 0};
}

ServicePort dnsPort(std::vector<Endpoint> endpoints) {
  ServicePort p = clusterIpPort("kube-system", "kube-dns", "dns", "172.30.0.10", 53, std::move(endpoints), Protocol::Udp);
  p.nodePort = 30053;
  return p;
}

std::vector<ConntrackEntry> stale(const std::vector<ConntrackEntry>& entries, const std::vector<ServicePort>& ports) {
  return staleUdpEntries(entries, tableOf(ports).ports(), kNode);
}

// The reconciler

TEST(ConntrackReconciler, DeletesOnlyEntriesAnsweredByAnAddressThatIsNoEndpoint) {
  const auto dns = dnsPort({endpoint("10.180.0.2", 53)});
  const std::vector<ConntrackEntry> entries = {
      entry("172.30.0.10", 53, "10.180.0.1", 1),  // the endpoint that went away
      entry("172.30.0.10", 53, "10.180.0.2", 2),  // the endpoint in force
      entry("172.30.0.10", 53, "172.30.0.10", 3), // not DNAT'ed (sent before the rules)
  };
  EXPECT_EQ(stale(entries, {dns}), (std::vector<ConntrackEntry>{entries[0], entries[2]}));
}

TEST(ConntrackReconciler, NeverTouchesOtherAddressesPortsOrProtocols) {
  const auto dns = dnsPort({endpoint("10.180.0.2", 53)});
  // A TCP Service on the same cluster IP and port: its frontend is not a UDP one.
  const auto tcp = clusterIpPort("ns1", "web", "http", "172.30.0.20", 80, {endpoint("10.180.0.2", 80)});
  const std::vector<ConntrackEntry> entries = {
      entry("172.30.0.10", 54, "10.180.0.1"),   // the Service address, another port
      entry("172.30.0.99", 53, "10.180.0.1"),   // no Service address
      entry("172.30.0.20", 80, "10.180.0.1"),   // a TCP Service's frontend
      entry("10.9.9.9", 30053, "10.180.0.1"),   // the node port on an address not the node's
      entry("192.168.0.2", 30054, "10.180.0.1"),  // the node, another port
  };
  EXPECT_TRUE(stale(entries, {dns, tcp}).empty());
}

TEST(ConntrackReconciler, EveryKindOfFrontend) {
  auto dns = dnsPort({endpoint("10.180.0.2", 53)});
  dns.externalIPs = {ip("192.168.99.1")};
  dns.loadBalancerIPs = {ip("1.2.3.4")};
  for (const char* frontend : {"172.30.0.10", "192.168.99.1", "1.2.3.4"}) {
    const std::vector<ConntrackEntry> entries = {entry(frontend, 53, "10.180.0.1"), entry(frontend, 53, "10.180.0.2")};
    EXPECT_EQ(stale(entries, {dns}), (std::vector<ConntrackEntry>{entries[0]})) << frontend;
  }
  const std::vector<ConntrackEntry> entries = {entry("192.168.0.2", 30053, "10.180.0.1"),
                                               entry("192.168.0.2", 30053, "10.180.0.2")};
  EXPECT_EQ(stale(entries, {dns}), (std::vector<ConntrackEntry>{entries[0]})) << "node port";
}

TEST(ConntrackReconciler, PortWithoutEndpointsLosesAllItsEntries) {
  const std::vector<ConntrackEntry> entries = {entry("172.30.0.10", 53, "10.180.0.1"),
                                               entry("192.168.0.2", 30053, "10.180.0.1")};
  EXPECT_EQ(stale(entries, {dnsPort({})}), entries);
}

TEST(ConntrackReconciler, ServingEndpointsKeepTheirEntriesWhateverThePolicy) {
  Endpoint terminating = endpoint("10.180.0.1", 53);
  terminating.ready = false;
  terminating.terminating = true;  // still serving
  Endpoint notServing = endpoint("10.180.0.3", 53, false, false);
  auto dns = dnsPort({terminating, endpoint("10.180.0.2", 53), notServing});
  dns.internalTrafficPolicy = TrafficPolicy::Local;  // no endpoint is local
  const std::vector<ConntrackEntry> entries = {entry("172.30.0.10", 53, "10.180.0.1", 1),
                                               entry("172.30.0.10", 53, "10.180.0.2", 2),
                                               entry("172.30.0.10", 53, "10.180.0.3", 3)};
  EXPECT_EQ(stale(entries, {dns}), (std::vector<ConntrackEntry>{entries[2]}));
}

TEST(ConntrackReconciler, TwoPortsOnOneFrontendKeepEitherPortsEndpoints) {
  const auto a = dnsPort({endpoint("10.180.0.1", 53)});
  auto b = clusterIpPort("ns2", "dns2", "dns", "172.30.0.10", 53, {endpoint("10.180.0.2", 53)}, Protocol::Udp);
  const std::vector<ConntrackEntry> entries = {entry("172.30.0.10", 53, "10.180.0.1", 1),
                                               entry("172.30.0.10", 53, "10.180.0.2", 2),
                                               entry("172.30.0.10", 53, "10.180.0.3", 3)};
  EXPECT_EQ(stale(entries, {a, b}), (std::vector<ConntrackEntry>{entries[2]}));
}

TEST(ConntrackReconciler, NoUdpServiceNoDeletion) {
  const auto tcp = clusterIpPort("ns1", "web", "http", "172.30.0.10", 53, {});
  EXPECT_TRUE(stale({entry("172.30.0.10", 53, "10.180.0.1")}, {tcp}).empty());
}

// Deletions on endpoint removal

TEST(ConntrackRemovedEndpoints, OnlyTheRemovedAddressOnThePortsFrontends) {
  const auto before = dnsPort({endpoint("10.180.0.1", 53), endpoint("10.180.0.2", 53)});
  const auto after = dnsPort({endpoint("10.180.0.2", 53)});
  EXPECT_EQ(removedEndpointAddresses(before, &after), (std::set<Ipv4>{ip("10.180.0.1")}));
  EXPECT_EQ(removedEndpointAddresses(before, nullptr), (std::set<Ipv4>{ip("10.180.0.1"), ip("10.180.0.2")}));
  UdpFrontendIndex removed(kNode);
  removed.add(before, removedEndpointAddresses(before, &after));
  const std::vector<ConntrackEntry> entries = {
      entry("172.30.0.10", 53, "10.180.0.1", 1),  entry("192.168.0.2", 30053, "10.180.0.1", 2),
      entry("172.30.0.10", 53, "10.180.0.2", 3),  entry("172.30.0.10", 53, "172.30.0.10", 4),
      entry("172.30.0.11", 53, "10.180.0.1", 5),  entry("10.9.9.9", 30053, "10.180.0.1", 6),
  };
  EXPECT_EQ(entriesToRemovedEndpoints(entries, removed), (std::vector<ConntrackEntry>{entries[0], entries[1]}));
}

// The provider

class FakeConntrackTable final : public ConntrackTable {
 public:
  std::vector<ConntrackEntry> entries;
  std::vector<ConntrackEntry> removed;
  std::vector<std::string>* journal = nullptr;
  std::optional<int> listError, removeError;
  int lists = 0;

  std::vector<ConntrackEntry> listUdp() override {
    ++lists;
    if (journal) journal->push_back("list");
    if (listError) throw std::system_error(*listError, std::generic_category(), "dumping the conntrack table");
    return entries;
  }
  bool remove(const ConntrackEntry& e) override {
    if (removeError) throw std::system_error(*removeError, std::generic_category(), "deleting a conntrack entry");
    if (journal) journal->push_back("remove");
    const auto it = std::find(entries.begin(), entries.end(), e);
    if (it == entries.end()) return false;
    entries.erase(it);
    removed.push_back(e);
    return true;
  }
};

class FakeRules final : public Provider {
 public:
  std::vector<std::string>* journal = nullptr;
  bool fail = false;
  std::string name() const override { return "fake"; }
  void sync(const ServiceTable&, const ChangedPorts&, bool fullSync) override {
    if (journal) journal->push_back(fullSync ? "rules full" : "rules partial");
    if (fail) throw std::runtime_error("rules failed");
  }
};

class ConntrackProviderTest : public ::testing::Test {
 protected:
  ConntrackProviderTest() { restart(); }

  // A new provider, as after a nicproxy restart: the kernel's entries stay.
  void restart() {
    auto rules = std::make_unique<FakeRules>();
    auto table = std::make_unique<FakeConntrackTable>();
    if (table_) table->entries = table_->entries;
    rules_ = rules.get();
    table_ = table.get();
    rules_->journal = table_->journal = &journal_;
    ConntrackCleanupOptions options;
    options.localAddresses = [] { return std::vector<Ipv4>{ip("192.168.0.2"), ip("10.9.9.9")}; };
    options.nodePortAddresses = {cidr("192.168.0.0/24")};  // 10.9.9.9 has no node ports
    options.metrics = &metrics_;
    provider_ = std::make_unique<ConntrackCleanupProvider>(std::move(rules), std::move(table), options);
  }

  prometheus::Registry registry_;
  ProxyMetrics metrics_{registry_};
  std::vector<std::string> journal_;
  FakeRules* rules_ = nullptr;
  FakeConntrackTable* table_ = nullptr;
  std::unique_ptr<ConntrackCleanupProvider> provider_;
};

TEST_F(ConntrackProviderTest, EndpointRemovalDeletesItsEntriesAfterTheRules) {
  const auto dns = dnsPort({endpoint("10.180.0.1", 53), endpoint("10.180.0.2", 53)});
  table_->entries = {entry("172.30.0.10", 53, "10.180.0.1", 1), entry("192.168.0.2", 30053, "10.180.0.1", 2),
                     entry("10.9.9.9", 30053, "10.180.0.1", 3), entry("172.30.0.10", 53, "10.180.0.2", 4)};
  const auto all = table_->entries;
  provider_->sync(tableOf({dns}), {}, true);
  EXPECT_TRUE(table_->removed.empty());
  journal_.clear();

  provider_->sync(tableOf({dnsPort({endpoint("10.180.0.2", 53)})}, 2), {dns.name}, false);
  EXPECT_EQ(table_->removed, (std::vector<ConntrackEntry>{all[0], all[1]}));
  EXPECT_EQ(journal_, (std::vector<std::string>{"rules partial", "list", "remove", "remove"}));
  EXPECT_EQ(provider_->counts().deleted, 2u);
  EXPECT_EQ(provider_->counts().foundByReconciler, 0u);
}

TEST_F(ConntrackProviderTest, PartialSyncWithoutRemovedUdpEndpointsDoesNotDump) {
  const auto dns = dnsPort({endpoint("10.180.0.1", 53)});
  provider_->sync(tableOf({dns}), {}, true);
  EXPECT_EQ(table_->lists, 1);
  const auto more = dnsPort({endpoint("10.180.0.1", 53), endpoint("10.180.0.2", 53)});
  const auto web = clusterIpPort("ns1", "web", "http", "172.30.0.20", 80, {});
  provider_->sync(tableOf({more, web}, 2), {dns.name, web.name}, false);
  provider_->sync(tableOf({more}, 3), {web.name}, false);
  EXPECT_EQ(table_->lists, 1);
}

TEST_F(ConntrackProviderTest, FullSyncAfterRestartReconciles) {
  const auto dns = dnsPort({endpoint("10.180.0.1", 53)});
  const auto other = clusterIpPort("ns1", "other", "u", "172.30.0.30", 5000, {endpoint("10.180.0.3", 5000)},
                                   Protocol::Udp);
  table_->entries = {entry("172.30.0.10", 53, "10.180.0.1", 1), entry("172.30.0.30", 5000, "10.180.0.3", 2),
                     entry("172.30.0.99", 53, "10.180.0.1", 3)};
  provider_->sync(tableOf({dns, other}), {}, true);
  // nicproxy stops; the endpoint goes; nicproxy starts again, and its first sync is full.
  restart();
  const auto all = table_->entries;
  provider_->sync(tableOf({dnsPort({}), other}, 2), {}, true);
  EXPECT_EQ(table_->removed, (std::vector<ConntrackEntry>{all[0]}));
  EXPECT_EQ(table_->entries, (std::vector<ConntrackEntry>{all[1], all[2]}));
  EXPECT_EQ(provider_->counts().foundByReconciler, 1u);
}

TEST_F(ConntrackProviderTest, FailedRulesDeleteNothingAndTheFullRetryCatchesUp) {
  const auto dns = dnsPort({endpoint("10.180.0.1", 53)});
  table_->entries = {entry("172.30.0.10", 53, "10.180.0.1", 1)};
  provider_->sync(tableOf({dns}), {}, true);
  rules_->fail = true;
  // The Service goes; the rules fail: the entry stays (the old rules would recreate it).
  EXPECT_THROW(provider_->sync(tableOf({}, 2), {dns.name}, false), std::runtime_error);
  EXPECT_TRUE(table_->removed.empty());
  rules_->fail = false;
  // The runner's retry is full. The reconciler alone would not know the Service's
  // address any more; the comparison with the ports last synced does.
  provider_->sync(tableOf({}, 2), {}, true);
  EXPECT_EQ(table_->removed.size(), 1u);
  EXPECT_EQ(provider_->counts().foundByReconciler, 0u);
}

TEST_F(ConntrackProviderTest, ConntrackFailuresAreLoggedOnceAndNeverFailTheSync) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  const auto dns = dnsPort({endpoint("10.180.0.1", 53)});
  table_->entries = {entry("172.30.0.10", 53, "10.180.0.9", 1)};
  table_->listError = EPERM;
  EXPECT_NO_THROW(provider_->sync(tableOf({dns}), {}, true));
  EXPECT_NO_THROW(provider_->sync(tableOf({dns}, 2), {}, true));
  table_->listError.reset();
  table_->removeError = EOPNOTSUPP;
  EXPECT_NO_THROW(provider_->sync(tableOf({dns}, 3), {}, true));
  EXPECT_NO_THROW(provider_->sync(tableOf({dns}, 4), {}, true));
  spdlog::default_logger()->sinks().pop_back();
  const std::string text = log.str();
  const auto count = [&](const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("CAP_NET_ADMIN"), 1u) << text;
  EXPECT_EQ(count("load nf_conntrack_netlink"), 1u) << text;
  EXPECT_EQ(provider_->counts().failures, 4u);
  EXPECT_EQ(table_->entries.size(), 1u);
}

// kube-proxy's kubeproxy_conntrack_reconciler_*: one observation per round that dumped
// the table, the entries deleted added up; a failed dump is no round.
TEST_F(ConntrackProviderTest, ReconcilerMetricsCountRoundsAndDeletions) {
  const auto reconciles = [this] { return metrics_.conntrackReconcileDuration.Collect().histogram.sample_count; };
  const auto dns = dnsPort({endpoint("10.180.0.1", 53), endpoint("10.180.0.2", 53)});
  table_->entries = {entry("172.30.0.10", 53, "10.180.0.1", 1), entry("172.30.0.10", 53, "10.180.0.1", 2),
                     entry("172.30.0.10", 53, "10.180.0.9", 3)};
  provider_->sync(tableOf({dns}), {}, true);  // the reconciler finds the entry to 10.180.0.9
  EXPECT_EQ(reconciles(), 1u);
  EXPECT_EQ(metrics_.conntrackReconcileDeleted.Value(), 1);
  provider_->sync(tableOf({dnsPort({endpoint("10.180.0.2", 53)})}, 2), {dns.name}, false);
  EXPECT_EQ(reconciles(), 2u);
  EXPECT_EQ(metrics_.conntrackReconcileDeleted.Value(), 3);
  provider_->sync(tableOf({dnsPort({endpoint("10.180.0.2", 53)})}, 3), {}, false);  // nothing to look for
  EXPECT_EQ(reconciles(), 2u);
  table_->listError = EPERM;
  provider_->sync(tableOf({dnsPort({endpoint("10.180.0.2", 53)})}, 4), {}, true);
  EXPECT_EQ(reconciles(), 2u);
  EXPECT_EQ(metrics_.conntrackReconcileDeleted.Value(), 3);
}

}  // namespace
}  // namespace nicproxy
