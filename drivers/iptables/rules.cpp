#include "drivers/iptables/rules.hpp"

#include <spdlog/fmt/fmt.h>

#include "control/endpoints.hpp"
#include "drivers/names.hpp"

namespace nicproxy {
namespace {

std::string endpointText(const Endpoint& endpoint) { return fmt::format("{}:{}", formatIpv4(endpoint.address), endpoint.port); }

void line(std::string& out, const std::string& text) {
  out += text;
  out += '\n';
}

// kube-proxy's writeServiceToEndpointRules: affinity checks first, then one rule per
// endpoint, each but the last with probability 1/(n-i).
// kube-proxy's appendServiceCommentLocked: no comment in large-cluster mode.
std::string serviceComment(bool largeClusterMode, const std::string& text) {
  return largeClusterMode ? std::string() : " -m comment --comment " + text;
}

void writeServiceToEndpoints(std::string& out, const ServicePort& port, const std::string& chain,
                             const std::vector<Endpoint>& endpoints, const IptablesChains& chains, bool large) {
  const std::string name = port.name.toString();
  const auto comment = [&](const Endpoint& e) {
    return serviceComment(large, fmt::format("\"{} -> {}\"", name, endpointText(e)));
  };
  if (port.sessionAffinity == SessionAffinity::ClientIP) {
    for (const Endpoint& endpoint : endpoints) {
      const std::string sep = chains.sep + portProtoEndpointHash(port.name, endpointText(endpoint));
      line(out, fmt::format("-A {}{} -m recent --name {} --rcheck --seconds {} --reap -j {}", chain, comment(endpoint),
                            sep, port.stickyMaxAgeSeconds, sep));
    }
  }
  const size_t n = endpoints.size();
  for (size_t i = 0; i < n; ++i) {
    const std::string sep = chains.sep + portProtoEndpointHash(port.name, endpointText(endpoints[i]));
    std::string rule = fmt::format("-A {}{}", chain, comment(endpoints[i]));
    if (i + 1 < n) rule += " -m statistic --mode random --probability " + iptablesProbability(n - i);
    line(out, rule + " -j " + sep);
  }
}

}  // namespace

IptablesChains::IptablesChains(const std::string& prefix)
    : services(prefix + "-SERVICES"),
      externalServices(prefix + "-EXTERNAL-SERVICES"),
      nodePorts(prefix + "-NODEPORTS"),
      postrouting(prefix + "-POSTROUTING"),
      markMasq(prefix + "-MARK-MASQ"),
      forward(prefix + "-FORWARD"),
      firewall(prefix + "-PROXY-FIREWALL"),
      svc(prefix + "-SVC-"),
      svl(prefix + "-SVL-"),
      ext(prefix + "-EXT-"),
      fw(prefix + "-FW-"),
      sep(prefix + "-SEP-") {}

std::string iptablesProbability(size_t n) { return fmt::format("{:0.10f}", 1.0 / static_cast<double>(n)); }

std::string iptablesMark(uint32_t mark) { return fmt::format("{:#08x}", mark); }

IptablesServiceRules renderIptablesService(const ServicePortPtr& portPtr, const IptablesRulesOptions& options) {
  const ServicePort& port = *portPtr;
  const IptablesChains chains(options.prefix);
  IptablesServiceRules r;
  r.port = portPtr;
  const std::string name = port.name.toString();
  const char* proto = protocolLower(port.name.protocol);
  const std::string hash = portProtoHash(port.name);
  const std::string clusterPolicyChain = chains.svc + hash;
  const std::string localPolicyChain = chains.svl + hash;
  const std::string externalChain = chains.ext + hash;
  const std::string fwChain = chains.fw + hash;

  const CategorizedEndpoints eps = categorizeEndpoints(port);
  const bool usesClusterPolicyChain = !eps.cluster.empty() && usesClusterEndpoints(port);
  const bool usesLocalPolicyChain = !eps.local.empty() && usesLocalEndpoints(port);
  const bool hasEndpoints = eps.hasAnyEndpoints;

  std::string internalChain = clusterPolicyChain;
  bool hasInternalEndpoints = hasEndpoints;
  if (port.internalTrafficPolicy == TrafficPolicy::Local) {
    internalChain = localPolicyChain;
    hasInternalEndpoints = !eps.local.empty();
  }
  std::string externalPolicyChain = clusterPolicyChain;
  bool hasExternalEndpoints = hasEndpoints;
  if (port.externalTrafficPolicy == TrafficPolicy::Local) {
    externalPolicyChain = localPolicyChain;
    hasExternalEndpoints = !eps.local.empty();
  }
  const bool usesExternalChain = hasEndpoints && externallyAccessible(port);
  const bool usesFwChain = hasEndpoints && !port.loadBalancerIPs.empty() && !port.loadBalancerSourceRanges.empty();
  const std::string lbChain = usesFwChain ? fwChain : externalChain;

  std::string internalTarget, internalComment, externalTarget, externalComment;
  if (!hasEndpoints) {
    internalTarget = externalTarget = "REJECT";
    internalComment = externalComment = fmt::format("\"{} has no endpoints\"", name);
  } else {
    if (!hasInternalEndpoints) {
      internalTarget = "DROP";
      internalComment = fmt::format("\"{} has no local endpoints\"", name);
    }
    if (!hasExternalEndpoints) {
      externalTarget = "DROP";
      externalComment = fmt::format("\"{} has no local endpoints\"", name);
    }
  }
  const auto dest = [&](Ipv4 ip, uint16_t p) { return fmt::format("-m {} -p {} -d {} --dport {}", proto, proto, formatIpv4(ip), p); };

  for (Ipv4 clusterIP : port.clusterIPs) {
    if (hasInternalEndpoints) {
      line(r.natServices, fmt::format("-A {} -m comment --comment \"{} cluster IP\" {} -j {}", chains.services, name,
                                      dest(clusterIP, port.port), internalChain));
    } else {
      line(r.filterServices, fmt::format("-A {} -m comment --comment {} {} -j {}", chains.services, internalComment,
                                         dest(clusterIP, port.port), internalTarget));
    }
  }
  for (Ipv4 externalIP : port.externalIPs) {
    if (hasEndpoints) {
      line(r.natServices, fmt::format("-A {} -m comment --comment \"{} external IP\" {} -j {}", chains.services, name,
                                      dest(externalIP, port.port), externalChain));
    }
    if (!hasExternalEndpoints) {
      line(r.filterExternal, fmt::format("-A {} -m comment --comment {} {} -j {}", chains.externalServices,
                                         externalComment, dest(externalIP, port.port), externalTarget));
    }
  }
  for (Ipv4 lbIP : port.loadBalancerIPs) {
    if (hasEndpoints) {
      line(r.natServices, fmt::format("-A {} -m comment --comment \"{} loadbalancer IP\" {} -j {}", chains.services,
                                      name, dest(lbIP, port.port), lbChain));
    }
    if (usesFwChain) {
      line(r.filterFirewall, fmt::format("-A {} -m comment --comment \"{} traffic not accepted by {}\" {} -j DROP",
                                         chains.firewall, name, fwChain, dest(lbIP, port.port)));
    }
  }
  if (!hasExternalEndpoints) {
    for (Ipv4 lbIP : port.loadBalancerIPs) {
      line(r.filterExternal, fmt::format("-A {} -m comment --comment {} {} -j {}", chains.externalServices,
                                         externalComment, dest(lbIP, port.port), externalTarget));
    }
  }
  if (port.nodePort != 0) {
    if (hasEndpoints) {
      line(r.natNodePorts, fmt::format("-A {} -m comment --comment {} -m {} -p {} --dport {} -j {}", chains.nodePorts,
                                       name, proto, proto, port.nodePort, externalChain));
    }
    if (!hasExternalEndpoints) {
      line(r.filterExternal,
           fmt::format("-A {} -m comment --comment {} -m addrtype --dst-type LOCAL -m {} -p {} --dport {} -j {}",
                       chains.externalServices, externalComment, proto, proto, port.nodePort, externalTarget));
    }
  }

  // The port's own chains.
  std::string& own = r.ownRules;
  if (hasInternalEndpoints) {
    for (Ipv4 clusterIP : port.clusterIPs) {
      const std::string args =
          fmt::format("-A {} -m comment --comment \"{} cluster IP\" {}", internalChain, name, dest(clusterIP, port.port));
      if (options.masqueradeAll) {
        line(own, args + " -j " + chains.markMasq);
      } else if (options.clusterCIDR) {
        line(own, fmt::format("{} ! -s {} -j {}", args, formatIpv4Cidr(*options.clusterCIDR), chains.markMasq));
      }
    }
  }
  if (usesExternalChain) {
    r.ownChains.push_back(externalChain);
    if (port.externalTrafficPolicy != TrafficPolicy::Local) {
      line(own, fmt::format("-A {} -m comment --comment \"masquerade traffic for {} external destinations\" -j {}",
                            externalChain, name, chains.markMasq));
    } else {
      if (options.clusterCIDR) {
        line(own, fmt::format("-A {} -m comment --comment \"pod traffic for {} external destinations\" -s {} -j {}",
                              externalChain, name, formatIpv4Cidr(*options.clusterCIDR), clusterPolicyChain));
      }
      line(own, fmt::format("-A {} -m comment --comment \"masquerade LOCAL traffic for {} external destinations\" "
                            "-m addrtype --src-type LOCAL -j {}",
                            externalChain, name, chains.markMasq));
      line(own, fmt::format("-A {} -m comment --comment \"route LOCAL traffic for {} external destinations\" "
                            "-m addrtype --src-type LOCAL -j {}",
                            externalChain, name, clusterPolicyChain));
    }
    if (hasExternalEndpoints) line(own, fmt::format("-A {} -j {}", externalChain, externalPolicyChain));
  }
  if (usesFwChain) {
    r.ownChains.push_back(fwChain);
    for (const Ipv4Cidr& range : port.loadBalancerSourceRanges) {
      line(own, fmt::format("-A {} -m comment --comment \"{} loadbalancer IP\" -s {} -j {}", fwChain, name,
                            formatIpv4Cidr(range), externalChain));
    }
    line(own, fmt::format("-A {} -m comment --comment \"other traffic to {} will be dropped by {}\"", fwChain, name,
                          chains.firewall));
  }
  if (usesClusterPolicyChain) {
    r.ownChains.push_back(clusterPolicyChain);
    writeServiceToEndpoints(own, port, clusterPolicyChain, eps.cluster, chains, options.largeClusterMode);
  }
  if (usesLocalPolicyChain) {
    r.ownChains.push_back(localPolicyChain);
    writeServiceToEndpoints(own, port, localPolicyChain, eps.local, chains, options.largeClusterMode);
  }
  for (const Endpoint& endpoint : eps.allReachable) {
    const std::string sep = chains.sep + portProtoEndpointHash(port.name, endpointText(endpoint));
    r.ownChains.push_back(sep);
    const std::string comment = serviceComment(options.largeClusterMode, name);
    line(own, fmt::format("-A {}{} -s {} -j {}", sep, comment, formatIpv4(endpoint.address), chains.markMasq));
    std::string dnat = fmt::format("-A {}{}", sep, comment);
    if (port.sessionAffinity == SessionAffinity::ClientIP) dnat += fmt::format(" -m recent --name {} --set", sep);
    line(own, fmt::format("{} -m {} -p {} -j DNAT --to-destination {}", dnat, proto, proto, endpointText(endpoint)));
  }
  // The chains that reference each other must all exist before the rules: the lines
  // ":CHAIN - [0:0]" come first in the restore input (the order does not matter).
  return r;
}

std::string assembleIptablesRestore(const std::vector<const IptablesServiceRules*>& services,
                                    const std::vector<bool>& writeOwn, const std::vector<std::string>& staleChains,
                                    const IptablesRulesOptions& options) {
  const IptablesChains chains(options.prefix);
  const std::string mark = iptablesMark(options.masqueradeMark);
  std::string out;
  out.reserve(services.size() * 512);
  // filter: the fixed chains are rewritten whole on every sync, as kube-proxy does.
  line(out, "*filter");
  for (const std::string* chain :
       {&chains.nodePorts, &chains.services, &chains.externalServices, &chains.forward, &chains.firewall}) {
    line(out, ":" + *chain + " - [0:0]");
  }
  for (const auto* s : services) out += s->filterServices;
  for (const auto* s : services) out += s->filterExternal;
  for (const auto* s : services) out += s->filterFirewall;
  line(out, fmt::format("-A {} -m conntrack --ctstate INVALID -j DROP", chains.forward));
  line(out, fmt::format("-A {} -m comment --comment \"kubernetes forwarding rules\" -m mark --mark {}/{} -j ACCEPT",
                        chains.forward, mark, mark));
  line(out, fmt::format("-A {} -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate "
                        "RELATED,ESTABLISHED -j ACCEPT",
                        chains.forward));
  line(out, "COMMIT");

  line(out, "*nat");
  for (const std::string* chain : {&chains.services, &chains.nodePorts, &chains.postrouting, &chains.markMasq}) {
    line(out, ":" + *chain + " - [0:0]");
  }
  for (size_t i = 0; i < services.size(); ++i) {
    if (!writeOwn[i]) continue;
    for (const std::string& chain : services[i]->ownChains) line(out, ":" + chain + " - [0:0]");
  }
  // A chain line flushes the chain, which must be empty before -X deletes it.
  for (const std::string& chain : staleChains) line(out, ":" + chain + " - [0:0]");
  line(out, fmt::format("-A {} -m mark ! --mark {}/{} -j RETURN", chains.postrouting, mark, mark));
  line(out, fmt::format("-A {} -j MARK --xor-mark {}", chains.postrouting, mark));
  line(out, fmt::format("-A {} -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE "
                        "--random-fully",
                        chains.postrouting));
  line(out, fmt::format("-A {} -j MARK --or-mark {}", chains.markMasq, mark));
  for (const auto* s : services) out += s->natServices;
  for (const auto* s : services) out += s->natNodePorts;
  for (size_t i = 0; i < services.size(); ++i) {
    if (writeOwn[i]) out += services[i]->ownRules;
  }
  for (const std::string& chain : staleChains) line(out, "-X " + chain);
  // The tail call to the NodePorts chain must stay the last rule of KUBE-SERVICES.
  if (!options.nodePortIPs) {
    line(out, fmt::format("-A {} -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule "
                          "in this chain\" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j {}",
                          chains.services, chains.nodePorts));
  } else {
    for (Ipv4 ip : *options.nodePortIPs) {
      line(out, fmt::format("-A {} -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last "
                            "rule in this chain\" -d {} -j {}",
                            chains.services, formatIpv4(ip), chains.nodePorts));
    }
  }
  line(out, "COMMIT");
  return out;
}

std::string assembleIptablesOwnChainsRestore(const std::vector<const IptablesServiceRules*>& services,
                                             const std::vector<bool>& writeOwn,
                                             const std::vector<std::string>& staleChains) {
  std::string out;
  line(out, "*nat");
  for (size_t i = 0; i < services.size(); ++i) {
    if (!writeOwn[i]) continue;
    for (const std::string& chain : services[i]->ownChains) line(out, ":" + chain + " - [0:0]");
  }
  for (const std::string& chain : staleChains) line(out, ":" + chain + " - [0:0]");
  for (size_t i = 0; i < services.size(); ++i) {
    if (writeOwn[i]) out += services[i]->ownRules;
  }
  for (const std::string& chain : staleChains) line(out, "-X " + chain);
  line(out, "COMMIT");
  return out;
}

IptablesRuleCounts countIptablesRules(std::string_view restoreInput) {
  IptablesRuleCounts counts;
  size_t* table = nullptr;  // rules before a "*table" line belong to none
  for (size_t start = 0; start < restoreInput.size();) {
    size_t end = restoreInput.find('\n', start);
    if (end == std::string::npos) end = restoreInput.size();
    const std::string_view text = restoreInput.substr(start, end - start);
    if (text == "*filter") {
      table = &counts.filter;
    } else if (text == "*nat") {
      table = &counts.nat;
    } else if (text.starts_with('*')) {
      table = nullptr;
    } else if (table != nullptr && text.starts_with("-A ")) {
      ++*table;
    }
    start = end + 1;
  }
  return counts;
}

size_t countIptablesRuleLines(std::string_view lines) {
  size_t count = 0;
  for (size_t start = 0; start < lines.size();) {
    if (lines.substr(start).starts_with("-A ")) ++count;
    const size_t end = lines.find('\n', start);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return count;
}

}  // namespace nicproxy
