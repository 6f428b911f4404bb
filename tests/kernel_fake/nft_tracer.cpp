#include "tests/kernel_fake/nft_tracer.hpp"

#include <cstdint>
#include <sstream>
#include <stdexcept>

namespace nicproxy::testing {

struct NftModel::Outcome {
  bool masquerade = false;   // the masquerade mark is set
  bool masqueraded = false;  // a `masquerade` statement was reached with the mark set
  bool affinity = false;
  std::string dnat;
  std::string verdict;
  bool final = false;
};

namespace {

std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string w;
  while (in >> w) {
    while (!w.empty() && w.back() == ',' && w != ",") w.pop_back();
    out.push_back(w);
  }
  return out;
}

std::string join(const std::vector<std::string>& w, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to && i < w.size(); ++i) out += (out.empty() ? "" : " ") + w[i];
  return out;
}

// "{ a b c }" starting at w[i] == "{": the items, and i moved past "}".
std::vector<std::string> braced(const std::vector<std::string>& w, size_t& i) {
  if (w.at(i) != "{") throw std::runtime_error("nft model: expected {");
  std::vector<std::string> items;
  for (++i; i < w.size() && w[i] != "}"; ++i) items.push_back(w[i]);
  if (i >= w.size()) throw std::runtime_error("nft model: missing }");
  ++i;
  return items;
}

// The items of the body that starts after `opener` and ends at the line's last '}',
// split at `separator` (nothing when the line has no such body).
std::vector<std::string> blockItems(const std::string& line, const std::string& opener, const std::string& separator) {
  const auto start = line.find(opener);
  if (start == std::string::npos) return {};
  const auto end = line.rfind('}');
  if (end == std::string::npos || end < start + opener.size()) throw std::runtime_error("nft model: unclosed body");
  std::string body = line.substr(start + opener.size(), end - start - opener.size());
  // A map body closes its element list before " ; }": cut there.
  if (opener.find("elements") != std::string::npos) body = body.substr(0, body.rfind('}'));
  std::vector<std::string> items;
  size_t from = 0;
  while (from <= body.size()) {
    const auto at = body.find(separator, from);
    const std::string item = body.substr(from, at == std::string::npos ? std::string::npos : at - from);
    if (item.find_first_not_of(' ') != std::string::npos) items.push_back(item);
    if (at == std::string::npos) break;
    from = at + separator.size();
  }
  return items;
}

bool inCidr(const std::string& text, Ipv4 ip) {
  const auto cidr = text.find('/') == std::string::npos ? parseIpv4Cidr(text + "/32") : parseIpv4Cidr(text);
  if (!cidr) throw std::runtime_error("nft model: bad address " + text);
  return cidr->contains(ip);
}

}  // namespace

void NftModel::apply(const std::string& transaction) {
  NftModel copy = *this;
  std::istringstream in(transaction);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      copy.applyLine(line);
    } catch (const std::runtime_error& e) {
      throw std::runtime_error("line " + std::to_string(number) + ": " + e.what() + ": " + line);
    }
  }
  *this = std::move(copy);
}

