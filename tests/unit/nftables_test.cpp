// Tests: drivers/nftables (nft_rules, NftablesProvider with FakeExecutor) and
// tests/kernel_fake/nft_tracer: the exact text of a small service, the packets of
// kernel_trace_cases.hpp traced through the table built by a full sync AND by a chain
// of incremental syncs (which must give the same answers), what an incremental sync
// writes, failures and --cleanup. Addresses: see kernel_trace_cases.hpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include "drivers/nftables/nftables_provider.hpp"
#include "tests/kernel_fake/nft_tracer.hpp"
#include "kernel_trace_cases.hpp"
#include "tests/unit/scratch_namespace.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

std::string describe(const testing::TraceResult& r) {
  return r.verdict + " [" + r.endpoints + "]" + (r.masquerade ? " masquerade" : "") + (r.affinity ? " affinity" : "");
}

bool isTransaction(const FakeExecutor::Call& call) { return call.argv == std::vector<std::string>{"nft", "-f", "-"}; }

// The last `nft -f -` input (the listings of a full sync come before it, conntrack
// calls may follow it).
std::string lastNft(const FakeExecutor& exec) {
  for (auto it = exec.calls().rbegin(); it != exec.calls().rend(); ++it) {
    if (isTransaction(*it)) return it->stdinData;
  }
  return {};
}

