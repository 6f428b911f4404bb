#include "tests/kernel_fake/iptables_tracer.hpp"

#include <algorithm>
#include <optional>
#include <sstream>
#include <stdexcept>

namespace nicproxy::testing {

struct IptablesTracer::Outcome {
  bool masquerade = false;
  bool affinity = false;
  std::string dnat;     // "ip:port" once DNATed
  std::string verdict;  // set when the walk stopped on a verdict; empty: fell through (ACCEPT)
  bool final = false;    // DNAT or a verdict ended the walk
};

std::vector<std::string> splitRuleWords(const std::string& line) {
  std::vector<std::string> words;
  std::string word;
  bool quoted = false, any = false;
  for (char c : line) {
    if (c == '"') {
      quoted = !quoted;
      any = true;
    } else if (c == ' ' && !quoted) {
      if (any) words.push_back(word);
      word.clear();
      any = false;
    } else {
      word += c;
      any = true;
    }
  }
  if (any) words.push_back(word);
  return words;
}

IptablesTracer::IptablesTracer(const std::string& input, std::set<Ipv4> localAddresses, std::string prefix)
    : local_(std::move(localAddresses)), prefix_(std::move(prefix)) {
  std::istringstream in(input);
  std::string line, table;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '*') {
      table = line.substr(1);
    } else if (line[0] == ':') {
      rules_[table][line.substr(1, line.find(' ') - 1)];
    } else if (line.rfind("-A ", 0) == 0) {
      auto words = splitRuleWords(line);
      rules_[table][words[1]].push_back(std::vector<std::string>(words.begin() + 2, words.end()));
    } else if (line.rfind("-X ", 0) == 0) {
      rules_[table].erase(line.substr(3));
    } else if (line != "COMMIT") {
      throw std::runtime_error("tracer: unexpected line: " + line);
    }
  }
}

namespace {

bool inCidr(const std::string& text, Ipv4 ip) {
  const auto cidr = text.find('/') == std::string::npos ? parseIpv4Cidr(text + "/32") : parseIpv4Cidr(text);
  if (!cidr) throw std::runtime_error("tracer: bad address " + text);
  return cidr->contains(ip);
}

}  // namespace

std::vector<IptablesTracer::Outcome> IptablesTracer::walk(const std::string& table, const std::string& chain,
                                                          const TracePacket& packet, const Outcome& start,
                                                          int depth) const {
  if (depth > 16) throw std::runtime_error("tracer: jump loop at " + chain);
  std::vector<Outcome> results;
  const auto tableIt = rules_.find(table);
  if (tableIt == rules_.end()) return {start};
  const auto chainIt = tableIt->second.find(chain);
  if (chainIt == tableIt->second.end()) throw std::runtime_error("tracer: jump to missing chain " + chain);
  // Every alternative still going down this chain (statistic and recent fork it).
  std::vector<Outcome> live{start};
  for (const auto& words : chainIt->second) {
    std::vector<Outcome> nextLive;
    for (const Outcome& state : live) {
      const Ipv4 destination =
          state.dnat.empty() ? packet.destination : parseIpv4(state.dnat.substr(0, state.dnat.find(':'))).value();
      bool matches = true, branch = false, negate = false, setsRecent = false;
      std::string target, toDestination;
      for (size_t i = 0; i < words.size(); ++i) {
        const std::string& w = words[i];
        const auto next = [&]() -> const std::string& {
          if (i + 1 >= words.size()) throw std::runtime_error("tracer: " + w + " needs a value");
          return words[++i];
        };
        std::optional<bool> result;
        if (w == "!") {
          negate = true;
          continue;
        } else if (w == "-m" || w == "--comment" || w == "--name" || w == "--seconds" || w == "--mode") {
          next();
        } else if (w == "--reap") {
        } else if (w == "--probability" || w == "--rcheck") {
          if (w == "--probability") next();
          branch = true;
        } else if (w == "--set") {
          setsRecent = true;
        } else if (w == "-p") {
          result = next() == packet.protocol;
        } else if (w == "-d") {
          result = inCidr(next(), destination);
        } else if (w == "-s") {
          result = inCidr(next(), packet.source);
        } else if (w == "--dport") {
          result = std::stoi(next()) == packet.port;
        } else if (w == "--dst-type" || w == "--src-type") {
          if (next() != "LOCAL") throw std::runtime_error("tracer: only LOCAL addrtype");
          result = w == "--dst-type" ? local_.contains(destination) : packet.fromNode || local_.contains(packet.source);
        } else if (w == "--mark") {
          next();
          result = state.masquerade;
        } else if (w == "--ctstate") {
          result = next() == "NEW";
        } else if (w == "-j") {
          target = next();
          while (i + 1 < words.size()) {
            const std::string& option = words[++i];
            if (option == "--to-destination") toDestination = next();
            else if (option == "--or-mark" || option == "--xor-mark") next();
            else if (option != "--random-fully") throw std::runtime_error("tracer: unknown target option " + option);
          }
        } else {
          throw std::runtime_error("tracer: unknown word " + w + " in " + chain);
        }
        if (result) {
          matches = matches && (negate ? !*result : *result);
          negate = false;
        }
      }
      if (!matches) {
        nextLive.push_back(state);
        continue;
      }
      if (branch) nextLive.push_back(state);  // the alternative where it did not match
      Outcome taken = state;
      taken.affinity = taken.affinity || setsRecent;
      if (target.empty() || target == "MARK" || target == "MASQUERADE") {
        nextLive.push_back(taken);
      } else if (target == prefix_ + "-MARK-MASQ") {
        taken.masquerade = true;
        nextLive.push_back(taken);
      } else if (target == "DNAT") {
        taken.dnat = toDestination;
        taken.final = true;
        results.push_back(taken);
      } else if (target == "DROP" || target == "REJECT" || target == "ACCEPT") {
        taken.verdict = target;
        taken.final = true;
        results.push_back(taken);
      } else if (target == "RETURN") {
        results.push_back(taken);
      } else {
        for (Outcome& o : walk(table, target, packet, taken, depth + 1)) (o.final ? results : nextLive).push_back(o);
      }
    }
    live = std::move(nextLive);
  }
  results.insert(results.end(), live.begin(), live.end());
  return results;
}