void NftModel::applyLine(const std::string& line) {
  const auto w = words(line);
  if (w.size() < 4 || w[2] != "ip" || w[3] != table_) throw std::runtime_error("not for table ip " + table_);
  const std::string& verb = w[0];
  const std::string& kind = w[1];
  if (kind == "table") {
    if (verb == "add") {
      exists_ = true;
    } else if (verb == "delete") {
      if (!exists_) throw std::runtime_error("No such file or directory");
      *this = NftModel(table_);
    } else {
      throw std::runtime_error("unknown table command");
    }
    return;
  }
  if (!exists_) throw std::runtime_error("No such file or directory (table)");
  const std::string& name = w.at(4);
  if (kind == "chain") {
    if (verb == "add") {
      auto& rules = chains_[name];
      // "add chain ip T C { rule ; rule ; }": the rules are appended, as nft does.
      for (const std::string& item : blockItems(line, " { ", ";")) {
        const auto rule = words(item);
        if (rule.at(0) == "type" || rule.at(0) == "policy") continue;  // a base chain's spec
        rules.push_back(join(rule, 0, SIZE_MAX));
      }
    } else if (verb == "flush") {
      if (!chains_.contains(name)) throw std::runtime_error("flush of missing chain " + name);
      chains_[name].clear();
    } else if (verb == "delete") {
      if (!chains_.contains(name)) throw std::runtime_error("delete of missing chain " + name);
      if (!chains_[name].empty()) throw std::runtime_error("Device or resource busy: chain " + name + " not empty");
      chains_.erase(name);
    }
  } else if (kind == "map") {
    if (verb == "add") {
      maps_[name];
      // "add map ip T M { type ... : verdict ; elements = { k : v, k : v } ; }"
      for (const std::string& item : blockItems(line, "elements = { ", ",")) {
        const auto colon = item.find(" : ");
        if (colon == std::string::npos) throw std::runtime_error("element without verdict: " + item);
        addElement(name, join(words(item.substr(0, colon)), 0, SIZE_MAX), join(words(item.substr(colon + 3)), 0, SIZE_MAX));
      }
    } else if (verb == "flush") {
      if (!maps_.contains(name)) throw std::runtime_error("flush of missing map " + name);
      maps_[name].clear();
    }
  } else if (kind == "set") {
    if (verb == "flush") {
      if (!sets_.contains(name)) throw std::runtime_error("flush of missing set " + name);
      sets_[name].clear();
    } else if (verb == "add") {
      // "add set ip T S { type ... ; elements = { a . b, c . d } ; }" adds the elements.
      auto& elements = sets_[name];
      for (const std::string& item : blockItems(line, "elements = { ", ",")) elements.insert(join(words(item), 0, SIZE_MAX));
    } else if (verb == "delete") {
      if (sets_.erase(name) == 0) throw std::runtime_error("delete of missing set " + name);
    }
  } else if (kind == "rule") {
    if (!chains_.contains(name)) throw std::runtime_error("rule for missing chain " + name);
    chains_[name].push_back(join(w, 5, w.size()));
  } else if (kind == "element" && sets_.contains(name)) {
    // "add|delete element ip T S { a . a, b . b }"
    for (const std::string& item : blockItems(line, " { ", ",")) {
      const std::string element = join(words(item), 0, SIZE_MAX);
      if (verb == "add") {
        sets_[name].insert(element);
      } else if (verb == "delete" && sets_[name].erase(element) == 0) {
        throw std::runtime_error("delete of missing element " + element);
      }
    }
  } else if (kind == "element") {
    auto map = maps_.find(name);
    if (map == maps_.end()) throw std::runtime_error("missing map " + name);
    size_t i = 5;
    const auto items = braced(w, i);
    std::string key, value;
    bool inValue = false;
    for (const std::string& item : items) {
      if (item == ":") {
        inValue = true;
      } else {
        std::string& target = inValue ? value : key;
        target += (target.empty() ? "" : " ") + item;
      }
    }
    if (verb == "add") {
      addElement(name, key, value);
    } else if (verb == "delete") {
      if (map->second.erase(key) == 0) throw std::runtime_error("delete of missing element " + key);
    }
  } else {
    throw std::runtime_error("unknown object " + kind);
  }
}

void NftModel::addElement(const std::string& mapName, const std::string& key, const std::string& value) {
  auto map = maps_.find(mapName);
  if (map == maps_.end()) throw std::runtime_error("missing map " + mapName);
  if (value.rfind("goto ", 0) == 0 && !chains_.contains(value.substr(5))) {
    throw std::runtime_error("element refers to missing chain " + value.substr(5));
  }
  const auto old = map->second.find(key);
  if (old != map->second.end() && old->second != value) throw std::runtime_error("File exists: " + key);
  map->second[key] = value;
}

