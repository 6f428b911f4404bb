#include "drivers/iptables/iptables_provider.hpp"

#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "drivers/conntrack.hpp"
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
  std::vector<std::string> argv{command, "-w", "-t", rule.table, op, rule.from};
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
  if (options_.nodePortAddresses.empty()) {
    rules.nodePortIPs.reset();
  } else {
    rules.nodePortIPs = addressesIn(options_.nodePortAddresses, options_.localAddresses());
    if (rules.nodePortIPs->empty()) spdlog::warn("iptables: no node address inside nodePortAddresses: no NodePorts");
  }

  std::map<ServicePortName, std::shared_ptr<const IptablesServiceRules>> next;
  std::vector<const IptablesServiceRules*> ordered;
  std::vector<bool> writeOwn;
  std::set<std::string> nextChains;
  for (const auto& [name, port] : table.ports()) {
    if (!isSafeServicePortName(name)) {
      if (warnedUnsafe_.insert(name).second) {
        spdlog::error("iptables: service port {:?} skipped: names must be lowercase letters, digits, '-' and '.'",
                      name.toString());
      }
      continue;
    }
    const auto previous = rendered_.find(name);
    const bool reuse = !fullSync && previous != rendered_.end() && !changed.contains(name) &&
                       (previous->second->port == port || *previous->second->port == *port);
    auto rendered = reuse ? previous->second
                          : std::make_shared<const IptablesServiceRules>(renderIptablesService(port, rules));
    ordered.push_back(rendered.get());
    writeOwn.push_back(!reuse);
    nextChains.insert(rendered->ownChains.begin(), rendered->ownChains.end());
    next.emplace(name, std::move(rendered));
  }

  std::set<std::string> stale;
  for (const std::string& chain : ownChains_) {
    if (!nextChains.contains(chain)) stale.insert(chain);
  }
  if (fullSync) {
    // After a restart or a failure the kernel may hold chains this process never wrote.
    const IptablesChains c(rules.prefix);
    for (const std::string& chain : chainsInKernel("nat")) {
      if (isOwnChain(chain, c) && !nextChains.contains(chain)) stale.insert(chain);
    }
  }

  lastInput_ = assembleIptablesRestore(ordered, writeOwn, {stale.begin(), stale.end()}, rules);
  const ExecResult result = executor_.run({options_.iptablesCommand + "-restore", "-w", "--noflush"}, lastInput_);
  if (!result.ok()) {
    throw std::runtime_error("iptables-restore failed: " +
                             result.failureText(3));
  }
  if (fullSync) ensureJumpRules();

  for (const auto& [name, before] : rendered_) {
    if (before->port->name.protocol != Protocol::Udp) continue;
    const auto after = next.find(name);
    if (after == next.end() || after->second != before) {
      clearRemovedUdpEndpoints(executor_, *before->port, after == next.end() ? nullptr : after->second->port.get());
    }
  }
  rendered_ = std::move(next);
  ownChains_ = std::move(nextChains);
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
    const ExecResult restored = executor.run({iptablesCommand + "-restore", "-w", "--noflush"}, input);
    if (!restored.ok()) {
      problems.push_back(std::string("iptables-restore (") + table + " cleanup): " +
                         restored.failureText(3));
    }
  }
  return problems;
}

}  // namespace nicproxy
