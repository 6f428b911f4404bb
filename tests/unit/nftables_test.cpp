// Tests: drivers/nftables (nft_rules, NftablesProvider with FakeExecutor) and
// drivers/testing/nft_tracer: the exact text of a small service, the packets of
// kernel_trace_cases.hpp traced through the table built by a full sync AND by a chain
// of incremental syncs (which must give the same answers), what an incremental sync
// writes, failures and --cleanup. Addresses: see kernel_trace_cases.hpp.
#include <gtest/gtest.h>

#include "drivers/nftables/nftables_provider.hpp"
#include "drivers/testing/nft_tracer.hpp"
#include "kernel_trace_cases.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

std::string describe(const testing::TraceResult& r) {
  return r.verdict + " [" + r.endpoints + "]" + (r.masquerade ? " masquerade" : "") + (r.affinity ? " affinity" : "");
}

// The last `nft -f -` input (conntrack calls may follow it).
std::string lastNft(const FakeExecutor& exec) {
  for (auto it = exec.calls().rbegin(); it != exec.calls().rend(); ++it) {
    if (it->argv[0] == "nft") return it->stdinData;
  }
  return {};
}

// Applies every `nft -f -` input from call `from` on (a partial sync's transaction and
// then its deletions) to the model, and returns the index to start from next time.
size_t applyFrom(testing::NftModel& model, const FakeExecutor& exec, size_t from) {
  for (size_t i = from; i < exec.calls().size(); ++i) {
    if (exec.calls()[i].argv[0] == "nft") model.apply(exec.calls()[i].stdinData);
  }
  return exec.calls().size();
}

NftablesProviderOptions podOptions() {
  NftablesProviderOptions o;
  o.rules.clusterCIDR = cidr("10.0.0.0/8");
  return o;
}

TEST(NftRules, ClusterIpExactText) {
  const auto port = share(clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80,
                                        {endpoint("10.180.0.1", 80), endpoint("10.180.0.2", 80)}));
  const NftServiceRules r = renderNftService(port, podOptions().rules);
  const std::string svc = "service-XPGD46QR-ns1/svc1/tcp/p80";
  ASSERT_EQ(r.elements.size(), 1u);
  EXPECT_EQ(r.elements[0].map, "service-ips");
  EXPECT_EQ(r.elements[0].key, "172.30.0.41 . tcp . 80");
  EXPECT_EQ(r.elements[0].verdict, "goto " + svc);
  // No chain per endpoint without affinity: the policy chain picks and DNATs at once.
  EXPECT_EQ(r.chains, (std::vector<std::string>{svc}));
  EXPECT_EQ(r.rules,
            "add rule ip kube-proxy " + svc + " ip daddr 172.30.0.41 tcp dport 80 ip saddr != 10.0.0.0/8 jump mark-for-masquerade\n"
            "add rule ip kube-proxy " + svc + " meta l4proto tcp dnat to numgen random mod 2 map { 0 : 10.180.0.1 . 80, 1 : 10.180.0.2 . 80 }\n");
  EXPECT_EQ(r.hairpin, (std::vector<std::string>{"10.180.0.1 . 10.180.0.1", "10.180.0.2 . 10.180.0.2"}));
}

TEST(NftRules, AffinityUsesATimedDynamicSetPerEndpoint) {
  ServicePort p = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  p.sessionAffinity = SessionAffinity::ClientIP;
  p.stickyMaxAgeSeconds = 600;
  const NftServiceRules r = renderNftService(share(p), podOptions().rules);
  const std::string base = nftEndpointBase(p.name, "10.180.0.1:80");
  EXPECT_EQ(r.setDefinitions, "add set ip kube-proxy affinity-" + base +
                                  " { type ipv4_addr ; flags dynamic,timeout ; timeout 600s ; }\n");
  EXPECT_EQ(r.chains, (std::vector<std::string>{"service-" + nftServiceBase(p.name), "endpoint-" + base}));
  EXPECT_NE(r.rules.find("ip saddr @affinity-" + base + " goto endpoint-" + base), std::string::npos);
  EXPECT_NE(r.rules.find("numgen random mod 1 vmap { 0 : goto endpoint-" + base + " }"), std::string::npos);
  EXPECT_NE(r.rules.find("update @affinity-" + base + " { ip saddr }"), std::string::npos);
}

