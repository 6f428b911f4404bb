#include "dpdk_app/service_table.hpp"

#include <algorithm>
#include <atomic>
#include <stdexcept>

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

namespace {

// rte_hash names are global to the process; every table gets a fresh one.
std::string uniqueHashName(const char* prefix) {
  static std::atomic<uint64_t> sequence{0};
  return std::string(prefix) + std::to_string(sequence.fetch_add(1, std::memory_order_relaxed));
}

rte_hash* createHash(const char* prefix, uint32_t entries, uint32_t keyLength, int socket) {
  const std::string name = uniqueHashName(prefix);
  rte_hash_parameters params{};
  params.name = name.c_str();
  params.entries = std::max<uint32_t>(entries * 2, 64);
  params.key_len = keyLength;
  params.hash_func = rte_hash_crc;
  params.socket_id = socket;
  params.extra_flag = RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  rte_hash* hash = rte_hash_create(&params);
  if (hash == nullptr) {
    throw std::runtime_error("service table: rte_hash_create(" + name +
                             ") failed: " + rte_strerror(rte_errno));
  }
  return hash;
}

bool nodePortAllowed(rte_be32_t address, const std::vector<Ipv4Cidr>& nodePortAddresses) {
  if (nodePortAddresses.empty()) return true;
  const Ipv4 host = rte_be_to_cpu_32(address);
  return std::any_of(nodePortAddresses.begin(), nodePortAddresses.end(),
                     [host](const Ipv4Cidr& c) { return c.contains(host); });
}

ServiceEntry entryFor(const PortState& state, const BackendSet& set, bool withSourceRanges) {
  ServiceEntry entry;
  entry.backends = set.backends.data();
  entry.backendCount = static_cast<uint32_t>(set.backends.size());
  entry.maglev = set.maglev.data();
  entry.maglevSize = static_cast<uint32_t>(set.maglev.size());
  entry.roundRobin = &set.roundRobin;
  entry.scheduler = state.scheduler;
  entry.serviceId = state.serviceId;
  entry.affinityId = state.affinityId;
  entry.affinitySeconds = state.affinitySeconds;
  entry.dropWhenEmpty = state.hasAnyEndpoints;
  if (withSourceRanges && !state.sourceRanges.empty()) {
    entry.sourceRanges = state.sourceRanges.data();
    entry.sourceRangeCount = static_cast<uint16_t>(std::min<size_t>(state.sourceRanges.size(), UINT16_MAX));
  }
  return entry;
}

/// True when `state` (the same port's state in the previous table) can be reused as is.
bool reusable(const PortState& state, const ServicePortPtr& port, Scheduler defaultScheduler) {
  if (state.defaultScheduler != defaultScheduler) return false;
  // The change tracker shares unchanged ServicePorts between snapshots: pointer
  // equality is the common case; equal values (a reloaded file) count too.
  return state.source == port || *state.source == *port;
}

}  // namespace

FastServiceTable::~FastServiceTable() {
  rte_hash_free(frontends_);
  rte_hash_free(localAddresses_);
}

bool FastServiceTable::isRemovedBackend(uint32_t serviceId, uint64_t backend) const {
  return std::binary_search(removedBackends_.begin(), removedBackends_.end(), RemovedBackend{serviceId, backend});
}

