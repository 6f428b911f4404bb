#include "dpdk_app/service_table.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <stdexcept>

#include <netinet/in.h>
#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <spdlog/spdlog.h>

#include "control/endpoints.hpp"

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

uint8_t ipProtocol(Protocol protocol) {
  return protocol == Protocol::Udp ? IPPROTO_UDP : protocol == Protocol::Tcp ? IPPROTO_TCP : IPPROTO_SCTP;
}

bool nodePortAllowed(rte_be32_t address, const std::vector<Ipv4Cidr>& nodePortAddresses) {
  if (nodePortAddresses.empty()) return true;
  const Ipv4 host = rte_be_to_cpu_32(address);
  return std::any_of(nodePortAddresses.begin(), nodePortAddresses.end(),
                     [host](const Ipv4Cidr& c) { return c.contains(host); });
}

}  // namespace

FastServiceTable::~FastServiceTable() {
  rte_hash_free(frontends_);
  rte_hash_free(localAddresses_);
}

std::unique_ptr<FastServiceTable> FastServiceTable::build(const ServiceTable& table,
                                                          const std::vector<PortSubnet>& ports,
                                                          const std::vector<Ipv4Cidr>& nodePortAddresses,
                                                          int socket) {
  // Gather every frontend first so that the hashes are sized once.
  struct Frontend {
    ServiceKey key;
    uint32_t entry;
  };
  std::vector<Frontend> frontends;
  std::map<rte_be32_t, uint32_t> localFlags;
  std::unique_ptr<FastServiceTable> fast(new FastServiceTable());
  std::vector<rte_be32_t> backendAddresses;

  for (const PortSubnet& port : ports) localFlags[port.address] |= kAnswerArp;

  for (const auto& [name, servicePort] : table.ports()) {
    if (servicePort->name.protocol == Protocol::Sctp) continue;  // not in the data path yet
    const uint8_t protocol = ipProtocol(servicePort->name.protocol);
    const uint32_t entryIndex = static_cast<uint32_t>(fast->entries_.size());
    ServiceEntry entry;
    entry.firstBackend = static_cast<uint32_t>(fast->backends_.size());
    for (const Endpoint& endpoint : usableEndpoints(*servicePort)) {
      const rte_be32_t address = rte_cpu_to_be_32(endpoint.address);
      fast->backends_.push_back(Backend{address, rte_cpu_to_be_16(endpoint.port), 0});
      backendAddresses.push_back(address);
    }
    entry.backendCount = static_cast<uint32_t>(fast->backends_.size()) - entry.firstBackend;
    fast->entries_.push_back(entry);

    const rte_be16_t servicePortNumber = rte_cpu_to_be_16(servicePort->port);
    auto addFrontend = [&](rte_be32_t address, rte_be16_t port, bool answerArp) {
      frontends.push_back(Frontend{ServiceKey{address, port, protocol, 0}, entryIndex});
      uint32_t& flags = localFlags[address];
      flags |= kServiceAddress;
      if (answerArp) flags |= kAnswerArp;
    };
    auto inPortSubnet = [&ports](rte_be32_t address) {
      return std::any_of(ports.begin(), ports.end(), [address](const PortSubnet& p) {
        return (address & p.mask) == (p.address & p.mask);
      });
    };
    for (Ipv4 ip : servicePort->clusterIPs) addFrontend(rte_cpu_to_be_32(ip), servicePortNumber, false);
    for (const auto* list : {&servicePort->externalIPs, &servicePort->loadBalancerIPs}) {
      for (Ipv4 ip : *list) {
        const rte_be32_t address = rte_cpu_to_be_32(ip);
        addFrontend(address, servicePortNumber, inPortSubnet(address));
      }
    }
    if (servicePort->nodePort != 0) {
      for (const PortSubnet& port : ports) {
        if (nodePortAllowed(port.address, nodePortAddresses)) {
          addFrontend(port.address, rte_cpu_to_be_16(servicePort->nodePort), true);
        }
      }
    }
  }

  std::sort(backendAddresses.begin(), backendAddresses.end());
  backendAddresses.erase(std::unique(backendAddresses.begin(), backendAddresses.end()),
                         backendAddresses.end());
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
