#pragma once
// What a full sync must know about the table already in the kernel (left by an earlier
// run, an older layout, or a run that failed half-way), so that it can delete what no
// longer belongs there without deleting the table: the chains and sets, by name, as
// `nft list chains ip` and `nft -t list sets ip` print them. Pure functions, no kernel.
#include <set>
#include <string>
#include <vector>

namespace nicproxy {

/// The whitespace-separated words of one line of nft's listing output.
std::vector<std::string> wordsOf(const std::string& line);

struct NftTableObjects {
  std::set<std::string> chains;
  std::set<std::string> sets;  // sets only: `list sets` does not print maps
};

/// Adds the chains and sets of table `ip <table>` found in the output of `nft list
/// chains ip` or `nft -t list sets ip` (other tables' blocks are skipped).
void parseNftListing(const std::string& listing, const std::string& table, NftTableObjects& objects);

/// The lines that remove, inside a full sync's transaction (after it emptied every map
/// that could point at them), the chains and sets in `kernel` that are not in `keep`:
/// every such chain is flushed first (a chain may jump to another, or use a set), then
/// deleted, then the sets go.
std::string renderNftStaleDeletions(const NftTableObjects& kernel, const NftTableObjects& keep,
                                    const std::string& table);

}  // namespace nicproxy
