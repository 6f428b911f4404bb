#include "drivers/iptables/iptables_provider.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"
#include "drivers/names.hpp"

namespace nicproxy {
namespace {

struct JumpRule {
  const char* table;
  const char* from;       // built-in chain
  std::string to;         // our chain
  const char* comment;
  bool newOnly;           // -m conntrack --ctstate NEW
};

// kube-proxy's iptablesJumpChains, in its order.
std::vector<JumpRule> jumpRules(const std::string& prefix) {
  const IptablesChains c(prefix);
  return {
      {"filter", "INPUT", c.externalServices, "kubernetes externally-visible service portals", true},
      {"filter", "FORWARD", c.externalServices, "kubernetes externally-visible service portals", true},
      {"filter", "INPUT", c.nodePorts, "kubernetes health check service ports", false},
      {"filter", "FORWARD", c.services, "kubernetes service portals", true},
      {"filter", "OUTPUT", c.services, "kubernetes service portals", true},
      {"filter", "FORWARD", c.forward, "kubernetes forwarding rules", false},
      {"filter", "INPUT", c.firewall, "kubernetes load balancer firewall", true},
      {"filter", "OUTPUT", c.firewall, "kubernetes load balancer firewall", true},
      {"filter", "FORWARD", c.firewall, "kubernetes load balancer firewall", true},
      {"nat", "OUTPUT", c.services, "kubernetes service portals", false},
      {"nat", "PREROUTING", c.services, "kubernetes service portals", false},
      {"nat", "POSTROUTING", c.postrouting, "kubernetes postrouting rules", false},
  };
}

std::vector<std::string> jumpArgv(const std::string& command, const JumpRule& rule, const char* op) {
  std::vector<std::string> argv{command, "-w", kXtablesWaitSeconds, "-t", rule.table, op, rule.from};
  if (rule.newOnly) argv.insert(argv.end(), {"-m", "conntrack", "--ctstate", "NEW"});
  argv.insert(argv.end(), {"-m", "comment", "--comment", rule.comment, "-j", rule.to});
  return argv;
}


bool isOwnChain(const std::string& chain, const IptablesChains& c) {
  for (const std::string* p : {&c.svc, &c.svl, &c.ext, &c.fw, &c.sep}) {
    if (chain.rfind(*p, 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> chainsOf(const std::string& saveOutput) {
  std::vector<std::string> chains;
  std::istringstream in(saveOutput);
  std::string lineText;
  while (std::getline(in, lineText)) {
    if (lineText.size() > 1 && lineText[0] == ':') chains.push_back(lineText.substr(1, lineText.find(' ') - 1));
  }
  return chains;
}

}  // namespace

IptablesProvider::IptablesProvider(Executor& executor, IptablesProviderOptions options)
    : executor_(executor), options_(std::move(options)) {}

std::vector<std::string> IptablesProvider::chainsInKernel(const char* table) {
  const ExecResult result = executor_.run({options_.iptablesCommand + "-save", "-t", table});
  if (!result.ok()) {
    throw std::runtime_error(std::string("iptables-save -t ") + table + " failed: " +
                             result.failureText(3));
  }
  return chainsOf(result.out);
}

void IptablesProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  IptablesRulesOptions& rules = options_.rules;
  std::optional<std::vector<Ipv4>> nodePortIPs;
  if (!options_.nodePortAddresses.empty()) {
    nodePortIPs = addressesIn(options_.nodePortAddresses, options_.localAddresses());
    if (nodePortIPs->empty()) spdlog::warn("iptables: no node address inside nodePortAddresses: no NodePorts");
  }
  // The node-port addresses are in KUBE-SERVICES' last rules.
  bool sharedChanged = fullSync || nodePortIPs != rules.nodePortIPs;
  rules.nodePortIPs = std::move(nodePortIPs);
  // kube-proxy's large-cluster mode; crossing the threshold rewrites every service.
  size_t totalEndpoints = 0;
  for (const auto& [name, port] : table.ports()) totalEndpoints += port->endpoints.size();
  const bool large = totalEndpoints > kLargeClusterEndpoints;
  if (large != rules.largeClusterMode) {
    spdlog::info("iptables: {} endpoints: large-cluster mode (no endpoint comments) {}", totalEndpoints,
                 large ? "on" : "off");
    rules.largeClusterMode = large;
    fullSync = sharedChanged = true;
  }
  // A failed sync leaves the kernel in a state this object does not know: start over.
  if (needFullSync_) fullSync = sharedChanged = true;
  needFullSync_ = true;

  const auto safe = [this](const ServicePortName& name) {
    if (isSafeServicePortName(name)) return true;
    if (warnedUnsafe_.insert(name).second) {
      spdlog::error("iptables: service port {:?} skipped: names must be lowercase letters, digits, '-' and '.'",
                    name.toString());
    }
    return false;
  };
  // Both maps are sorted by name: one merge walk, no lookups per unchanged service.
  std::vector<const IptablesServiceRules*> ordered;
  std::vector<bool> writeOwn;
  std::vector<std::pair<ServicePortName, std::shared_ptr<const IptablesServiceRules>>> updates;  // null: removed
  std::set<std::string> stale;
  const auto staleOf = [&stale](const IptablesServiceRules& before, const IptablesServiceRules* after) {
    for (const std::string& chain : before.ownChains) {
      if (after == nullptr ||
          std::find(after->ownChains.begin(), after->ownChains.end(), chain) == after->ownChains.end()) {
        stale.insert(chain);
      }
    }
  };
  auto have = rendered_.begin();
  for (const auto& [name, port] : table.ports()) {
    for (; have != rendered_.end() && have->first < name; ++have) {
      updates.emplace_back(have->first, nullptr);
      staleOf(*have->second, nullptr);
      sharedChanged = true;
    }
    const bool known = have != rendered_.end() && have->first == name;
    const IptablesServiceRules* before = known ? have->second.get() : nullptr;
    if (known) ++have;
    if (!fullSync && before != nullptr && !changed.contains(name) && (before->port == port || *before->port == *port)) {
      ordered.push_back(before);
      writeOwn.push_back(false);
      continue;
    }
    if (!safe(name)) continue;
    auto rendered = std::make_shared<const IptablesServiceRules>(renderIptablesService(port, rules));
    if (before == nullptr || before->natServices != rendered->natServices ||
        before->natNodePorts != rendered->natNodePorts || before->filterServices != rendered->filterServices ||
        before->filterExternal != rendered->filterExternal || before->filterFirewall != rendered->filterFirewall) {
      sharedChanged = true;
    }
    if (before != nullptr) staleOf(*before, rendered.get());
    ordered.push_back(rendered.get());
    writeOwn.push_back(true);
    updates.emplace_back(name, std::move(rendered));
  }
  for (; have != rendered_.end(); ++have) {
    updates.emplace_back(have->first, nullptr);
    staleOf(*have->second, nullptr);
    sharedChanged = true;
  }
  if (fullSync) {
    // After a restart or a failure the kernel may hold chains this process never wrote.
    std::set<std::string> nextChains;
    for (const IptablesServiceRules* r : ordered) nextChains.insert(r->ownChains.begin(), r->ownChains.end());
    const IptablesChains c(rules.prefix);
    for (const std::string& chain : chainsInKernel("nat")) {
      if (isOwnChain(chain, c) && !nextChains.contains(chain)) stale.insert(chain);
    }
    for (const std::string& chain : ownChains_) {
      if (!nextChains.contains(chain)) stale.insert(chain);
    }
  }

  const std::vector<std::string> staleList(stale.begin(), stale.end());
  lastInput_ = sharedChanged ? assembleIptablesRestore(ordered, writeOwn, staleList, rules)
                             : assembleIptablesOwnChainsRestore(ordered, writeOwn, staleList);
  const ExecResult result =
      executor_.run({options_.iptablesCommand + "-restore", "-w", kXtablesWaitSeconds, "--noflush"}, lastInput_);
  if (!result.ok()) {
    // kube-proxy counts every failed restore, and the failed partial ones again apart.
    if (options_.metrics != nullptr) {
      options_.metrics->iptablesRestoreFailures.Increment();
      if (!fullSync) options_.metrics->iptablesPartialRestoreFailures.Increment();
    }
    throw std::runtime_error("iptables-restore failed: " + result.failureText(3));
  }
  if (fullSync) ensureJumpRules();

  for (const std::string& chain : stale) ownChains_.erase(chain);
  for (auto& [name, after] : updates) {
    const auto before = rendered_.find(name);
    if (before != rendered_.end()) ownRules_ -= countIptablesRuleLines(before->second->ownRules);
    if (!after) {
      if (before != rendered_.end()) rendered_.erase(before);
      continue;
    }
    ownRules_ += countIptablesRuleLines(after->ownRules);
    ownChains_.insert(after->ownChains.begin(), after->ownChains.end());
    if (before != rendered_.end()) {
      before->second = std::move(after);
    } else {
      rendered_.emplace(name, std::move(after));
    }
  }
  recordRuleCounts(ordered, writeOwn, sharedChanged);
  needFullSync_ = false;
}

void IptablesProvider::recordRuleCounts(const std::vector<const IptablesServiceRules*>& ordered,
                                        const std::vector<bool>& writeOwn, bool sharedWritten) {
  const IptablesRuleCounts written = countIptablesRules(lastInput_);
  // The shared chains are written whole or not at all: what they hold is what was last
  // written of them, the rest of the nat rules written being own chains'.
  if (sharedWritten) {
    size_t ownWritten = 0;
    for (size_t i = 0; i < ordered.size(); ++i) {
      if (writeOwn[i]) ownWritten += countIptablesRuleLines(ordered[i]->ownRules);
    }
    sharedRules_ = {written.filter, written.nat - ownWritten};
  }
  if (options_.metrics == nullptr) return;
  // kube-proxy's: "last" what this sync wrote, "total" what the tables hold of ours.
  auto& last = options_.metrics->iptablesRulesLast;
  last.Add({{"table", "filter"}}).Set(static_cast<double>(written.filter));
  last.Add({{"table", "nat"}}).Set(static_cast<double>(written.nat));
  auto& total = options_.metrics->iptablesRulesTotal;
  total.Add({{"table", "filter"}}).Set(static_cast<double>(sharedRules_.filter));
  total.Add({{"table", "nat"}}).Set(static_cast<double>(sharedRules_.nat + ownRules_));
}

std::optional<std::string> IptablesProvider::checkCanary() {
  // Nothing installed yet, or the last sync failed: a full sync is coming anyway.
  if (needFullSync_) return std::nullopt;
  std::set<std::string> checked;  // tables
  for (const JumpRule& rule : jumpRules(options_.rules.prefix)) {
    if (!checked.insert(rule.table).second) continue;
    const ExecResult result = executor_.run(jumpArgv(options_.iptablesCommand, rule, "-C"));
    if (!result.ok()) {
      return std::string("the jump from ") + rule.table + " " + rule.from + " to " + rule.to +
             " is gone (table flushed?): " + result.failureText(1);
    }
  }
  return std::nullopt;
}

void IptablesProvider::ensureJumpRules() {
  for (const JumpRule& rule : jumpRules(options_.rules.prefix)) {
    if (executor_.run(jumpArgv(options_.iptablesCommand, rule, "-C")).ok()) continue;
    const ExecResult inserted = executor_.run(jumpArgv(options_.iptablesCommand, rule, "-I"));
    if (!inserted.ok()) {
      throw std::runtime_error(std::string("cannot insert the jump from ") + rule.table + " " + rule.from + " to " +
                               rule.to + ": " + inserted.failureText(3));
    }
  }
}

std::vector<std::string> IptablesProvider::cleanup(Executor& executor, const std::string& prefix,
                                                   const std::string& iptablesCommand) {
  std::vector<std::string> problems;
  for (const JumpRule& rule : jumpRules(prefix)) {
    // -D removes one copy; repeat in case an older run inserted it twice.
    for (int i = 0; i < 16 && executor.run(jumpArgv(iptablesCommand, rule, "-D")).ok(); ++i) {
    }
  }
  const IptablesChains c(prefix);
  const std::set<std::string> fixed{c.services,  c.externalServices, c.nodePorts, c.postrouting,
                                    c.markMasq, c.forward,          c.firewall};
  for (const char* table : {"filter", "nat"}) {
    const ExecResult saved = executor.run({iptablesCommand + "-save", "-t", table});
    if (!saved.ok()) {
      problems.push_back(std::string("iptables-save -t ") + table + ": " +
                         saved.failureText(3));
      continue;
    }
    std::vector<std::string> ours;
    for (const std::string& chain : chainsOf(saved.out)) {
      if (fixed.contains(chain) || isOwnChain(chain, c)) ours.push_back(chain);
    }
    if (ours.empty()) continue;
    std::string input = std::string("*") + table + "\n";
    for (const std::string& chain : ours) input += ":" + chain + " - [0:0]\n";
    for (const std::string& chain : ours) input += "-X " + chain + "\n";
    input += "COMMIT\n";
    const ExecResult restored =
        executor.run({iptablesCommand + "-restore", "-w", kXtablesWaitSeconds, "--noflush"}, input);
    if (!restored.ok()) {
      problems.push_back(std::string("iptables-restore (") + table + " cleanup): " +
                         restored.failureText(3));
    }
  }
  return problems;
}

}  // namespace nicproxy