TEST(NftTrace, EveryCaseAfterAFullSync) {
  FakeExecutor exec;
  NftablesProvider provider(exec, podOptions());
  provider.sync(tableOf(traceServices()), {}, true);
  ASSERT_EQ(exec.calls().size(), 1u);
  EXPECT_EQ(exec.calls()[0].argv, (std::vector<std::string>{"nft", "-f", "-"}));
  testing::NftModel model("kube-proxy");
  model.apply(exec.calls()[0].stdinData);
  for (const TraceCase& c : traceCases()) {
    EXPECT_EQ(describe(model.trace(c.packet, {ip("192.168.0.2")})), describe(c.expected)) << c.name;
  }
}

// The services arrive one by one, then change and go away again, each through an
// incremental transaction applied to the model; the end state must trace like a full sync.
TEST(NftTrace, IncrementalSyncsReachTheSameState) {
  FakeExecutor exec;
  NftablesProvider provider(exec, podOptions());
  testing::NftModel model("kube-proxy");
  const std::vector<ServicePort> all = traceServices();
  provider.sync(tableOf({}), {}, true);
  size_t applied = applyFrom(model, exec, 0);
  std::vector<ServicePort> current;
  uint64_t generation = 1;
  // Each service first appears with its endpoints swapped for one wrong endpoint, then is fixed.
  for (const ServicePort& port : all) {
    ServicePort wrong = port;
    wrong.endpoints = {endpoint("10.180.0.9", 80, true)};
    current.push_back(wrong);
    provider.sync(tableOf(current, ++generation), {port.name}, false);
    ASSERT_NO_THROW(applied = applyFrom(model, exec, applied)) << port.name.toString();
    current.back() = port;
    provider.sync(tableOf(current, ++generation), {port.name}, false);
    ASSERT_NO_THROW(applied = applyFrom(model, exec, applied)) << port.name.toString();
  }
  // An extra service that comes and goes leaves nothing behind.
  ServicePort extra = clusterIpPort("ns99", "gone", "p", "172.30.0.99", 80, {endpoint("10.180.0.9", 80)});
  extra.sessionAffinity = SessionAffinity::ClientIP;
  current.push_back(extra);
  provider.sync(tableOf(current, ++generation), {extra.name}, false);
  applied = applyFrom(model, exec, applied);
  current.pop_back();
  provider.sync(tableOf(current, ++generation), {extra.name}, false);
  applied = applyFrom(model, exec, applied);

  for (const TraceCase& c : traceCases()) {
    EXPECT_EQ(describe(model.trace(c.packet, {ip("192.168.0.2")})), describe(c.expected)) << c.name;
  }
  testing::NftModel full("kube-proxy");
  FakeExecutor fullExec;
  NftablesProvider fresh(fullExec, podOptions());
  fresh.sync(tableOf(current), {}, true);
  full.apply(lastNft(fullExec));
  EXPECT_EQ(model.chains(), full.chains());
  EXPECT_EQ(model.maps(), full.maps());
  EXPECT_EQ(model.sets(), full.sets());
}

