#include "drivers/nftables/nft_inventory.hpp"

#include <sstream>
#include <vector>

#include <spdlog/fmt/fmt.h>

namespace nicproxy {
std::vector<std::string> wordsOf(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

namespace {

// nft quotes a name that is not a plain identifier.
std::string unquoted(const std::string& name) {
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"') return name.substr(1, name.size() - 2);
  return name;
}

}  // namespace

void parseNftListing(const std::string& listing, const std::string& table, NftTableObjects& objects) {
  std::istringstream in(listing);
  std::string line;
  bool ours = false;
  while (std::getline(in, line)) {
    const auto w = wordsOf(line);
    // "table ip NAME {" opens a table's block, "chain NAME {" / "set NAME {" an object's.
    if (w.size() == 4 && w[0] == "table" && w[3] == "{") {
      ours = w[1] == "ip" && unquoted(w[2]) == table;
    } else if (ours && w.size() == 3 && w[2] == "{" && (w[0] == "chain" || w[0] == "set")) {
      (w[0] == "chain" ? objects.chains : objects.sets).insert(unquoted(w[1]));
    }
  }
}

std::string renderNftStaleDeletions(const NftTableObjects& kernel, const NftTableObjects& keep,
                                    const std::string& table) {
  std::string flushes, deletions;
  for (const std::string& chain : kernel.chains) {
    if (keep.chains.contains(chain)) continue;
    flushes += fmt::format("flush chain ip {} {}\n", table, chain);
    deletions += fmt::format("delete chain ip {} {}\n", table, chain);
  }
  for (const std::string& set : kernel.sets) {
    if (!keep.sets.contains(set)) deletions += fmt::format("delete set ip {} {}\n", table, set);
  }
  return flushes + deletions;
}

}  // namespace nicproxy
