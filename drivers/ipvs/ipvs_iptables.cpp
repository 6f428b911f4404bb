#include "drivers/ipvs/ipvs_iptables.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"
#include "drivers/iptables/rules.hpp"
#include "drivers/ipvs/ipvs_provider.hpp"

namespace nicproxy {
namespace {

std::vector<std::string> jumpArgv(const std::string& command, const IpvsJump& jump, const char* op) {
  return {command, "-w", kXtablesWaitSeconds, "-t", jump.table, op, jump.from,
          "-m", "comment", "--comment", jump.comment, "-j", jump.to};
}

std::set<std::string> chainsOf(const std::string& saveOutput) {
  std::set<std::string> chains;
  std::istringstream in(saveOutput);
  for (std::string text; std::getline(in, text);) {
    if (text.size() > 1 && text[0] == ':') chains.insert(text.substr(1, text.find(' ') - 1));
  }
  return chains;
}

}  // namespace

bool ipvsServiceIsOurs(const IpvsServiceKey& key, const std::set<Ipv4>& bound, const std::set<Ipv4>& local) {
  if (bound.contains(key.address)) return true;
  return local.contains(key.address) && key.port >= kNodePortMin && key.port <= kNodePortMax;
}

void writeIpvsIptables(Executor& executor, const IpvsIptablesOptions& options, const std::string& iptablesCommand,
                       ProxyMetrics* metrics) {
  const ExecResult restored =
      executor.run({iptablesCommand + "-restore", "-w", kXtablesWaitSeconds, "--noflush"},
                   renderIpvsIptables(options));
  if (!restored.ok() && metrics != nullptr) metrics->iptablesRestoreFailures.Increment();
  if (!restored.ok()) throw std::runtime_error("iptables-restore (ipvs rules) failed: " + restored.failureText(3));
  for (const IpvsJump& jump : ipvsJumps(options.prefix)) {
    if (executor.run(jumpArgv(iptablesCommand, jump, "-C")).ok()) continue;
    const ExecResult inserted = executor.run(jumpArgv(iptablesCommand, jump, "-I"));
    if (!inserted.ok()) {
      throw std::runtime_error(std::string("cannot insert the jump from ") + jump.table + " " + jump.from + " to " +
                               jump.to + ": " + inserted.failureText(3));
    }
  }
}

void runIpsetRestore(Executor& executor, const std::string& input, const std::string& ipsetCommand) {
  const ExecResult result = executor.run({ipsetCommand, "restore", "-exist"}, input);
  if (!result.ok()) throw std::runtime_error("ipset restore failed: " + result.failureText(3));
}

std::vector<std::string> IpvsProvider::cleanup(IpvsTransport* transport, VipLink& link, Executor& executor,
                                               const std::string& prefix, const std::vector<Ipv4>& localAddresses,
                                               const std::string& iptablesCommand, const std::string& ipsetCommand) {
  std::vector<std::string> problems;
  const auto attempt = [&](const char* what, const auto& action) {
    try {
      action();
    } catch (const std::exception& error) {
      problems.push_back(std::string(what) + ": " + error.what());
    }
  };
  std::set<Ipv4> bound;
  attempt("kube-ipvs0 addresses", [&] { bound = link.addresses(kIpvsDummyInterface); });
  if (transport != nullptr) {
    attempt("IPVS services", [&] {
      IpvsClient client(*transport);
      const std::set<Ipv4> local(localAddresses.begin(), localAddresses.end());
      for (const IpvsService& service : client.services()) {
        if (ipvsServiceIsOurs(service.key, bound, local)) client.deleteService(service.key);
      }
    });
  }
  attempt("kube-ipvs0", [&] { link.deleteLink(kIpvsDummyInterface); });

  for (const IpvsJump& jump : ipvsJumps(prefix)) {
    // -D removes one copy; repeat in case an older run inserted it twice.
    for (int i = 0; i < 16 && executor.run(jumpArgv(iptablesCommand, jump, "-D")).ok(); ++i) {
    }
  }
  // The chains shared with the iptables mode (SERVICES, POSTROUTING, MARK-MASQ, FORWARD)
  // are flushed here, so nothing refers to our sets, and removed by the iptables cleanup.
  const IpvsChains c(prefix);
  const std::vector<std::pair<const char*, std::vector<std::pair<std::string, bool>>>> tables = {
      {"filter", {{c.forward, false}, {c.ipvsFilter, true}, {c.ipvsOutFilter, true}}},
      {"nat", {{c.services, false}, {c.postrouting, false}, {c.nodePort, true}, {c.loadBalancer, true}}},
  };
  for (const auto& [table, chains] : tables) {
    const ExecResult saved = executor.run({iptablesCommand + "-save", "-t", table});
    if (!saved.ok()) {
      problems.push_back(std::string("iptables-save -t ") + table + ": " + saved.failureText(3));
      continue;
    }
    const std::set<std::string> present = chainsOf(saved.out);
    if (std::none_of(chains.begin(), chains.end(), [&](const auto& chain) { return present.contains(chain.first); })) {
      continue;
    }
    std::string input = std::string("*") + table + "\n";
    for (const auto& [chain, remove] : chains) {
      if (present.contains(chain)) input += ":" + chain + " - [0:0]\n";
    }
    for (const auto& [chain, remove] : chains) {
      if (remove && present.contains(chain)) input += "-X " + chain + "\n";
    }
    input += "COMMIT\n";
    const ExecResult restored =
        executor.run({iptablesCommand + "-restore", "-w", kXtablesWaitSeconds, "--noflush"}, input);
    if (!restored.ok()) {
      problems.push_back(std::string("iptables-restore (") + table + " ipvs cleanup): " + restored.failureText(3));
    }
  }

  const ExecResult listed = executor.run({ipsetCommand, "list", "-n"});
  if (!listed.ok()) {
    problems.push_back("ipset list -n: " + listed.failureText(3));
    return problems;
  }
  std::set<std::string> present;
  std::istringstream in(listed.out);
  for (std::string name; std::getline(in, name);) present.insert(name);
  for (const std::string& name : ipvsSetNames(prefix)) {
    if (!present.contains(name)) continue;
    const ExecResult destroyed = executor.run({ipsetCommand, "destroy", name});
    if (!destroyed.ok()) problems.push_back("ipset destroy " + name + ": " + destroyed.failureText(3));
  }
  return problems;
}

}  // namespace nicproxy