// Applies every `nft -f -` input from call `from` on (a partial sync's transaction and
// then its deletions) to the model, and returns the index to start from next time.
size_t applyFrom(testing::NftModel& model, const FakeExecutor& exec, size_t from) {
  for (size_t i = from; i < exec.calls().size(); ++i) {
    if (isTransaction(exec.calls()[i])) model.apply(exec.calls()[i].stdinData);
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
  // The table's chains and sets are listed, then one transaction.
  ASSERT_EQ(exec.calls().size(), 3u);
  EXPECT_EQ(exec.calls()[0].argv, (std::vector<std::string>{"nft", "list", "chains", "ip"}));
  EXPECT_EQ(exec.calls()[1].argv, (std::vector<std::string>{"nft", "-t", "list", "sets", "ip"}));
  EXPECT_EQ(exec.calls()[2].argv, (std::vector<std::string>{"nft", "-f", "-"}));
  testing::NftModel model("kube-proxy");
  model.apply(exec.calls()[2].stdinData);
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
  exec.pushResult({.exitCode = 0, .out = {}, .err = {}, .error = {}});  // nft list chains ip
  exec.pushResult({.exitCode = 0, .out = {}, .err = {}, .error = {}});  // nft -t list sets ip
  exec.pushResult({.exitCode = 1, .out = {}, .err = "Error: Could not process rule: No such file or directory\n", .error = {}});
  try {
    provider.sync(tableOf({a}), {}, true);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "nft -f - failed: Error: Could not process rule: No such file or directory");
  }
  provider.sync(tableOf({a}), {}, true);
  EXPECT_EQ(lastNft(exec).rfind("add table ip kube-proxy\nadd map", 0), 0u);
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

// What `nft list chains ip` and `nft -t list sets ip` would print for the model's table,
// with another table around it that must be ignored.
std::string listingOf(const testing::NftModel& model) {
  std::string out = "table ip other {\n\tchain keep-me {\n\t}\n\tset keep-me-too {\n\t\ttype ipv4_addr\n\t}\n}\n";
  out += "table ip kube-proxy {\n";
  for (const auto& [chain, rules] : model.chains()) out += "\tchain " + chain + " {\n\t}\n";
  for (const auto& [set, elements] : model.sets()) out += "\tset " + set + " {\n\t\ttype ipv4_addr\n\t}\n";
  return out + "}\n";
}

TEST(NftInventory, ParsesOnlyTheChainsAndSetsOfItsTable) {
  NftTableObjects objects;
  parseNftListing("table ip kube-proxy {\n\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
                  "\t}\n\tchain service-ABCDEFGH-ns/svc/tcp/p {\n\t}\n}\ntable ip other {\n\tchain x {\n\t}\n}\n"
                  "table inet kube-proxy {\n\tchain y {\n\t}\n}\n",
                  "kube-proxy", objects);
  parseNftListing("table ip kube-proxy {\n\tset \"affinity-A\" {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t}\n}\n",
                  "kube-proxy", objects);
  EXPECT_EQ(objects.chains, (std::set<std::string>{"nat-prerouting", "service-ABCDEFGH-ns/svc/tcp/p"}));
  EXPECT_EQ(objects.sets, (std::set<std::string>{"affinity-A"}));
  EXPECT_EQ(renderNftStaleDeletions(objects, {.chains = {"nat-prerouting"}, .sets = {}}, "kube-proxy"),
            "flush chain ip kube-proxy service-ABCDEFGH-ns/svc/tcp/p\n"
            "delete chain ip kube-proxy service-ABCDEFGH-ns/svc/tcp/p\n"
            "delete set ip kube-proxy affinity-A\n");
}

// A restart: a new provider (nothing in memory) makes a full sync over the table the
// old one left. The affinity set of an endpoint that stays keeps its element (a client's
// affinity); the chains and set of an endpoint and a service removed while it was down
// go; everything else is as a full sync into an empty table would leave it.
TEST(NftProvider, AFullSyncOverAnExistingTableKeepsAffinityElementsAndDeletesStaleObjects) {
  ServicePort sticky = clusterIpPort("ns1", "sticky", "p80", "172.30.0.41", 80,
                                     {endpoint("10.180.0.1", 80), endpoint("10.180.0.2", 80)});
  sticky.sessionAffinity = SessionAffinity::ClientIP;
  sticky.stickyMaxAgeSeconds = 600;
  const ServicePort other = clusterIpPort("ns2", "other", "p80", "172.30.0.42", 80, {endpoint("10.180.0.3", 80)});
  const std::string kept = "affinity-" + nftEndpointBase(sticky.name, "10.180.0.1:80");
  const std::string gone = "affinity-" + nftEndpointBase(sticky.name, "10.180.0.2:80");

  testing::NftModel kernel("kube-proxy");
  {
    FakeExecutor exec;
    NftablesProvider first(exec, podOptions());
    first.sync(tableOf({sticky, other}), {}, true);
    kernel.apply(lastNft(exec));
  }
  // Traffic: the kernel records two clients, one per endpoint.
  kernel.apply("add element ip kube-proxy " + kept + " { 10.1.0.5 }\n");
  kernel.apply("add element ip kube-proxy " + gone + " { 10.1.0.6 }\n");

  // Restarted, while one endpoint and one service went away.
  sticky.endpoints.pop_back();
  FakeExecutor exec;
  exec.pushResult({.exitCode = 0, .out = listingOf(kernel), .err = {}, .error = {}});
  exec.pushResult({.exitCode = 0, .out = listingOf(kernel), .err = {}, .error = {}});
  NftablesProvider restarted(exec, podOptions());
  restarted.sync(tableOf({sticky}), {}, true);
  const std::string text = lastNft(exec);
  EXPECT_EQ(text.find("delete table"), std::string::npos) << text;
  EXPECT_EQ(text.find("flush set ip kube-proxy affinity-"), std::string::npos) << text;
  ASSERT_NO_THROW(kernel.apply(text)) << text;

  EXPECT_EQ(kernel.sets().at(kept), (std::set<std::string>{"10.1.0.5"}));
  EXPECT_FALSE(kernel.sets().contains(gone));
  testing::NftModel fresh("kube-proxy");
  FakeExecutor freshExec;
  NftablesProvider freshProvider(freshExec, podOptions());
  freshProvider.sync(tableOf({sticky}), {}, true);
  fresh.apply(lastNft(freshExec));
  EXPECT_EQ(kernel.chains(), fresh.chains());
  EXPECT_EQ(kernel.maps(), fresh.maps());
  auto sets = kernel.sets();
  sets.at(kept).clear();
  EXPECT_EQ(sets, fresh.sets());
  EXPECT_EQ(kernel.trace(packet("10.1.0.5", "172.30.0.41", 80), {ip("192.168.0.2")}).endpoints, "10.180.0.1:80");
}

// Without the listing a full sync cannot tell what to delete: it fails (and is retried)
// rather than leave stale chains, and writes nothing.
TEST(NftProvider, AFullSyncWhoseListingFailsWritesNothing) {
  FakeExecutor exec;
  NftablesProvider provider(exec, podOptions());
  exec.pushResult({.exitCode = 1, .out = {}, .err = "Error: cache initialization failed: Operation not permitted\n",
                   .error = {}});
  try {
    provider.sync(tableOf({}), {}, true);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "nft list chains ip failed: Error: cache initialization failed: Operation not permitted");
  }
  EXPECT_EQ(lastNft(exec), "");
}

