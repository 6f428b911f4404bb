#pragma once
// The partial sync of the nftables dataplane: the changed services only, written so
// that nft 1.0.6 does not load the table's chains first.
//
// nft 1.0.6 fetches every chain of the table before an `add rule`, `add element` or any
// `delete` (1-2 s at 10,000 services of 10 endpoints, nearly all of it in the kernel's
// chain dump), but not before an `add chain` or `add map`/`add set` with a body. So:
//   - a service's rules go in as `add chain ip T C { rule ; rule ; }` (after `flush chain`);
//   - new map elements go in as `add map ip T M { type ... : verdict ; elements = { ... } ; }`;
//   - map elements that did not change are not touched at all;
//   - what must go (elements, emptied chains, affinity sets) is returned as separate
//     `delete` lines, which the provider sends straight to the kernel over netlink
//     (nft_netlink.hpp) right after the transaction; until then the stale elements lead
//     to chains this transaction already emptied.
// Hairpin pairs (nft_rules.hpp) are shared by every service with an endpoint at that
// address: the caller counts their users, a pair whose count rises from 0 goes in with
// `add set ip T endpoint-hairpin { type ... ; elements = { ... } ; }`, one that drops to
// 0 goes with the deletions.
// A key whose verdict changes (e.g. a service that loses its last endpoint moves its
// key from one map to another, or a policy change) needs `delete element` inside the
// transaction, so that one pays nft's cache load; endpoint changes do not.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "drivers/nftables/nft_rules.hpp"

namespace nicproxy {

/// The map elements in the kernel: (map, key) -> verdict.
using NftElementIndex = std::map<std::pair<std::string, std::string>, std::string>;

/// How many service ports use each hairpin pair in the kernel: "a . a" -> count.
using NftHairpinUses = std::map<std::string, uint32_t>;

/// One changed service port: what the kernel has (`before`, null if new) and what it
/// should have (`after`, null if removed).
struct NftServiceChange {
  const NftServiceRules* before = nullptr;
  const NftServiceRules* after = nullptr;
};

struct NftPartialSync {
  std::string transaction;  // for `nft -f -`; empty if there is nothing to add or flush
  std::string deletions;    // `delete element|chain|set` lines, to run after the transaction
  /// What both parts do to the maps: (map, key) -> new verdict, or nullopt for deleted.
  std::vector<std::pair<std::pair<std::string, std::string>, std::optional<std::string>>> elementChanges;
  /// What both parts do to the hairpin pairs' counts.
  std::map<std::string, int64_t> hairpinChanges;
};

/// Renders the partial sync of `changes` against the map elements in the kernel.
NftPartialSync renderNftPartial(const std::vector<NftServiceChange>& changes, const NftElementIndex& elements,
                                const NftHairpinUses& hairpin, const NftRulesOptions& options);
/// Applies a partial sync's element and hairpin changes (once both parts went through).
void applyNftElementChanges(const NftPartialSync& sync, NftElementIndex& elements, NftHairpinUses& hairpin);

/// Adds the elements and hairpin pairs of a service to the indexes (after a full sync wrote them).
void indexNftElements(const NftServiceRules& rules, NftElementIndex& elements, NftHairpinUses& hairpin);

}  // namespace nicproxy