std::vector<NftModel::Outcome> NftModel::walk(const std::string& chain, const TracePacket& packet,
                                              const std::set<Ipv4>& local, const Outcome& start, int depth) const {
  if (depth > 16) throw std::runtime_error("nft model: jump loop at " + chain);
  const auto chainIt = chains_.find(chain);
  if (chainIt == chains_.end()) throw std::runtime_error("nft model: jump to missing chain " + chain);
  std::vector<Outcome> results;
  std::vector<Outcome> live{start};
  for (const std::string& rule : chainIt->second) {
    const auto w = words(rule);
    std::vector<Outcome> nextLive;
    for (const Outcome& state : live) {
      const Ipv4 dst = state.dnat.empty() ? packet.destination : parseIpv4(state.dnat.substr(0, state.dnat.find(':'))).value();
      bool matches = true, branch = false;
      std::vector<std::string> verdicts;  // what the rule does when it matches; several: numgen
      std::vector<std::string> dnats;     // "address:port" per branch; several: numgen
      bool setsMark = false, setsAffinity = false, reachesMasquerade = false;
      size_t i = 0;
      while (i < w.size() && matches) {
        const std::string& t = w[i];
        if (t == "ip" && w.at(i + 1) == "saddr" && w.at(i + 2) == "." && w.at(i + 3) == "ip") {
          // ip saddr . ip daddr @set (the hairpin pairs)
          if (w.at(i + 4) != "daddr") throw std::runtime_error("nft model: unknown concatenation in rule: " + rule);
          const auto set = sets_.find(w.at(i + 5).substr(1));
          if (set == sets_.end()) throw std::runtime_error("nft model: missing set " + w.at(i + 5));
          matches = set->second.contains(formatIpv4(packet.source) + " . " + formatIpv4(dst));
          i += 6;
        } else if (t == "ip" && (w.at(i + 1) == "daddr" || w.at(i + 1) == "saddr") && w.at(i + 2) == ".") {
          // ip daddr . meta l4proto . th dport vmap @map
          const std::string key = formatIpv4(dst) + " . " + packet.protocol + " . " + std::to_string(packet.port);
          const auto& map = maps_.at(w.at(i + 9).substr(1));
          const auto hit = map.find(key);
          if (hit == map.end()) matches = false; else verdicts = {hit->second};
          i += 10;
        } else if (t == "ip" && (w.at(i + 1) == "daddr" || w.at(i + 1) == "saddr")) {
          const Ipv4 value = w[i + 1] == "daddr" ? dst : packet.source;
          i += 2;
          bool negate = false;
          if (w.at(i) == "!=") {
            negate = true;
            ++i;
          }
          bool result = false;
          if (w.at(i) == "{") {
            for (const std::string& item : braced(w, i)) result = result || inCidr(item, value);
          } else if (w[i][0] == '@') {
            if (!sets_.contains(w[i].substr(1))) throw std::runtime_error("nft model: missing set " + w[i]);
            branch = true;  // the client may or may not be in the affinity set
            result = true;
            ++i;
          } else {
            result = inCidr(w[i], value);
            ++i;
          }
          matches = negate ? !result : result;
        } else if (t == "meta" && w.at(i + 1) == "l4proto" && w.at(i + 2) == ".") {
          const auto& map = maps_.at(w.at(i + 6).substr(1));
          const auto hit = map.find(packet.protocol + " . " + std::to_string(packet.port));
          if (hit == map.end()) matches = false; else verdicts = {hit->second};
          i += 7;
        } else if (t == "meta" && w.at(i + 1) == "l4proto") {
          matches = w.at(i + 2) == packet.protocol;
          i += 3;
        } else if (t == "meta" && w.at(i + 1) == "mark" && w.at(i + 2) == "&") {
          // meta mark & M == 0 return
          matches = !state.masquerade;
          verdicts = {w.at(i + 6)};
          i += 7;
        } else if (t == "meta" && w.at(i + 1) == "mark" && w.at(i + 2) == "set") {
          setsMark = w.at(i + 5) == "or";
          i += 7;
        } else if (t == "fib") {
          const bool isLocal = w.at(i + 1) == "daddr" ? local.contains(dst) : packet.fromNode || local.contains(packet.source);
          matches = isLocal;
          i += 4;
        } else if (t == "tcp" || t == "udp" || t == "sctp") {
          matches = packet.protocol == t && std::stoi(w.at(i + 2)) == packet.port;
          i += 3;
        } else if (t == "ct" && w.at(i + 1) == "status" && w.at(i + 2) == "dnat") {
          matches = !state.dnat.empty();
          i += 3;
        } else if (t == "ct" && w.at(i + 1) == "state" && w.at(i + 2) == "new") {
          i += 3;  // the tracer follows new connections
        } else if (t == "numgen") {
          // numgen random mod N vmap { 0 : goto A , 1 : goto B }
          i += 5;
          const auto items = braced(w, i);
          for (size_t k = 0; k + 3 < items.size() + 1; k += 5) verdicts.push_back(items.at(k + 2) + " " + items.at(k + 3));
        } else if (t == "update") {
          setsAffinity = true;
          i += 2;
          braced(w, i);
        } else if (t == "masquerade") {
          reachesMasquerade = true;
          i = w.size();
        } else if (t == "dnat" && w.at(i + 2) == "numgen") {
          // dnat to numgen random mod N map { 0 : a . p, 1 : b . q }: one branch per
          // endpoint; the keys must be exactly 0..N-1, or some packets would go nowhere.
          const size_t n = std::stoul(w.at(i + 5));
          i += 7;
          const auto items = braced(w, i);  // "k" ":" "address" "." "port", repeated
          if (items.size() != n * 5) throw std::runtime_error("nft model: numgen map size differs from mod in: " + rule);
          for (size_t k = 0; k < n; ++k) {
            if (items[k * 5] != std::to_string(k) || items[k * 5 + 1] != ":" || items[k * 5 + 3] != ".") {
              throw std::runtime_error("nft model: numgen map keys are not 0..N-1 in: " + rule);
            }
            dnats.push_back(items[k * 5 + 2] + ":" + items[k * 5 + 4]);
          }
        } else if (t == "dnat") {
          dnats = {w.at(i + 2)};
          i += 3;
        } else if (t == "jump" || t == "goto") {
          verdicts = {t + " " + w.at(i + 1)};
          i += 2;
        } else if (t == "drop" || t == "reject" || t == "return" || t == "accept") {
          verdicts = {t};
          ++i;
        } else {
          throw std::runtime_error("nft model: unknown word " + t + " in rule: " + rule);
        }
      }
      if (!matches) {
        nextLive.push_back(state);
        continue;
      }
      if (branch) nextLive.push_back(state);
      Outcome taken = state;
      taken.masquerade = taken.masquerade || setsMark;
      if (reachesMasquerade && taken.masquerade) {
        taken.masqueraded = true;
        taken.final = true;  // masquerade is a terminal statement
        results.push_back(taken);
        continue;
      }
      taken.affinity = taken.affinity || setsAffinity;
      if (!dnats.empty()) {
        for (const std::string& dnat : dnats) {
          Outcome o = taken;
          o.dnat = dnat;
          o.final = true;
          results.push_back(o);
        }
        continue;
      }
      if (verdicts.empty()) {
        nextLive.push_back(taken);
        continue;
      }
      for (const std::string& v : verdicts) {
        if (v == "drop" || v == "reject" || v == "accept") {
          Outcome o = taken;
          o.verdict = v == "drop" ? "DROP" : v == "reject" ? "REJECT" : "ACCEPT";
          o.final = true;
          results.push_back(o);
        } else if (v == "return") {
          results.push_back(taken);
        } else {
          const bool isGoto = v.rfind("goto ", 0) == 0;
          for (Outcome& o : walk(v.substr(5), packet, local, taken, depth + 1)) {
            // After a goto, what falls off the end returns to this chain's caller.
            (o.final || isGoto ? results : nextLive).push_back(o);
          }
        }
      }
    }
    live = std::move(nextLive);
  }
  results.insert(results.end(), live.begin(), live.end());
  return results;
}

TraceResult NftModel::trace(const TracePacket& packet, const std::set<Ipv4>& localAddresses) const {
  BranchMerger merged("nft model");
  for (const Outcome& o : walk("services", packet, localAddresses, Outcome{}, 0)) {
    std::string verdict = o.verdict;
    if (verdict.empty()) {
      for (const Outcome& f : walk("service-endpoints-check", packet, localAddresses, o, 0)) {
        if (f.verdict == "DROP" || f.verdict == "REJECT") verdict = f.verdict;
      }
    }
    if (verdict == "DROP" || verdict == "REJECT") {
      merged.addStopped(verdict);
      continue;
    }
    // Postrouting: the masquerading chain sees the DNATed packet with the mark
    // prerouting set; it masquerades when it reaches `masquerade` with the mark set
    // (the hairpin pairs may set it there too).
    bool masquerade = false;
    Outcome after = o;
    after.final = false;
    for (const Outcome& p : walk("masquerading", packet, localAddresses, after, 0)) {
      masquerade = masquerade || p.masqueraded;
    }
    merged.addAccepted(o.dnat, masquerade, o.affinity);
  }
  return merged.finish();
}

}  // namespace nicproxy::testing