// The exact text of a one-service partial sync (one endpoint replaced): no `add rule`
// and no `add element` lines (each would make nft 1.0.6 load every chain of the table),
// the unchanged map element left alone, and the deletions handed to deleteObjects.
TEST(NftProvider, IncrementalSyncTouchesOnlyTheChangedService) {
  FakeExecutor exec;
  NftablesProviderOptions options = podOptions();
  std::vector<std::string> deletions;
  options.deleteObjects = [&deletions](const std::string& text) -> std::optional<std::string> {
    deletions.push_back(text);
    return std::nullopt;
  };
  NftablesProvider provider(exec, options);
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  ServicePort b = clusterIpPort("ns2", "svc2", "p80", "172.30.0.42", 80, {endpoint("10.180.0.2", 80)});
  provider.sync(tableOf({a, b}), {}, true);
  EXPECT_TRUE(deletions.empty());
  b.endpoints = {endpoint("10.180.0.3", 80)};
  provider.sync(tableOf({a, b}, 2), {b.name}, false);
  const std::string text = lastNft(exec);
  EXPECT_EQ(text.find("svc1"), std::string::npos) << text;
  const std::string svc = "service-" + nftServiceBase(b.name);
  EXPECT_EQ(text,
            "flush chain ip kube-proxy " + svc + "\n"
            "add chain ip kube-proxy " + svc + " { ip daddr 172.30.0.42 tcp dport 80 ip saddr != 10.0.0.0/8 jump "
            "mark-for-masquerade ; meta l4proto tcp dnat to numgen random mod 1 map { 0 : 10.180.0.3 . 80 } ; }\n"
            "add set ip kube-proxy endpoint-hairpin { type ipv4_addr . ipv4_addr ; elements = { 10.180.0.3 . 10.180.0.3 } ; }\n");
  EXPECT_EQ(deletions,
            (std::vector<std::string>{"delete element ip kube-proxy endpoint-hairpin { 10.180.0.2 . 10.180.0.2 }\n"}));
  EXPECT_EQ(provider.lastDeletions(), deletions.back());
  // Nothing changed: nothing is run.
  const size_t calls = exec.calls().size();
  provider.sync(tableOf({a, b}, 3), {}, false);
  EXPECT_EQ(exec.calls().size(), calls);
  EXPECT_EQ(deletions.size(), 1u);
}

TEST(NftProvider, FailureThrowsAndTheRetryIsAFullSyncOfTheOldState) {
  FakeExecutor exec;
  NftablesProvider provider(exec, podOptions());
  const ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  exec.pushResult({.exitCode = 1, .out = {}, .err = "Error: Could not process rule: No such file or directory\n", .error = {}});
  try {
    provider.sync(tableOf({a}), {}, true);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "nft -f - failed: Error: Could not process rule: No such file or directory");
  }
  provider.sync(tableOf({a}), {}, true);
  EXPECT_EQ(lastNft(exec).rfind("add table ip kube-proxy\ndelete table ip kube-proxy\n", 0), 0u);
}

TEST(NftProvider, NodePortAddressesRestrictNodePorts) {
  FakeExecutor exec;
  NftablesProviderOptions o = podOptions();
  o.nodePortAddresses = {cidr("192.168.0.0/24")};
  o.localAddresses = [] { return std::vector<Ipv4>{ip("127.0.0.1"), ip("192.168.0.2"), ip("10.9.9.9")}; };
  NftablesProvider provider(exec, o);
  provider.sync(tableOf(traceServices()), {}, true);
  testing::NftModel model("kube-proxy");
  model.apply(lastNft(exec));
  const std::set<Ipv4> local{ip("192.168.0.2"), ip("10.9.9.9")};
  EXPECT_EQ(describe(model.trace(packet("198.51.100.7", "192.168.0.2", 3001), local)), describe(reach(kBoth, true)));
  EXPECT_EQ(describe(model.trace(packet("198.51.100.7", "10.9.9.9", 3001), local)), describe(reach("", false)));
}

TEST(NftProvider, CleanupDeletesTheTableWhetherOrNotItExists) {
  FakeExecutor exec;
  EXPECT_TRUE(NftablesProvider::cleanup(exec, "nicproxy").empty());
  ASSERT_EQ(exec.calls().size(), 1u);
  EXPECT_EQ(exec.calls()[0].stdinData, "add table ip nicproxy\ndelete table ip nicproxy\n");
  testing::NftModel model("nicproxy");
  EXPECT_NO_THROW(model.apply(exec.calls()[0].stdinData));
  EXPECT_FALSE(model.exists());
}

}  // namespace
}  // namespace nicproxy
