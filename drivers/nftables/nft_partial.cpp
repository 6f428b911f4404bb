#include "drivers/nftables/nft_partial.hpp"

#include <algorithm>
#include <set>

#include <spdlog/fmt/fmt.h>

namespace nicproxy {

void indexNftElements(const NftServiceRules& rules, NftElementIndex& elements, NftHairpinUses& hairpin) {
  for (const NftElement& e : rules.elements) elements[{e.map, e.key}] = e.verdict;
  for (const std::string& pair : rules.hairpin) ++hairpin[pair];
}

void applyNftElementChanges(const NftPartialSync& sync, NftElementIndex& elements, NftHairpinUses& hairpin) {
  for (const auto& [mapKey, verdict] : sync.elementChanges) {
    if (verdict) {
      elements[mapKey] = *verdict;
    } else {
      elements.erase(mapKey);
    }
  }
  for (const auto& [pair, delta] : sync.hairpinChanges) {
    const int64_t uses = static_cast<int64_t>(hairpin[pair]) + delta;
    if (uses > 0) {
      hairpin[pair] = static_cast<uint32_t>(uses);
    } else {
      hairpin.erase(pair);
    }
  }
}

NftPartialSync renderNftPartial(const std::vector<NftServiceChange>& changes, const NftElementIndex& elements,
                                const NftHairpinUses& hairpin, const NftRulesOptions& o) {
  const std::string& t = o.table;
  NftPartialSync out;
  std::string& tx = out.transaction;

  std::map<std::pair<std::string, std::string>, std::string> wanted;
  std::set<std::pair<std::string, std::string>> released;
  for (const NftServiceChange& c : changes) {
    if (c.before != nullptr) {
      for (const NftElement& e : c.before->elements) released.insert({e.map, e.key});
    }
    if (c.after != nullptr) {
      for (const NftElement& e : c.after->elements) wanted[{e.map, e.key}] = e.verdict;
    }
  }

  // 1. Keys whose verdict changes: delete and re-add in the same transaction (atomic).
  std::map<std::string, std::vector<std::string>> adds;  // map -> "key : verdict"
  for (const auto& [mapKey, verdict] : wanted) {
    const auto now = elements.find(mapKey);
    if (now != elements.end() && now->second == verdict) continue;
    if (now != elements.end()) tx += fmt::format("delete element ip {} {} {{ {} }}\n", t, mapKey.first, mapKey.second);
    adds[mapKey.first].push_back(mapKey.second + " : " + verdict);
    out.elementChanges.push_back({mapKey, verdict});
  }
  // 2. Empty every chain the changed services had; the kept ones are refilled below.
  for (const NftServiceChange& c : changes) {
    if (c.before == nullptr) continue;
    for (const std::string& chain : c.before->chains) tx += fmt::format("flush chain ip {} {}\n", t, chain);
  }
  // 3. New chains first (their rules may refer to each other in any order), affinity
  // sets ("add set" of an existing set is a no-op), then the chains with their rules.
  const auto has = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  for (const NftServiceChange& c : changes) {
    if (c.after == nullptr) continue;
    for (const std::string& chain : c.after->chains) {
      if (c.before == nullptr || !has(c.before->chains, chain)) tx += fmt::format("add chain ip {} {}\n", t, chain);
    }
  }
  for (const NftServiceChange& c : changes) {
    if (c.after != nullptr) tx += c.after->setDefinitions;
  }
  for (const NftServiceChange& c : changes) {
    if (c.after == nullptr) continue;
    for (const std::string& chain : c.after->chains) {
      std::string body;
      for (const auto& [ruleChain, rule] : c.after->chainRules) {
        if (ruleChain == chain) body += rule + " ; ";
      }
      if (!body.empty()) tx += fmt::format("add chain ip {} {} {{ {}}}\n", t, chain, body);
    }
  }
  // 4. The new elements, one map body per map.
  for (const auto& [map, items] : adds) {
    std::string list;
    for (const std::string& item : items) list += (list.empty() ? "" : ", ") + item;
    tx += fmt::format("add map ip {} {} {{ type {} : verdict ; elements = {{ {} }} ; }}\n", t, map, nftMapKeyType(map),
                      list);
  }

  // 5. Hairpin pairs that gain their first user.
  for (const NftServiceChange& c : changes) {
    if (c.before != nullptr) {
      for (const std::string& pair : c.before->hairpin) --out.hairpinChanges[pair];
    }
    if (c.after != nullptr) {
      for (const std::string& pair : c.after->hairpin) ++out.hairpinChanges[pair];
    }
  }
  std::erase_if(out.hairpinChanges, [](const auto& change) { return change.second == 0; });
  const auto usesOf = [&hairpin](const std::string& pair) -> int64_t {
    const auto it = hairpin.find(pair);
    return it == hairpin.end() ? 0 : it->second;
  };
  std::string firstUsers;
  for (const auto& [pair, delta] : out.hairpinChanges) {
    if (usesOf(pair) == 0 && delta > 0) firstUsers += (firstUsers.empty() ? "" : ", ") + pair;
  }
  if (!firstUsers.empty()) {
    tx += fmt::format("add set ip {} {} {{ type {} ; elements = {{ {} }} ; }}\n", t, kNftHairpinSet, kNftHairpinType,
                      firstUsers);
  }

  // After the transaction: the elements nobody wants any more, the hairpin pairs that
  // lost their last user, then the chains and sets that only the old rules used
  // (nothing refers to them once those elements are gone).
  for (const auto& mapKey : released) {
    if (wanted.contains(mapKey)) continue;
    out.deletions += fmt::format("delete element ip {} {} {{ {} }}\n", t, mapKey.first, mapKey.second);
    out.elementChanges.push_back({mapKey, std::nullopt});
  }
  for (const auto& [pair, delta] : out.hairpinChanges) {
    if (usesOf(pair) > 0 && usesOf(pair) + delta <= 0) {
      out.deletions += fmt::format("delete element ip {} {} {{ {} }}\n", t, kNftHairpinSet, pair);
    }
  }
  for (const NftServiceChange& c : changes) {
    if (c.before == nullptr) continue;
    for (const std::string& chain : c.before->chains) {
      if (c.after == nullptr || !has(c.after->chains, chain)) {
        out.deletions += fmt::format("delete chain ip {} {}\n", t, chain);
      }
    }
  }
  for (const NftServiceChange& c : changes) {
    if (c.before == nullptr) continue;
    for (const std::string& set : c.before->sets) {
      if (c.after == nullptr || !has(c.after->sets, set)) out.deletions += fmt::format("delete set ip {} {}\n", t, set);
    }
  }
  return out;
}

}  // namespace nicproxy
