// Tests: drivers/nftables/nft_partial (the partial sync written so that nft 1.0.6 loads
// no chain cache), the NftablesProvider's fall-back to a full sync after any failure, and
// the key bytes of nft_netlink's deletions. Addresses: cluster IPs 172.30.0.0/24,
// endpoints 10.180.0.0/24, pod network 10.0.0.0/8 (kernel_fixtures.hpp helpers).
#include <gtest/gtest.h>

#include "drivers/nftables/nft_netlink.hpp"
#include "drivers/nftables/nftables_provider.hpp"
#include "tests/kernel_fake/nft_tracer.hpp"
#include "kernel_trace_cases.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

struct Recorder {
  std::vector<std::string> deletions;
  std::optional<std::string> failWith;
  std::function<std::optional<std::string>(const std::string&)> fn() {
    return [this](const std::string& text) -> std::optional<std::string> {
      if (failWith) return failWith;
      deletions.push_back(text);
      return std::nullopt;
    };
  }
};

NftablesProviderOptions optionsWith(Recorder& recorder) {
  NftablesProviderOptions o;
  o.rules.clusterCIDR = cidr("10.0.0.0/8");
  o.deleteObjects = recorder.fn();
  return o;
}

std::string lastNftInput(const FakeExecutor& exec) {
  for (auto it = exec.calls().rbegin(); it != exec.calls().rend(); ++it) {
    if (it->argv == std::vector<std::string>{"nft", "-f", "-"}) return it->stdinData;
  }
  return {};
}

// A full sync starts with the base layout; a partial one never adds the table.
bool isFullSync(const std::string& text) { return text.rfind("add table ip kube-proxy\n", 0) == 0; }

TEST(NftPartial, RemovedServiceIsFlushedThenItsElementsChainsAndSetsDeleted) {
  FakeExecutor exec;
  Recorder recorder;
  NftablesProvider provider(exec, optionsWith(recorder));
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  ServicePort b = clusterIpPort("ns2", "svc2", "p80", "172.30.0.42", 80, {endpoint("10.180.0.2", 80)});
  b.sessionAffinity = SessionAffinity::ClientIP;
  provider.sync(tableOf({a, b}), {}, true);
  testing::NftModel model("kube-proxy");
  model.apply(lastNftInput(exec));

  provider.sync(tableOf({a}, 2), {b.name}, false);
  const std::string svc = "service-" + nftServiceBase(b.name);
  const std::string ep = nftEndpointBase(b.name, "10.180.0.2:80");
  EXPECT_EQ(lastNftInput(exec),
            "flush chain ip kube-proxy " + svc + "\n"
            "flush chain ip kube-proxy endpoint-" + ep + "\n");
  ASSERT_EQ(recorder.deletions.size(), 1u);
  EXPECT_EQ(recorder.deletions[0],
            "delete element ip kube-proxy service-ips { 172.30.0.42 . tcp . 80 }\n"
            "delete element ip kube-proxy endpoint-hairpin { 10.180.0.2 . 10.180.0.2 }\n"
            "delete chain ip kube-proxy " + svc + "\n"
            "delete chain ip kube-proxy endpoint-" + ep + "\n"
            "delete set ip kube-proxy affinity-" + ep + "\n");
  model.apply(lastNftInput(exec));
  model.apply(recorder.deletions[0]);
  EXPECT_EQ(model.trace(packet("10.1.0.5", "172.30.0.42", 80), {ip("192.168.0.2")}).verdict, "ACCEPT");

  // The same state as a full sync of what is left.
  FakeExecutor fullExec;
  Recorder unused;
  NftablesProvider fresh(fullExec, optionsWith(unused));
  fresh.sync(tableOf({a}), {}, true);
  testing::NftModel full("kube-proxy");
  full.apply(lastNftInput(fullExec));
  EXPECT_EQ(model.chains(), full.chains());
  EXPECT_EQ(model.maps(), full.maps());
  EXPECT_EQ(model.sets(), full.sets());
}

