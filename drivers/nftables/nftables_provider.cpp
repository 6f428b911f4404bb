#include "drivers/nftables/nftables_provider.hpp"

#include <sstream>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "drivers/conntrack.hpp"
#include "drivers/names.hpp"

namespace nicproxy {

NftablesProvider::NftablesProvider(Executor& executor, NftablesProviderOptions options)
    : executor_(executor), options_(std::move(options)) {}

void NftablesProvider::sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) {
  NftRulesOptions& rules = options_.rules;
  std::optional<std::vector<Ipv4>> nodePortIPs;
  if (!options_.nodePortAddresses.empty()) {
    nodePortIPs = addressesIn(options_.nodePortAddresses, options_.localAddresses());
  }
  // The node-port addresses live in the base layout; a change there needs a full sync.
  if (nodePortIPs != rules.nodePortIPs) fullSync = true;
  rules.nodePortIPs = std::move(nodePortIPs);

  std::map<ServicePortName, std::shared_ptr<const NftServiceRules>> next;
  std::string out;
  std::string adds, deletes;
  if (fullSync) out = nftBaseLayout(rules);
  for (const auto& [name, port] : table.ports()) {
    if (!isSafeServicePortName(name)) {
      if (warnedUnsafe_.insert(name).second) {
        spdlog::error("nftables: service port {:?} skipped: names must be lowercase letters, digits, '-' and '.'",
                      name.toString());
      }
      continue;
    }
    const auto previous = rendered_.find(name);
    const bool reuse = !fullSync && previous != rendered_.end() && !changed.contains(name) &&
                       (previous->second->port == port || *previous->second->port == *port);
    if (reuse) {
      next.emplace(name, previous->second);
      continue;
    }
    auto rendered = std::make_shared<const NftServiceRules>(renderNftService(port, rules));
    if (!fullSync && previous != rendered_.end()) {
      appendNftServiceUnlink(out, *previous->second, rules);
      appendNftServiceDelete(deletes, *previous->second, rendered.get(), rules);
    }
    appendNftServiceAdd(adds, *rendered, rules);
    next.emplace(name, std::move(rendered));
  }
  if (!fullSync) {
    for (const auto& [name, old] : rendered_) {
      if (next.contains(name)) continue;
      appendNftServiceUnlink(out, *old, rules);
      appendNftServiceDelete(deletes, *old, nullptr, rules);
    }
  }
  // Unlink old elements and empty old chains, add the new ones, then delete the chains
  // nothing refers to any more: every step valid inside one transaction.
  out += adds;
  out += deletes;
  lastInput_ = std::move(out);
  if (!lastInput_.empty()) {
    const ExecResult result = executor_.run({"nft", "-f", "-"}, lastInput_);
    if (!result.ok()) {
      throw std::runtime_error("nft -f - failed: " + result.failureText(4));
    }
  }
  for (const auto& [name, before] : rendered_) {
    if (name.protocol != Protocol::Udp) continue;
    const auto after = next.find(name);
    if (after == next.end() || after->second != before) {
      clearRemovedUdpEndpoints(executor_, *before->port, after == next.end() ? nullptr : after->second->port.get());
    }
  }
  rendered_ = std::move(next);
}

std::vector<std::string> NftablesProvider::cleanup(Executor& executor, const std::string& table) {
  // "add" first makes "delete" succeed whether or not the table exists, in one transaction.
  const ExecResult result =
      executor.run({"nft", "-f", "-"}, "add table ip " + table + "\ndelete table ip " + table + "\n");
  if (result.ok()) return {};
  return {"nft delete table ip " + table + ": " + result.failureText(3)};
}

}  // namespace nicproxy