void BranchMerger::addStopped(const std::string& verdict) {
  if (!stopVerdict_.empty() && stopVerdict_ != verdict) throw std::runtime_error(who_ + ": mixed verdicts");
  stopVerdict_ = verdict;
}

void BranchMerger::addAccepted(const std::string& dnat, bool masquerade, bool affinity) {
  if (!dnat.empty()) endpoints_.insert(dnat);
  masquerade_.insert(masquerade);
  affinity_ = affinity_ || affinity;
}

TraceResult BranchMerger::finish() const {
  TraceResult result;
  if (!stopVerdict_.empty()) {
    if (!endpoints_.empty()) throw std::runtime_error(who_ + ": some branches dropped, some reached endpoints");
    result.verdict = stopVerdict_;
    return result;
  }
  if (masquerade_.size() > 1) throw std::runtime_error(who_ + ": masquerade differs between branches");
  result.verdict = "ACCEPT";
  result.masquerade = masquerade_.contains(true);
  result.affinity = affinity_;
  for (const std::string& e : endpoints_) result.endpoints += (result.endpoints.empty() ? "" : ", ") + e;
  return result;
}

TraceResult IptablesTracer::trace(const TracePacket& packet) const {
  BranchMerger merged("tracer");
  for (const Outcome& o : walk("nat", prefix_ + "-SERVICES", packet, Outcome{}, 0)) {
    // filter runs after DNAT: the destination it sees is the endpoint when there is one.
    std::vector<std::string> filterChains;
    if (packet.fromNode) {
      filterChains = {prefix_ + "-PROXY-FIREWALL", prefix_ + "-SERVICES"};
    } else {
      filterChains = {prefix_ + "-PROXY-FIREWALL", prefix_ + "-EXTERNAL-SERVICES", prefix_ + "-SERVICES"};
    }
    std::string verdict = o.verdict == "DROP" ? "DROP" : "";
    for (const std::string& chain : filterChains) {
      if (!verdict.empty()) break;
      for (const Outcome& f : walk("filter", chain, packet, o, 0)) {
        if (f.verdict == "DROP" || f.verdict == "REJECT") verdict = f.verdict;
      }
    }
    if (!verdict.empty()) {
      merged.addStopped(verdict);
    } else {
      merged.addAccepted(o.dnat, o.masquerade, o.affinity);
    }
  }
  return merged.finish();
}

}  // namespace nicproxy::testing