// Two services share an endpoint address: its hairpin pair goes in once, stays while
// either uses it, and goes with the last; the model ends equal to a full sync each time.
TEST(NftPartial, AHairpinPairSharedByTwoServicesGoesWithItsLastUser) {
  FakeExecutor exec;
  Recorder recorder;
  NftablesProvider provider(exec, optionsWith(recorder));
  testing::NftModel model("kube-proxy");
  const std::string pair = "10.180.0.5 . 10.180.0.5";
  const auto fullState = [](const std::vector<ServicePort>& ports) {
    FakeExecutor fullExec;
    Recorder unused;
    NftablesProvider fresh(fullExec, optionsWith(unused));
    fresh.sync(tableOf(ports), {}, true);
    testing::NftModel full("kube-proxy");
    full.apply(lastNftInput(fullExec));
    return full.sets();
  };
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.5", 80)});
  ServicePort b = clusterIpPort("ns2", "svc2", "p81", "172.30.0.42", 81, {endpoint("10.180.0.5", 81)});
  provider.sync(tableOf({}), {}, true);
  model.apply(lastNftInput(exec));

  provider.sync(tableOf({a}, 2), {a.name}, false);
  EXPECT_NE(lastNftInput(exec).find("elements = { " + pair + " }"), std::string::npos);
  model.apply(lastNftInput(exec));
  const size_t calls = exec.calls().size();
  provider.sync(tableOf({a, b}, 3), {b.name}, false);
  ASSERT_GT(exec.calls().size(), calls);
  EXPECT_EQ(lastNftInput(exec).find("endpoint-hairpin"), std::string::npos) << "already there";
  model.apply(lastNftInput(exec));
  EXPECT_EQ(model.sets(), fullState({a, b}));

  provider.sync(tableOf({b}, 4), {a.name}, false);
  model.apply(lastNftInput(exec));
  for (const std::string& d : recorder.deletions) EXPECT_EQ(d.find("endpoint-hairpin"), std::string::npos) << d;
  for (const std::string& d : recorder.deletions) model.apply(d);
  recorder.deletions.clear();
  EXPECT_EQ(model.sets(), fullState({b}));
  EXPECT_EQ(model.sets().at("endpoint-hairpin"), (std::set<std::string>{pair}));

  provider.sync(tableOf({}, 5), {b.name}, false);
  model.apply(lastNftInput(exec));
  ASSERT_EQ(recorder.deletions.size(), 1u);
  EXPECT_NE(recorder.deletions[0].find("delete element ip kube-proxy endpoint-hairpin { " + pair + " }"),
            std::string::npos);
  model.apply(recorder.deletions[0]);
  EXPECT_EQ(model.sets(), fullState({}));
  EXPECT_TRUE(model.sets().at("endpoint-hairpin").empty());
}

// A key that stays in its map with another verdict must be replaced atomically, so that
// one sync deletes the element inside the transaction (and pays nft's cache load).
TEST(NftPartial, AVerdictChangeReplacesTheElementInsideTheTransaction) {
  FakeExecutor exec;
  Recorder recorder;
  NftablesProvider provider(exec, optionsWith(recorder));
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80, true)});
  provider.sync(tableOf({a}), {}, true);
  testing::NftModel model("kube-proxy");
  model.apply(lastNftInput(exec));

  a.internalTrafficPolicy = TrafficPolicy::Local;
  provider.sync(tableOf({a}, 2), {a.name}, false);
  const std::string text = lastNftInput(exec);
  const std::string local = "local-" + nftServiceBase(a.name);
  EXPECT_EQ(text.rfind("delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }\n", 0), 0u) << text;
  EXPECT_NE(text.find("add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; "
                      "elements = { 172.30.0.41 . tcp . 80 : goto " + local + " } ; }\n"),
            std::string::npos)
      << text;
  model.apply(text);
  for (const std::string& d : recorder.deletions) model.apply(d);
  EXPECT_EQ(model.maps().at("service-ips").at("172.30.0.41 . tcp . 80"), "goto " + local);
  EXPECT_EQ(model.trace(packet("10.1.0.5", "172.30.0.41", 80), {ip("192.168.0.2")}).endpoints, "10.180.0.1:80");
}

