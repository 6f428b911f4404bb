#include "dpdk_app/inspect_views.hpp"

#include <set>
#include <utility>

#include <rte_byteorder.h>

#include "control/endpoints.hpp"
#include "dpdk_app/scheduler.hpp"

namespace nicproxy {

namespace {

using Target = std::pair<Ipv4, uint16_t>;  // host order

std::string formatTarget(const Target& t) { return formatIpv4(t.first) + ":" + std::to_string(t.second); }

std::string formatKey(const ServiceKey& key) {
  const char* protocol = key.protocol == IPPROTO_TCP ? "TCP" : key.protocol == IPPROTO_UDP ? "UDP" : "SCTP";
  return formatIpv4(rte_be_to_cpu_32(key.address)) + ":" + std::to_string(rte_be_to_cpu_16(key.port)) + "/" + protocol;
}

std::set<Target> targetsOf(const std::vector<Endpoint>& endpoints) {
  std::set<Target> out;
  for (const Endpoint& e : endpoints) out.emplace(e.address, e.port);
  return out;
}

std::set<Target> targetsOf(const ServiceEntry& entry) {
  std::set<Target> out;
  for (uint32_t i = 0; i < entry.backendCount; ++i) {
    out.emplace(rte_be_to_cpu_32(entry.backends[i].address), rte_be_to_cpu_16(entry.backends[i].port));
  }
  return out;
}

std::string join(const std::set<Target>& targets) {
  std::string out;
  for (const Target& t : targets) out += (out.empty() ? "" : ",") + formatTarget(t);
  return out.empty() ? "none" : out;
}

const char* entryKindName(PortFrontends::EntryKind kind) {
  switch (kind) {
    case PortFrontends::kInternal:
      return "cluster IP";
    case PortFrontends::kExternal:
      return "external";
    case PortFrontends::kBalancer:
      return "load balancer";
  }
  return "?";
}

}  // namespace

ServicesView compareServices(const ServiceTable* table, const ServiceTableWriter* writer, const std::string& filter) {
  ServicesView view;
  if (writer != nullptr) view.frontends = writer->index().frontendCount();
  if (table == nullptr) return view;
  view.servicePorts = table->size();
  for (const auto& [name, port] : table->ports()) {
    const std::string id = name.toString();
    const bool shown = filter.empty() || id.find(filter) != std::string::npos;
    const CategorizedEndpoints categorized = categorizeEndpoints(*port);
    const std::set<Target> internal = targetsOf(categorized.forInternal(*port));
    const std::set<Target> external = targetsOf(categorized.forExternal(*port));
    std::vector<std::string> problems;
    size_t frontends = 0;
    std::set<Target> indexBackends;
    const auto record = writer != nullptr ? writer->records().find(name) : decltype(writer->records().end()){};
    if (writer == nullptr || record == writer->records().end()) {
      problems.push_back("not in the workers' index");
    } else {
      const PortFrontends& r = *record->second;
      if (r.state->source == nullptr || !(*r.state->source == *port)) {
        problems.push_back("the index was built from an older version of this port");
      }
      for (const PortFrontends::Frontend& f : r.frontends) {
        const ServiceEntry* entry = writer->index().lookup(f.key);
        if (entry == nullptr) {
          problems.push_back("frontend " + formatKey(f.key) + " missing from the index");
          continue;
        }
        if (entry != &r.entries[f.entry]) {
          problems.push_back("frontend " + formatKey(f.key) + " is answered by another service port");
          continue;
        }
        ++frontends;
        const std::set<Target> held = targetsOf(*entry);
        indexBackends.insert(held.begin(), held.end());
        const std::set<Target>& want = f.entry == PortFrontends::kInternal ? internal : external;
        if (held != want) {
          problems.push_back("frontend " + formatKey(f.key) + " holds " + join(held) + ", the control view says " +
                             join(want));
        }
      }
    }
    for (const std::string& p : problems) view.disagreements.push_back(id + ": " + p);
    if (!shown) continue;
    ++view.shown;
    std::set<Target> controlTargets = internal;
    controlTargets.insert(external.begin(), external.end());
    const std::string cluster = port->clusterIPs.empty() ? std::string("None") : formatIpv4(port->clusterIPs[0]);
    view.lines.push_back(id + " " + cluster + ":" + std::to_string(port->port) + "/" + protocolName(name.protocol) +
                         " control " + std::to_string(controlTargets.size()) + " endpoints, index " +
                         std::to_string(frontends) + " frontends " + std::to_string(indexBackends.size()) +
                         " backends: " + (problems.empty() ? "ok" : "DISAGREE"));
    if (!filter.empty()) {
      view.details.push_back(id + " control: " + join(controlTargets));
      view.details.push_back(id + " index: " + join(indexBackends));
    }
  }
  if (writer != nullptr) {
    for (const auto& [name, record] : writer->records()) {
      if (table->find(name) == nullptr) {
        view.disagreements.push_back(name.toString() + ": in the workers' index but not in the control view");
      }
    }
  }
  return view;
}

TraceView traceFrontend(const TraceRequest& request, const ServiceTableWriter* writer) {
  TraceView view;
  const ServiceKey key{rte_cpu_to_be_32(request.destination), rte_cpu_to_be_16(request.port),
                       ipProtocolOf(request.protocol), 0};
  const std::string frontend = formatKey(key);
  if (writer == nullptr) {
    view.frontend = "none: no service table yet (before the first sync)";
    view.verdict = "dropped";
    return view;
  }
  const ServiceEntry* entry = writer->index().lookup(key);
  if (entry == nullptr) {
    view.frontend = "none: no service port has " + frontend;
    view.verdict = writer->index().localAddressFlags(key.address) != 0
                       ? "dropped (no_service): a node or service address, but nothing listens on that port"
                       : "not for a service: not a frontend address of this node (not_for_us)";
    return view;
  }
  view.frontend = frontend;
  for (const auto& [name, record] : writer->records()) {
    for (size_t k = 0; k < record->entries.size(); ++k) {
      if (&record->entries[k] == entry) {
        view.frontend += " of " + name.toString() + " (" +
                         entryKindName(static_cast<PortFrontends::EntryKind>(k)) + " entry)";
      }
    }
  }
  // An endpoint on this node is reached through the kernel interface when a port has an
  // exception path (FlowEntry::kViaKernel), else routed like the others.
  auto describe = [&](const Backend& b) {
    return formatTarget({rte_be_to_cpu_32(b.address), rte_be_to_cpu_16(b.port)}) +
           ((b.flags & kBackendLocal) != 0 ? " (on this node: through the kernel interface if there is one)" : "");
  };
  for (uint32_t i = 0; i < entry->backendCount; ++i) view.candidates.push_back(describe(entry->backends[i]));
  if (entry->sourceRangeCount != 0) {
    bool allowed = false;
    for (uint16_t i = 0; i < entry->sourceRangeCount; ++i) {
      const SourceRange& range = entry->sourceRanges[i];
      allowed = allowed || (rte_cpu_to_be_32(request.source) & range.mask) == range.network;
    }
    if (!allowed) {
      view.verdict = "dropped (source_range): the source is outside loadBalancerSourceRanges";
      return view;
    }
  }
  if (entry->backendCount == 0) {
    view.verdict = entry->dropWhenEmpty ? "dropped (no_local_endpoints): traffic policy Local, none on this node"
                                        : "rejected: no endpoints (TCP RST, ICMP port unreachable)";
    return view;
  }
  view.verdict = entry->keepClientAddress
                     ? "new connection: DNAT to the endpoint below; one on this node keeps the client's address "
                       "(externalTrafficPolicy Local), another is SNATed to the port's address"
                     : "new connection: DNAT to the endpoint below, SNAT to the port's address (to one on this node "
                       "through the kernel interface: an extra SNAT address, or none if the port has none)";
  if (entry->affinitySeconds != 0 && entry->maglevSize != 0) {
    // chooseBackend()'s first choice for a client without an affinity record.
    const rte_be32_t client = rte_cpu_to_be_32(request.source);
    view.backend = describe(entry->backends[entry->maglev[rte_hash_crc_4byte(client, kAffinitySeed) % entry->maglevSize]]) +
                   " (ClientIP affinity: the client's record, while it lives, wins)";
  } else if (entry->scheduler == Scheduler::Maglev && entry->maglevSize != 0) {
    if (request.sourcePort == 0) {
      view.backend = "depends on the source port (Maglev hashes the 5-tuple): give SRC:PORT";
    } else {
      FlowKey forward{};
      forward.sourceAddress = rte_cpu_to_be_32(request.source);
      forward.destinationAddress = key.address;
      forward.sourcePort = rte_cpu_to_be_16(request.sourcePort);
      forward.destinationPort = key.port;
      forward.protocol = key.protocol;
      view.backend = describe(entry->backends[entry->maglev[maglevSlot(*entry, forward)]]) + " (Maglev)";
    }
  } else {
    view.backend = std::string("not predictable: scheduler ") + schedulerName(entry->scheduler);
  }
  return view;
}

}  // namespace nicproxy
