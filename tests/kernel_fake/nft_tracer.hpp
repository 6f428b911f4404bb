#pragma once
// An in-memory model of one nftables table that applies the transactions nicproxy
// writes (add/flush/delete of tables, chains, sets, maps, rules and elements, chains
// and maps with bodies as the partial syncs write them, with
// nft's errors for deleting what is not there), and a packet tracer over it with the
// same questions and answers as the iptables tracer: which endpoints, masqueraded or
// not, rejected or dropped. Applying the successive transactions of incremental syncs
// checks that they leave the same state as a full sync would.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/kernel_fake/iptables_tracer.hpp"

namespace nicproxy::testing {

class NftModel {
 public:
  explicit NftModel(std::string table) : table_(std::move(table)) {}
  /// Applies one `nft -f -` input; throws std::runtime_error as nft would fail. The
  /// model is left as it was on failure (transactions are atomic).
  void apply(const std::string& transaction);

  TraceResult trace(const TracePacket& packet, const std::set<Ipv4>& localAddresses) const;

  bool exists() const { return exists_; }
  const std::map<std::string, std::vector<std::string>>& chains() const { return chains_; }
  const std::map<std::string, std::map<std::string, std::string>>& maps() const { return maps_; }
  const std::map<std::string, std::set<std::string>>& sets() const { return sets_; }

 private:
  struct Outcome;
  void applyLine(const std::string& line);
  void addElement(const std::string& map, const std::string& key, const std::string& value);
  std::vector<Outcome> walk(const std::string& chain, const TracePacket& packet, const std::set<Ipv4>& local,
                            const Outcome& start, int depth) const;

  std::string table_;
  bool exists_ = false;
  std::map<std::string, std::vector<std::string>> chains_;            // chain -> rule texts
  std::map<std::string, std::map<std::string, std::string>> maps_;    // map -> key -> verdict
  std::map<std::string, std::set<std::string>> sets_;               // set -> elements
};

}  // namespace nicproxy::testing
