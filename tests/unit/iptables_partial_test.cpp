// Tests: drivers/iptables partial syncs (IptablesProvider with FakeExecutor) applied to a
// small model of `iptables-restore --noflush` (a chain line creates or flushes, -A
// appends, -X deletes an empty chain), then followed by tests/kernel_fake/iptables_tracer:
// a chain of one-service syncs (endpoint changes that leave KUBE-SERVICES alone,
// services added and removed) must trace like a full sync and leave the same chains.
// Addresses: see kernel_trace_cases.hpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "drivers/iptables/iptables_provider.hpp"
#include "drivers/names.hpp"
#include "kernel_trace_cases.hpp"

namespace nicproxy {
namespace {

using namespace fixtures;

// table -> chain -> rule lines ("-A CHAIN ..."), as iptables-restore --noflush leaves them.
class RestoreModel {
 public:
  void apply(const std::string& input) {
    std::istringstream in(input);
    std::string line, table;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line[0] == '*') {
        table = line.substr(1);
      } else if (line == "COMMIT") {
        table.clear();
      } else if (line[0] == ':') {
        tables_[table][line.substr(1, line.find(' ') - 1)].clear();
      } else if (line.rfind("-A ", 0) == 0) {
        const std::string chain = line.substr(3, line.find(' ', 3) - 3);
        auto& chains = tables_[table];
        if (!chains.contains(chain)) throw std::runtime_error("append to missing chain " + chain);
        chains[chain].push_back(line);
      } else if (line.rfind("-X ", 0) == 0) {
        auto& chains = tables_[table];
        const std::string chain = line.substr(3);
        if (!chains.contains(chain) || !chains[chain].empty()) throw std::runtime_error("cannot delete " + chain);
        chains.erase(chain);
      } else {
        throw std::runtime_error("model does not know: " + line);
      }
    }
  }
  /// The whole state as one restore input (what the tracer reads).
  std::string text() const {
    std::string out;
    for (const auto& [table, chains] : tables_) {
      out += "*" + table + "\n";
      for (const auto& [chain, rules] : chains) out += ":" + chain + " - [0:0]\n";
      for (const auto& [chain, rules] : chains) {
        for (const std::string& rule : rules) out += rule + "\n";
      }
      out += "COMMIT\n";
    }
    return out;
  }
  const std::map<std::string, std::map<std::string, std::vector<std::string>>>& tables() const { return tables_; }

 private:
  std::map<std::string, std::map<std::string, std::vector<std::string>>> tables_;
};

std::string describe(const testing::TraceResult& r) {
  return r.verdict + " [" + r.endpoints + "]" + (r.masquerade ? " masquerade" : "") + (r.affinity ? " affinity" : "");
}

IptablesProviderOptions podOptions() {
  IptablesProviderOptions o;
  o.rules.clusterCIDR = cidr("10.0.0.0/8");
  return o;
}

TEST(IptablesPartial, OneServiceSyncsReachTheSameStateAsAFullSync) {
  FakeExecutor exec;
  IptablesProvider provider(exec, podOptions());
  RestoreModel model;
  provider.sync(tableOf({}), {}, true);
  model.apply(provider.lastRestoreInput());
  std::vector<ServicePort> current;
  uint64_t generation = 1;
  size_t ownChainsOnly = 0;
  for (const ServicePort& port : traceServices()) {
    // Added with one wrong endpoint (KUBE-SERVICES rewritten), then its endpoints fixed
    // (usually only its own chains written).
    ServicePort wrong = port;
    wrong.endpoints = {endpoint("10.180.0.9", 80, true)};
    current.push_back(wrong);
    provider.sync(tableOf(current, ++generation), {port.name}, false);
    ASSERT_NO_THROW(model.apply(provider.lastRestoreInput())) << port.name.toString();
    current.back() = port;
    provider.sync(tableOf(current, ++generation), {port.name}, false);
    ASSERT_NO_THROW(model.apply(provider.lastRestoreInput())) << port.name.toString();
    if (provider.lastRestoreInput().rfind("*nat\n", 0) == 0) ++ownChainsOnly;
  }
  EXPECT_GT(ownChainsOnly, 0u) << "some endpoint fixes should have left KUBE-SERVICES alone";
  ServicePort extra = clusterIpPort("ns99", "gone", "p", "172.30.0.99", 80, {endpoint("10.180.0.9", 80)});
  extra.sessionAffinity = SessionAffinity::ClientIP;
  current.push_back(extra);
  provider.sync(tableOf(current, ++generation), {extra.name}, false);
  model.apply(provider.lastRestoreInput());
  current.pop_back();
  provider.sync(tableOf(current, ++generation), {extra.name}, false);
  model.apply(provider.lastRestoreInput());

  const testing::IptablesTracer tracer(model.text(), {ip("192.168.0.2")});
  for (const TraceCase& c : traceCases()) {
    EXPECT_EQ(describe(tracer.trace(c.packet)), describe(c.expected)) << c.name;
  }
  FakeExecutor fullExec;
  IptablesProvider fresh(fullExec, podOptions());
  fresh.sync(tableOf(current), {}, true);
  RestoreModel full;
  full.apply(fresh.lastRestoreInput());
  EXPECT_EQ(model.tables(), full.tables());
}

