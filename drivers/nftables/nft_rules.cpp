#include "drivers/nftables/nft_rules.hpp"

#include <algorithm>
#include <set>

#include <spdlog/fmt/fmt.h>

#include "control/endpoints.hpp"
#include "drivers/names.hpp"

namespace nicproxy {
namespace {

std::string endpointText(const Endpoint& e) { return fmt::format("{}:{}", formatIpv4(e.address), e.port); }

std::string hex(uint32_t value) { return fmt::format("{:#x}", value); }

struct Writer {
  const NftRulesOptions& options;
  std::string& out;
  std::vector<std::pair<std::string, std::string>>* rules = nullptr;  // also collects (chain, rule)
  void rule(const std::string& chain, const std::string& text) const {
    out += fmt::format("add rule ip {} {} {}\n", options.table, chain, text);
    if (rules != nullptr) rules->emplace_back(chain, text);
  }
};

}  // namespace

std::string nftServiceBase(const ServicePortName& name) {
  const char* proto = protocolLower(name.protocol);
  return fmt::format("{}-{}/{}/{}/{}", sha256Base32(name.toString() + proto).substr(0, 8), name.namespaceName,
                     name.serviceName, proto, name.portName);
}

std::string nftEndpointBase(const ServicePortName& name, const std::string& endpoint) {
  const char* proto = protocolLower(name.protocol);
  std::string address = endpoint;
  std::replace(address.begin(), address.end(), ':', '/');
  return fmt::format("{}-{}/{}/{}/{}__{}", sha256Base32(name.toString() + proto + endpoint).substr(0, 8),
                     name.namespaceName, name.serviceName, proto, name.portName, address);
}

NftServiceRules renderNftService(const ServicePortPtr& portPtr, const NftRulesOptions& options) {
  const ServicePort& port = *portPtr;
  NftServiceRules r;
  r.port = portPtr;
  const char* proto = protocolLower(port.name.protocol);
  const std::string base = nftServiceBase(port.name);
  const std::string clusterChain = "service-" + base;
  const std::string localChain = "local-" + base;
  const std::string externalChain = "external-" + base;
  const std::string firewallChain = "firewall-" + base;

  const CategorizedEndpoints eps = categorizeEndpoints(port);
  const bool hasEndpoints = eps.hasAnyEndpoints;
  const bool usesCluster = !eps.cluster.empty() && usesClusterEndpoints(port);
  const bool usesLocal = !eps.local.empty() && usesLocalEndpoints(port);
  const bool internalLocal = port.internalTrafficPolicy == TrafficPolicy::Local;
  const bool externalLocal = port.externalTrafficPolicy == TrafficPolicy::Local;
  const std::string internalChain = internalLocal ? localChain : clusterChain;
  const bool hasInternal = internalLocal ? !eps.local.empty() : hasEndpoints;
  const bool hasExternal = externalLocal ? !eps.local.empty() : hasEndpoints;
  const std::string externalPolicyChain = externalLocal ? localChain : clusterChain;
  const bool usesExternal = hasEndpoints && externallyAccessible(port);
  const bool usesFirewall = hasEndpoints && !port.loadBalancerIPs.empty() && !port.loadBalancerSourceRanges.empty();
  const std::string internalMiss = hasEndpoints ? "drop" : "goto reject-chain";
  const std::string externalMiss = hasEndpoints ? "drop" : "goto reject-chain";

  const auto key = [&](Ipv4 ip, uint16_t p) { return fmt::format("{} . {} . {}", formatIpv4(ip), proto, p); };
  for (Ipv4 ip : port.clusterIPs) {
    if (hasInternal) {
      r.elements.push_back({"service-ips", key(ip, port.port), "goto " + internalChain});
    } else {
      r.elements.push_back({"no-endpoint-services", key(ip, port.port), internalMiss});
    }
  }
  for (Ipv4 ip : port.externalIPs) {
    if (hasEndpoints) r.elements.push_back({"service-ips", key(ip, port.port), "goto " + externalChain});
    if (!hasExternal) r.elements.push_back({"no-endpoint-services", key(ip, port.port), externalMiss});
  }
  for (Ipv4 ip : port.loadBalancerIPs) {
    if (hasEndpoints) {
      r.elements.push_back({"service-ips", key(ip, port.port), "goto " + (usesFirewall ? firewallChain : externalChain)});
    }
    if (!hasExternal) r.elements.push_back({"no-endpoint-services", key(ip, port.port), externalMiss});
  }
  if (port.nodePort != 0) {
    const std::string npKey = fmt::format("{} . {}", proto, port.nodePort);
    if (hasEndpoints) r.elements.push_back({"service-nodeports", npKey, "goto " + externalChain});
    if (!hasExternal) r.elements.push_back({"no-endpoint-nodeports", npKey, externalMiss});
  }

  std::string& out = r.rules;
  const Writer w{options, out, &r.chainRules};
  const std::string cidr = options.clusterCIDR ? formatIpv4Cidr(*options.clusterCIDR) : std::string();
  const bool affinity = port.sessionAffinity == SessionAffinity::ClientIP;
  const auto policyChain = [&](const std::string& chain, const std::vector<Endpoint>& endpoints) {
    r.chains.push_back(chain);
    if (chain == internalChain) {
      for (Ipv4 ip : port.clusterIPs) {
        const std::string match = fmt::format("ip daddr {} {} dport {}", formatIpv4(ip), proto, port.port);
        if (options.masqueradeAll) {
          w.rule(chain, match + " jump mark-for-masquerade");
        } else if (options.clusterCIDR) {
          w.rule(chain, fmt::format("{} ip saddr != {} jump mark-for-masquerade", match, cidr));
        }
      }
    }
    if (!affinity) {
      // The endpoint is chosen and DNATed in this one rule: an endpoint change rewrites
      // this chain only, and the table keeps one chain per service rather than one per
      // endpoint (see the header).
      std::string map;
      for (size_t i = 0; i < endpoints.size(); ++i) {
        map += fmt::format("{}{} : {} . {}", i == 0 ? "" : ", ", i, formatIpv4(endpoints[i].address),
                           endpoints[i].port);
      }
      w.rule(chain, fmt::format("meta l4proto {} dnat to numgen random mod {} map {{ {} }}", proto, endpoints.size(), map));
      return;
    }
    for (const Endpoint& e : endpoints) {
      const std::string epBase = nftEndpointBase(port.name, endpointText(e));
      w.rule(chain, fmt::format("ip saddr @affinity-{} goto endpoint-{}", epBase, epBase));
    }
    std::string vmap;
    for (size_t i = 0; i < endpoints.size(); ++i) {
      vmap += fmt::format("{}{} : goto endpoint-{}", i == 0 ? "" : " , ", i,
                          nftEndpointBase(port.name, endpointText(endpoints[i])));
    }
    w.rule(chain, fmt::format("numgen random mod {} vmap {{ {} }}", endpoints.size(), vmap));
  };
  if (usesExternal) {
    r.chains.push_back(externalChain);
    if (!externalLocal) {
      w.rule(externalChain, "jump mark-for-masquerade");
    } else {
      if (options.clusterCIDR) w.rule(externalChain, fmt::format("ip saddr {} goto {}", cidr, clusterChain));
      w.rule(externalChain, "fib saddr type local jump mark-for-masquerade");
      w.rule(externalChain, "fib saddr type local goto " + clusterChain);
    }
    if (hasExternal) w.rule(externalChain, "goto " + externalPolicyChain);
  }
  if (usesFirewall) {
    r.chains.push_back(firewallChain);
    std::string ranges;
    for (const Ipv4Cidr& range : port.loadBalancerSourceRanges) {
      ranges += (ranges.empty() ? "" : ", ") + formatIpv4Cidr(range);
    }
    w.rule(firewallChain, fmt::format("ip saddr {{ {} }} goto {}", ranges, externalChain));
    w.rule(firewallChain, "drop");
  }
  if (usesCluster) policyChain(clusterChain, eps.cluster);
  if (usesLocal) policyChain(localChain, eps.local);
  std::set<Ipv4> hairpinAddresses;
  for (const Endpoint& e : eps.allReachable) {
    if (hairpinAddresses.insert(e.address).second) {
      r.hairpin.push_back(fmt::format("{} . {}", formatIpv4(e.address), formatIpv4(e.address)));
    }
    if (!affinity) continue;
    // Affinity needs a chain per endpoint: it records the client in the endpoint's
    // timed set on the way to the DNAT, which a map lookup cannot do.
    const std::string epBase = nftEndpointBase(port.name, endpointText(e));
    const std::string chain = "endpoint-" + epBase;
    r.chains.push_back(chain);
    r.sets.push_back("affinity-" + epBase);
    r.setDefinitions += fmt::format("add set ip {} affinity-{} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {}s ; }}\n",
                                    options.table, epBase, port.stickyMaxAgeSeconds);
    w.rule(chain, fmt::format("update @affinity-{} {{ ip saddr }}", epBase));
    w.rule(chain, fmt::format("meta l4proto {} dnat to {}", proto, endpointText(e)));
  }
  return r;
}

const char* nftMapKeyType(const std::string& map) {
  if (map == "service-nodeports" || map == "no-endpoint-nodeports") return "inet_proto . inet_service";
  return "ipv4_addr . inet_proto . inet_service";
}

std::string nftBaseLayout(const NftRulesOptions& o) {
  std::string out;
  const Writer w{o, out};
  const std::string t = "ip " + o.table;
  // Never `delete table`: that would take the affinity sets' dynamic elements with it
  // (every ClientIP client would lose its endpoint at each restart and full sync).
  // Each object is added (a no-op when it exists) and emptied, then refilled below, all
  // in this one transaction, as kube-proxy's nftables mode does.
  out += fmt::format("add table {}\n", t);
  const auto chain = [&](const std::string& name, const std::string& spec) {
    out += fmt::format("add chain {} {}{}\nflush chain {} {}\n", t, name, spec.empty() ? "" : " { " + spec + " ; }", t,
                       name);
  };
  for (const char* name : kNftBaseMaps) {
    out += fmt::format("add map {} {} {{ type {} : verdict ; }}\nflush map {} {}\n", t, name, nftMapKeyType(name), t,
                       name);
  }
  out += fmt::format("add set {} {} {{ type {} ; }}\nflush set {} {}\n", t, kNftHairpinSet, kNftHairpinType, t,
                     kNftHairpinSet);
  for (const auto& [name, spec] : kNftBaseChains) chain(name, spec);
  w.rule("nat-prerouting", "jump services");
  w.rule("nat-output", "jump services");
  w.rule("nat-postrouting", "jump masquerading");
  for (const char* hook : {"filter-input", "filter-forward", "filter-output"}) {
    w.rule(hook, "ct state new jump service-endpoints-check");
  }
  const std::string mark = hex(o.masqueradeMark);
  w.rule("mark-for-masquerade", "meta mark set meta mark or " + mark);
  // Hairpin (an endpoint that reached itself through a service): after the DNAT,
  // source and destination are the same endpoint address.
  w.rule("masquerading", fmt::format("ct status dnat ip saddr . ip daddr @{} jump mark-for-masquerade", kNftHairpinSet));
  w.rule("masquerading", fmt::format("meta mark & {} == 0 return", mark));
  w.rule("masquerading", "meta mark set meta mark xor " + mark);
  w.rule("masquerading", "masquerade fully-random");
  w.rule("reject-chain", "reject");
  std::string nodeDest = "fib daddr type local ip daddr != 127.0.0.0/8";
  if (o.nodePortIPs) {
    std::string ips;
    for (Ipv4 ip : *o.nodePortIPs) ips += (ips.empty() ? "" : ", ") + formatIpv4(ip);
    nodeDest = ips.empty() ? std::string() : "ip daddr { " + ips + " }";
  }
  w.rule("services", "ip daddr . meta l4proto . th dport vmap @service-ips");
  w.rule("service-endpoints-check", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services");
  if (!nodeDest.empty()) {
    w.rule("services", nodeDest + " meta l4proto . th dport vmap @service-nodeports");
    w.rule("service-endpoints-check", nodeDest + " meta l4proto . th dport vmap @no-endpoint-nodeports");
  }
  return out;
}

void appendNftServiceAdd(std::string& out, const NftServiceRules& r, const NftRulesOptions& o) {
  // The chain may hold the rules of an earlier run: emptied and rewritten. The affinity
  // sets are only added (a no-op for an existing set, whose timeout it updates): their
  // elements are the clients' affinities.
  for (const std::string& chain : r.chains) {
    out += fmt::format("add chain ip {} {}\nflush chain ip {} {}\n", o.table, chain, o.table, chain);
  }
  out += r.setDefinitions;
  out += r.rules;
  for (const NftElement& e : r.elements) {
    out += fmt::format("add element ip {} {} {{ {} : {} }}\n", o.table, e.map, e.key, e.verdict);
  }
}

}  // namespace nicproxy