// A service that loses its last endpoint moves its key to the no-endpoint map: the new
// element comes with the transaction, the old one goes with the deletions.
TEST(NftPartial, LosingTheLastEndpointRejectsAfterBothParts) {
  FakeExecutor exec;
  Recorder recorder;
  NftablesProvider provider(exec, optionsWith(recorder));
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  provider.sync(tableOf({a}), {}, true);
  testing::NftModel model("kube-proxy");
  model.apply(lastNftInput(exec));
  a.endpoints.clear();
  provider.sync(tableOf({a}, 2), {a.name}, false);
  const std::string text = lastNftInput(exec);
  EXPECT_EQ(text.find("delete"), std::string::npos) << text;
  model.apply(text);
  ASSERT_EQ(recorder.deletions.size(), 1u);
  EXPECT_EQ(recorder.deletions[0].rfind("delete element ip kube-proxy service-ips { 172.30.0.41 . tcp . 80 }\n", 0), 0u);
  model.apply(recorder.deletions[0]);
  EXPECT_EQ(model.trace(packet("10.1.0.5", "172.30.0.41", 80), {ip("192.168.0.2")}).verdict, "REJECT");
}

TEST(NftPartial, AFailedTransactionMakesTheNextPartialSyncAFullOne) {
  FakeExecutor exec;
  Recorder recorder;
  NftablesProvider provider(exec, optionsWith(recorder));
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  provider.sync(tableOf({a}), {}, true);
  a.endpoints = {endpoint("10.180.0.2", 80)};
  exec.pushResult({.exitCode = 1, .out = {}, .err = "Error: Could not process rule: No such file or directory\n", .error = {}});
  EXPECT_THROW(provider.sync(tableOf({a}, 2), {a.name}, false), std::runtime_error);
  EXPECT_FALSE(isFullSync(lastNftInput(exec)));
  // The caller asks for a partial sync again; the provider writes a full one.
  provider.sync(tableOf({a}, 3), {a.name}, false);
  EXPECT_TRUE(isFullSync(lastNftInput(exec))) << lastNftInput(exec);
  // And after that success, partial syncs are partial again.
  a.endpoints = {endpoint("10.180.0.3", 80)};
  provider.sync(tableOf({a}, 4), {a.name}, false);
  EXPECT_FALSE(isFullSync(lastNftInput(exec)));
}

TEST(NftPartial, FailedDeletionsMakeTheNextPartialSyncAFullOne) {
  FakeExecutor exec;
  Recorder recorder;
  NftablesProvider provider(exec, optionsWith(recorder));
  ServicePort a = clusterIpPort("ns1", "svc1", "p80", "172.30.0.41", 80, {endpoint("10.180.0.1", 80)});
  provider.sync(tableOf({a}), {}, true);
  a.endpoints = {endpoint("10.180.0.2", 80)};
  recorder.failWith = "Device or resource busy (delete chain ip kube-proxy endpoint-x)";
  try {
    provider.sync(tableOf({a}, 2), {a.name}, false);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "nftables deletions failed: Device or resource busy (delete chain ip kube-proxy endpoint-x)");
  }
  recorder.failWith.reset();
  provider.sync(tableOf({a}, 3), {a.name}, false);
  EXPECT_TRUE(isFullSync(lastNftInput(exec)));
}

TEST(NftNetlink, ConcatenatedKeysUseOneRegisterPerField) {
  EXPECT_EQ(nftConcatKey("10.96.0.10 . tcp . 80"),
            (std::vector<unsigned char>{10, 96, 0, 10, 6, 0, 0, 0, 0, 80, 0, 0}));
  EXPECT_EQ(nftConcatKey("udp . 30053"), (std::vector<unsigned char>{17, 0, 0, 0, 0x75, 0x65, 0, 0}));
  EXPECT_THROW(nftConcatKey("10.96.0.10 . tcp ."), std::invalid_argument);
  EXPECT_THROW(nftConcatKey("10.96.0.10 tcp"), std::invalid_argument);
  EXPECT_THROW(nftConcatKey("tcp . 70000"), std::invalid_argument);
  EXPECT_THROW(nftDeleteByNetlink("add chain ip kube-proxy x\n"), std::invalid_argument);
}

}  // namespace
}  // namespace nicproxy
