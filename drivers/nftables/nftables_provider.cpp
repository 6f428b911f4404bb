#include "drivers/nftables/nftables_provider.hpp"

#include <sstream>
#include <stdexcept>

#include <spdlog/fmt/fmt.h>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"
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

  // A sync that failed part-way (say the transaction went in and the deletions did not)
  // leaves the kernel in a state this object does not know: start over.
  if (needFullSync_) fullSync = true;
  needFullSync_ = true;

  const auto safe = [this](const ServicePortName& name) {
    if (isSafeServicePortName(name)) return true;
    if (warnedUnsafe_.insert(name).second) {
      spdlog::error("nftables: service port {:?} skipped: names must be lowercase letters, digits, '-' and '.'",
                    name.toString());
    }
    return false;
  };
  // (name, new rendering or null when removed): applied to rendered_ once the kernel has it.
  std::vector<std::pair<ServicePortName, std::shared_ptr<const NftServiceRules>>> updates;
  std::string out, deletions;
  NftPartialSync partial;
  // A full sync's map elements and hairpin pairs, which replace the indexes once the
  // kernel has them.
  NftElementIndex fullElements;
  NftHairpinUses fullHairpin;
  if (fullSync) {
    // Listed first: what the table holds may come from another run, or from a sync
    // that failed half-way; whatever the new state does not name is deleted below.
    const NftTableObjects inKernel = objectsInKernel();
    NftTableObjects keep;
    for (const auto& [chain, spec] : kNftBaseChains) keep.chains.insert(chain);
    keep.sets.insert(kNftHairpinSet);
    out = nftBaseLayout(rules);
    for (const auto& [name, port] : table.ports()) {
      if (!safe(name)) continue;
      auto rendered = std::make_shared<const NftServiceRules>(renderNftService(port, rules));
      appendNftServiceAdd(out, *rendered, rules);
      keep.chains.insert(rendered->chains.begin(), rendered->chains.end());
      keep.sets.insert(rendered->sets.begin(), rendered->sets.end());
      indexNftElements(*rendered, fullElements, fullHairpin);
      updates.emplace_back(name, std::move(rendered));
    }
    for (const auto& [name, old] : rendered_) {
      if (!table.ports().contains(name)) updates.emplace_back(name, nullptr);
    }
    // Each hairpin pair once, however many services share the endpoint address.
    if (!fullHairpin.empty()) {
      std::string list;
      for (const auto& [pair, uses] : fullHairpin) list += (list.empty() ? "" : ", ") + pair;
      out += fmt::format("add element ip {} {} {{ {} }}\n", rules.table, kNftHairpinSet, list);
    }
    out += renderNftStaleDeletions(inKernel, keep, rules.table);
  } else {
    // Both maps are sorted by name: one merge walk finds what changed, so a sync of one
    // service costs no lookups per unchanged service.
    std::vector<NftServiceChange> changes;
    auto have = rendered_.begin();
    for (const auto& [name, port] : table.ports()) {
      while (have != rendered_.end() && have->first < name) {
        updates.emplace_back(have->first, nullptr);
        changes.push_back({have->second.get(), nullptr});
        ++have;
      }
      const bool known = have != rendered_.end() && have->first == name;
      const NftServiceRules* before = known ? have->second.get() : nullptr;
      if (known) ++have;
      if (before != nullptr && !changed.contains(name) && (before->port == port || *before->port == *port)) continue;
      if (!safe(name)) continue;
      auto rendered = std::make_shared<const NftServiceRules>(renderNftService(port, rules));
      changes.push_back({before, rendered.get()});
      updates.emplace_back(name, std::move(rendered));
    }
    for (; have != rendered_.end(); ++have) {
      updates.emplace_back(have->first, nullptr);
      changes.push_back({have->second.get(), nullptr});
    }
    partial = renderNftPartial(changes, elements_, hairpin_, rules);
    out = std::move(partial.transaction);
    deletions = std::move(partial.deletions);
  }
  lastInput_ = std::move(out);
  lastDeletions_ = deletions;
  if (!lastInput_.empty()) {
    const ExecResult result = executor_.run({"nft", "-f", "-"}, lastInput_);
    if (!result.ok()) {
      countFailure(false);
      throw std::runtime_error("nft -f - failed: " + result.failureText(4));
    }
  }
  if (!deletions.empty()) {
    if (options_.deleteObjects) {
      if (const auto error = options_.deleteObjects(deletions)) {
        countFailure(true);
        throw std::runtime_error("nftables deletions failed: " + *error);
      }
    } else {
      const ExecResult result = executor_.run({"nft", "-f", "-"}, deletions);
      if (!result.ok()) {
        countFailure(true);
        throw std::runtime_error("nft -f - (deletions) failed: " + result.failureText(4));
      }
    }
  }

  if (fullSync) {
    elements_ = std::move(fullElements);
    hairpin_ = std::move(fullHairpin);
  }
  applyNftElementChanges(partial, elements_, hairpin_);
  for (auto& [name, after] : updates) {
    const auto before = rendered_.find(name);
    if (!after) {
      if (before != rendered_.end()) rendered_.erase(before);
    } else if (before != rendered_.end()) {
      before->second = std::move(after);
    } else {
      rendered_.emplace(name, std::move(after));
    }
  }
  needFullSync_ = false;
}

// kube-proxy's split: a transaction that failed is a sync failure; the removal of what
// the services no longer use, which it also sends apart, is a cleanup failure.
void NftablesProvider::countFailure(bool cleanup) {
  if (options_.metrics == nullptr) return;
  (cleanup ? options_.metrics->nftablesCleanupFailures : options_.metrics->nftablesSyncFailures).Increment();
}

NftTableObjects NftablesProvider::objectsInKernel() {
  NftTableObjects objects;
  // Per family, not per table: both succeed (and print nothing of ours) when the table
  // does not exist yet. Terse: the sets without their elements.
  for (const std::vector<std::string>& argv : {std::vector<std::string>{"nft", "list", "chains", "ip"},
                                                std::vector<std::string>{"nft", "-t", "list", "sets", "ip"}}) {
    const ExecResult result = executor_.run(argv);
    if (!result.ok()) {
      countFailure(false);
      throw std::runtime_error(fmt::format("{} failed: {}", fmt::join(argv, " "), result.failureText(3)));
    }
    parseNftListing(result.out, options_.rules.table, objects);
  }
  return objects;
}

std::optional<std::string> NftablesProvider::checkCanary() {
  // Nothing installed yet, or the last sync failed: a full sync is coming anyway.
  if (needFullSync_) return std::nullopt;
  const std::string& t = options_.rules.table;
  const ExecResult result = executor_.run({"nft", "list", "chain", "ip", t, "nat-prerouting"});
  if (!result.ok()) return fmt::format("chain nat-prerouting of table ip {} is gone ({})", t, result.failureText(1));
  if (result.out.find("jump services") == std::string::npos) {
    return fmt::format("chain nat-prerouting of table ip {} lost its jump to chain services (table flushed?)", t);
  }
  return std::nullopt;
}

std::vector<std::string> NftablesProvider::cleanup(Executor& executor, const std::string& table) {
  // "add" first makes "delete" succeed whether or not the table exists, in one transaction.
  const ExecResult result =
      executor.run({"nft", "-f", "-"}, "add table ip " + table + "\ndelete table ip " + table + "\n");
  if (result.ok()) return {};
  return {"nft delete table ip " + table + ": " + result.failureText(3)};
}

}  // namespace nicproxy
