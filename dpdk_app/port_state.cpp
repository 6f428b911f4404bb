#include "dpdk_app/port_state.hpp"

#include <algorithm>
#include <functional>

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include "control/endpoints.hpp"
#include "control/maglev.hpp"

namespace nicproxy {

namespace {

/// A backend's Maglev key (host order): its permutation depends only on this.
uint64_t maglevKey(uint32_t address, uint16_t port) { return (uint64_t{address} << 16) | port; }

void fill(BackendSet& set, const std::vector<Endpoint>& endpoints, const BackendSet* previous) {
  std::vector<MaglevBackend> maglevBackends;
  for (const Endpoint& e : endpoints) {
    const uint16_t flags = e.isLocal ? kBackendLocal : 0;  // reached through the kernel when it can be
    set.backends.push_back(Backend{rte_cpu_to_be_32(e.address), rte_cpu_to_be_16(e.port), flags});
    maglevBackends.push_back(MaglevBackend{maglevKey(e.address, e.port), 1});
  }
  if (endpoints.empty()) return;
  const uint32_t previousSize = previous != nullptr ? static_cast<uint32_t>(previous->maglev.size()) : 0;
  const uint32_t size = maglevTableSize(static_cast<uint32_t>(endpoints.size()), previousSize);
  if (previous == nullptr || previousSize != size) {
    set.maglev = maglevTable(maglevBackends, size);
    return;
  }
  // The same size as before: update the former table, so that only the slots that must
  // move do (control/maglev.hpp says why and what it costs).
  std::vector<uint64_t> previousKeys;
  previousKeys.reserve(previous->backends.size());
  for (const Backend& b : previous->backends) {
    previousKeys.push_back(maglevKey(rte_be_to_cpu_32(b.address), rte_be_to_cpu_16(b.port)));
  }
  set.maglev = maglevTableFrom(maglevBackends, size, previousKeys, previous->maglev);
}

/// FNV-1a over the port's name: stable across restarts and table rebuilds, never 0.
uint32_t stableId(const ServicePortName& name) {
  uint32_t hash = 2166136261u;
  const std::string text = name.toString() + "/" + protocolName(name.protocol);
  for (const char c : text) hash = (hash ^ static_cast<uint8_t>(c)) * 16777619u;
  return hash == 0 ? 1 : hash;
}

}  // namespace

uint8_t ipProtocolOf(Protocol protocol) {
  return protocol == Protocol::Udp ? IPPROTO_UDP : protocol == Protocol::Tcp ? IPPROTO_TCP : IPPROTO_SCTP;
}

std::shared_ptr<const PortState> PortState::build(const ServicePortPtr& port, Scheduler defaultScheduler,
                                                  const PortState* previous) {
  auto state = std::make_shared<PortState>();
  state->source = port;
  state->defaultScheduler = defaultScheduler;
  state->scheduler = defaultScheduler;
  if (!port->scheduler.empty()) {
    if (const auto chosen = schedulerFromName(port->scheduler)) {
      state->scheduler = *chosen;
    } else {
      spdlog::warn("service port {}: annotation nicproxy.io/scheduler \"{}\" is not one of random, roundrobin, "
                   "maglev; using {}",
                   port->name.toString(), port->scheduler, schedulerName(defaultScheduler));
    }
  }
  const CategorizedEndpoints categorized = categorizeEndpoints(*port);
  state->hasAnyEndpoints = categorized.hasAnyEndpoints;
  fill(state->internal, categorized.forInternal(*port), previous != nullptr ? &previous->internal : nullptr);
  if (externallyAccessible(*port)) {
    fill(state->external, categorized.forExternal(*port), previous != nullptr ? &previous->external : nullptr);
  }
  state->serviceId = stableId(port->name);
  if (port->sessionAffinity == SessionAffinity::ClientIP) {
    state->affinityId = state->serviceId;
    state->affinitySeconds = std::max<uint32_t>(1, port->stickyMaxAgeSeconds);
  }
  for (const Ipv4Cidr& range : port->loadBalancerSourceRanges) {
    state->sourceRanges.push_back(SourceRange{rte_cpu_to_be_32(range.network()), rte_cpu_to_be_32(range.mask())});
  }
  const uint8_t protocol = ipProtocolOf(port->name.protocol);
  for (const Endpoint& e : port->endpoints) state->backendKeys.push_back(backendKey(e.address, e.port, protocol));
  std::sort(state->backendKeys.begin(), state->backendKeys.end());
  for (const BackendSet* set : {&state->internal, &state->external}) {
    for (const Backend& b : set->backends) state->addresses.push_back(b.address);
  }
  std::sort(state->addresses.begin(), state->addresses.end());
  state->addresses.erase(std::unique(state->addresses.begin(), state->addresses.end()), state->addresses.end());
  return state;
}

}  // namespace nicproxy