std::unique_ptr<FastServiceTable> FastServiceTable::build(const ServiceTable& table,
                                                          const std::vector<PortSubnet>& ports,
                                                          const std::vector<Ipv4Cidr>& nodePortAddresses,
                                                          int socket, Scheduler defaultScheduler,
                                                          const FastServiceTable* previous,
                                                          std::vector<RemovedBackend> removedBackends) {
  static std::atomic<uint64_t> generations{0};
  // Gather every frontend first so that the hashes are sized once.
  struct Frontend {
    ServiceKey key;
    uint32_t entry;
  };
  std::vector<Frontend> frontends;
  std::map<rte_be32_t, uint32_t> localFlags;
  std::unique_ptr<FastServiceTable> fast(new FastServiceTable());
  fast->generation_ = generations.fetch_add(1, std::memory_order_relaxed) + 1;
  std::sort(removedBackends.begin(), removedBackends.end());
  fast->removedBackends_ = std::move(removedBackends);
  std::vector<rte_be32_t> backendAddresses;

  for (const PortSubnet& port : ports) localFlags[port.address] |= kAnswerArp;
  auto inPortSubnet = [&ports](rte_be32_t address) {
    return std::any_of(ports.begin(), ports.end(), [address](const PortSubnet& p) {
      return (address & p.mask) == (p.address & p.mask);
    });
  };

  // Both maps are sorted by name: walk the previous table's states alongside.
  using StateMap = std::map<ServicePortName, std::shared_ptr<const PortState>>;
  const StateMap empty;
  const StateMap& previousStates = previous != nullptr ? previous->portStates_ : empty;
  auto before = previousStates.begin();
  for (const auto& [name, servicePort] : table.ports()) {
    if (servicePort->name.protocol == Protocol::Sctp) continue;  // not in the data path yet
    while (before != previousStates.end() && before->first < name) ++before;
    const PortState* former =
        before != previousStates.end() && before->first == name ? before->second.get() : nullptr;
    std::shared_ptr<const PortState> state;
    if (former != nullptr && reusable(*former, servicePort, defaultScheduler)) {
      state = before->second;
      ++fast->reusedPorts_;
    } else {
      state = PortState::build(servicePort, defaultScheduler, former);
      ++fast->builtPorts_;
    }
    fast->portStates_.emplace_hint(fast->portStates_.end(), name, state);
    backendAddresses.insert(backendAddresses.end(), state->addresses.begin(), state->addresses.end());
    fast->backendTotal_ += state->internal.backends.size() + state->external.backends.size();

    const uint8_t protocol = ipProtocolOf(servicePort->name.protocol);
    const rte_be16_t servicePortNumber = rte_cpu_to_be_16(servicePort->port);
    auto addEntry = [&](const ServiceEntry& entry) {
      fast->entries_.push_back(entry);
      return static_cast<uint32_t>(fast->entries_.size() - 1);
    };
    auto addFrontend = [&](uint32_t entry, rte_be32_t address, rte_be16_t port, bool answerArp) {
      frontends.push_back(Frontend{ServiceKey{address, port, protocol, 0}, entry});
      uint32_t& flags = localFlags[address];
      flags |= kServiceAddress;
      if (answerArp) flags |= kAnswerArp;
    };
    if (!servicePort->clusterIPs.empty()) {
      const uint32_t internal = addEntry(entryFor(*state, state->internal, false));
      for (Ipv4 ip : servicePort->clusterIPs) addFrontend(internal, rte_cpu_to_be_32(ip), servicePortNumber, false);
    }
    if (servicePort->nodePort != 0 || !servicePort->externalIPs.empty()) {
      // NodePorts are not filtered by loadBalancerSourceRanges (kube-proxy does the same).
      const uint32_t external = addEntry(entryFor(*state, state->external, false));
      for (Ipv4 ip : servicePort->externalIPs) {
        const rte_be32_t address = rte_cpu_to_be_32(ip);
        addFrontend(external, address, servicePortNumber, inPortSubnet(address));
      }
      if (servicePort->nodePort != 0) {
        for (const PortSubnet& port : ports) {
          if (nodePortAllowed(port.address, nodePortAddresses)) {
            addFrontend(external, port.address, rte_cpu_to_be_16(servicePort->nodePort), true);
          }
        }
      }
    }
    if (!servicePort->loadBalancerIPs.empty()) {
      const uint32_t balancer = addEntry(entryFor(*state, state->external, true));
      for (Ipv4 ip : servicePort->loadBalancerIPs) {
        const rte_be32_t address = rte_cpu_to_be_32(ip);
        addFrontend(balancer, address, servicePortNumber, inPortSubnet(address));
      }
    }
  }

  fast->backendAddresses_ = std::move(backendAddresses);

  fast->frontends_ = createHash("svc", static_cast<uint32_t>(frontends.size()), sizeof(ServiceKey), socket);
  fast->localAddresses_ = createHash("local", static_cast<uint32_t>(localFlags.size()), sizeof(rte_be32_t), socket);
  for (const Frontend& f : frontends) {
    void* existing = nullptr;
    if (rte_hash_lookup_data(fast->frontends_, &f.key, &existing) >= 0) {
      // Two services claim one frontend; the first in name order keeps it, as a
      // stable rule (the API server normally prevents this for cluster IPs).
      spdlog::warn("frontend {}:{}/{} is claimed by more than one service port; keeping the first",
                   formatIpv4(rte_be_to_cpu_32(f.key.address)), rte_be_to_cpu_16(f.key.port),
                   f.key.protocol == IPPROTO_UDP ? "UDP" : "TCP");
      continue;
    }
    if (rte_hash_add_key_data(fast->frontends_, &f.key, reinterpret_cast<void*>(uintptr_t{f.entry})) < 0) {
      throw std::runtime_error("service table: no room for frontend");
    }
  }
  for (const auto& [address, flags] : localFlags) {
    if (rte_hash_add_key_data(fast->localAddresses_, &address, reinterpret_cast<void*>(uintptr_t{flags})) < 0) {
      throw std::runtime_error("service table: no room for local address");
    }
  }
  return fast;
}

}  // namespace nicproxy
