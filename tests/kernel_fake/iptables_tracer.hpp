#pragma once
// A packet tracer over iptables-restore text, after kube-proxy's proxier_test.go
// tracePacket: it follows a packet through the nat chains (PREROUTING, or OUTPUT for
// a packet from the node) and the filter chains, and says what happens: which
// endpoints it can reach (every branch of `statistic` and `recent` is followed),
// whether it is masqueraded, or whether it is rejected or dropped. It reads only the
// rule syntax nicproxy writes; an unknown match makes it throw rather than guess.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "control/net.hpp"

namespace nicproxy::testing {

struct TracePacket {
  std::string protocol = "tcp";
  Ipv4 source = 0;
  Ipv4 destination = 0;
  uint16_t port = 0;
  bool fromNode = false;  // locally generated (nat OUTPUT) instead of arriving (nat PREROUTING)
};

struct TraceResult {
  std::string verdict;    // "ACCEPT", "DROP" or "REJECT"
  std::string endpoints;  // "10.1.0.1:80, 10.1.0.2:80" (sorted), empty when not DNATed
  bool masquerade = false;
  bool affinity = false;  // a DNAT on the way records the client for ClientIP affinity
  bool operator==(const TraceResult&) const = default;
};

/// Folds the branches a tracer followed (every `statistic`/`numgen` choice) into one
/// TraceResult; both tracers use it, so they judge their branches alike. It throws when
/// the branches disagree in a way a real ruleset never should (some dropped and some
/// reached endpoints, different verdicts, different masquerading); `who` names the
/// tracer in that message.
class BranchMerger {
 public:
  explicit BranchMerger(std::string who) : who_(std::move(who)) {}
  /// A branch that ended in DROP or REJECT.
  void addStopped(const std::string& verdict);
  /// A branch that went through, DNATed to `dnat` (empty: not DNATed).
  void addAccepted(const std::string& dnat, bool masquerade, bool affinity);
  TraceResult finish() const;

 private:
  std::string who_;
  std::string stopVerdict_;
  std::set<std::string> endpoints_;
  std::set<bool> masquerade_;
  bool affinity_ = false;
};

class IptablesTracer {
 public:
  /// `localAddresses`: what `-m addrtype --dst-type/--src-type LOCAL` treats as the node's.
  IptablesTracer(const std::string& restoreInput, std::set<Ipv4> localAddresses, std::string prefix = "KUBE");
  TraceResult trace(const TracePacket& packet) const;

 private:
  struct Outcome;
  std::vector<Outcome> walk(const std::string& table, const std::string& chain, const TracePacket& packet,
                            const Outcome& start, int depth) const;

  std::map<std::string, std::map<std::string, std::vector<std::vector<std::string>>>> rules_;  // table -> chain -> rules
  std::set<Ipv4> local_;
  std::string prefix_;
};

/// Splits one rule line into words, honouring "double quotes".
std::vector<std::string> splitRuleWords(const std::string& line);

}  // namespace nicproxy::testing