TEST(NftProvider, CanaryFindsADeletedOrFlushedTable) {
  FakeExecutor exec;
  NftablesProvider provider(exec, podOptions());
  EXPECT_EQ(provider.checkCanary(), std::nullopt) << "nothing installed yet";
  EXPECT_TRUE(exec.calls().empty());
  provider.sync(tableOf({}), {}, true);
  const size_t calls = exec.calls().size();

  const std::string intact = "table ip kube-proxy {\n\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority "
                             "dstnat; policy accept;\n\t\tjump services\n\t}\n}\n";
  exec.pushResult({.exitCode = 0, .out = intact, .err = {}, .error = {}});
  EXPECT_EQ(provider.checkCanary(), std::nullopt);
  ASSERT_EQ(exec.calls().size(), calls + 1);
  EXPECT_EQ(exec.calls().back().argv,
            (std::vector<std::string>{"nft", "list", "chain", "ip", "kube-proxy", "nat-prerouting"}));

  // nft flush table: the chain is there, empty.
  exec.pushResult({.exitCode = 0,
                   .out = "table ip kube-proxy {\n\tchain nat-prerouting {\n\t\ttype nat hook prerouting priority "
                          "dstnat; policy accept;\n\t}\n}\n",
                   .err = {},
                   .error = {}});
  EXPECT_EQ(provider.checkCanary(),
            "chain nat-prerouting of table ip kube-proxy lost its jump to chain services (table flushed?)");
  // nft delete table.
  exec.pushResult({.exitCode = 1, .out = {}, .err = "Error: No such file or directory\n", .error = {}});
  EXPECT_EQ(provider.checkCanary(),
            "chain nat-prerouting of table ip kube-proxy is gone (Error: No such file or directory)");
}

// The longest names the decoder lets through (control/k8s/names.hpp: namespace, Service
// and port name are 63-character labels) with the longest protocol and endpoint text,
// and session affinity, which adds a chain and a set per endpoint. nft refuses chain and
// set names over NFT_NAME_MAXLEN - 1 = 255 bytes, and the sync then fails as a whole.
ServicePort longestNamedPort() {
  static const std::string ns = "n" + std::string(61, '-') + "1";
  static const std::string name = "s" + std::string(62, 'x');
  static const std::string portName = "p" + std::string(61, '-') + "9";
  ServicePort p = clusterIpPort(ns.c_str(), name.c_str(), portName.c_str(), "172.30.0.41", 80,
                                {endpoint("100.100.100.100", 65535), endpoint("100.100.100.101", 65535)},
                                Protocol::Sctp);
  p.sessionAffinity = SessionAffinity::ClientIP;
  p.stickyMaxAgeSeconds = 600;
  p.nodePort = 30080;
  return p;
}

TEST(NftRules, TheLongestValidNamesStayWithinNftsNameLimit) {
  const NftServiceRules r = renderNftService(share(longestNamedPort()), podOptions().rules);
  ASSERT_GE(r.chains.size(), 3u);  // the service, an endpoint each, the NodePort's external chain
  ASSERT_EQ(r.sets.size(), 2u);
  for (const std::string& chain : r.chains) EXPECT_LE(chain.size(), 255u) << chain;
  for (const std::string& set : r.sets) EXPECT_LE(set.size(), 255u) << set;
}

TEST(NftKernel, TheLongestValidNamesLoadIntoRealNftables) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace";
  const testing::ScratchNamespace scratch("npnftname");
  ASSERT_TRUE(scratch.created());
  testing::NetnsExecutor exec(scratch.name());
  NftablesProviderOptions options = podOptions();
  options.localAddresses = [] { return std::vector<Ipv4>{}; };
  NftablesProvider provider(exec, options);
  const ServicePort port = longestNamedPort();
  ASSERT_NO_THROW(provider.sync(tableOf({port}), {}, true));
  const ExecResult listed = exec.run({"nft", "list", "table", "ip", "kube-proxy"});
  ASSERT_TRUE(listed.ok()) << listed.err;
  EXPECT_NE(listed.out.find("chain service-" + nftServiceBase(port.name)), std::string::npos);
  EXPECT_NE(listed.out.find("set affinity-" + nftEndpointBase(port.name, "100.100.100.101:65535")), std::string::npos);
}

}  // namespace
}  // namespace nicproxy