// kube-proxy's large-cluster mode: above 1,000 endpoints in all, the KUBE-SVC -> KUBE-SEP
// jumps and the KUBE-SEP rules carry no comment; crossing the line rewrites everything.
TEST(IptablesPartial, LargeClusterModeDropsEndpointCommentsAndCrossingItIsAFullSync) {
  FakeExecutor exec;
  IptablesProvider provider(exec, podOptions());
  ServicePort big = clusterIpPort("ns1", "big", "p80", "172.30.0.50", 80, {});
  for (int i = 0; i < 1000; ++i) {
    big.endpoints.push_back(endpoint(formatIpv4(ip("10.180.0.0") + static_cast<Ipv4>(i)).c_str(), 80));
  }
  ServicePort small = clusterIpPort("ns2", "small", "p80", "172.30.0.51", 80, {endpoint("10.181.0.1", 80)});
  provider.sync(tableOf({big}), {}, true);
  const std::string sep = "KUBE-SEP-" + portProtoEndpointHash(small.name, "10.181.0.1:80");
  const std::string svc = "KUBE-SVC-" + portProtoHash(small.name);
  EXPECT_TRUE(provider.lastRestoreInput().find("\"ns1/big:p80 -> 10.180.0.0:80\"") != std::string::npos);

  // 1,001 endpoints: large-cluster mode, and a full sync (iptables-save) though a partial was asked for.
  const auto saves = [&exec] {
    return std::count_if(exec.calls().begin(), exec.calls().end(),
                         [](const FakeExecutor::Call& c) { return c.argv[0] == "iptables-save"; });
  };
  const auto savesBefore = saves();
  provider.sync(tableOf({big, small}, 2), {small.name}, false);
  EXPECT_EQ(saves(), savesBefore + 1);
  const std::string text = provider.lastRestoreInput();
  EXPECT_TRUE(text.find("-A " + svc + " -j " + sep + "\n") != std::string::npos) << text.substr(0, 2000);
  EXPECT_TRUE(text.find("-A " + sep + " -s 10.181.0.1 -j KUBE-MARK-MASQ\n") != std::string::npos);
  EXPECT_TRUE(text.find("-A " + sep + " -m tcp -p tcp -j DNAT --to-destination 10.181.0.1:80\n") != std::string::npos);
  EXPECT_TRUE(text.find("ns1/big:p80 -> ") == std::string::npos);
  // The service-level comments stay, as in kube-proxy.
  EXPECT_TRUE(text.find("-m comment --comment \"ns2/small:p80 cluster IP\"") != std::string::npos);
  const testing::IptablesTracer tracer(text, {ip("192.168.0.2")});
  EXPECT_EQ(describe(tracer.trace(packet("10.0.0.5", "172.30.0.51", 80))), describe(reach("10.181.0.1:80", false)));

  // Back under the line: comments again, through another full sync.
  provider.sync(tableOf({small}, 3), {big.name}, false);
  EXPECT_EQ(saves(), savesBefore + 2);
  EXPECT_TRUE(provider.lastRestoreInput().find("\"ns2/small:p80 -> 10.181.0.1:80\"") != std::string::npos);
}

}  // namespace
}  // namespace nicproxy
