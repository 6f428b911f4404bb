#pragma once
// The fast-path state of one ServicePort: its backend arrays (one per traffic policy in
// use), their Maglev rows, scheduler, affinity and source ranges.
//
// Who reads and writes: the control thread builds a PortState once and never changes it
// afterwards (except the round-robin cursors, which workers advance with relaxed atomic
// adds). A PortState is held (shared_ptr) by its service port's record in the
// ServiceTableWriter, and by a new writer after a full rebuild while its ServicePort
// did not change, so one changed service rebuilds one PortState and its Maglev rows,
// not the others'. A replaced PortState is freed by the DpdkProvider only after an RCU
// grace period: no worker can still be reading it.
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <rte_byteorder.h>

#include "control/config.hpp"
#include "control/model.hpp"

namespace nicproxy {

/// Backend::flags: the endpoint is on this node (Endpoint::isLocal), a pod behind the
/// node's kernel: reached through the exception interface when there is one.
inline constexpr uint16_t kBackendLocal = 1;

struct Backend {
  rte_be32_t address;
  rte_be16_t port;
  uint16_t flags;  // kBackendLocal
};

/// A source range in network order: allowed when (source & mask) == network.
struct SourceRange {
  rte_be32_t network;
  rte_be32_t mask;
};

/// The backends one kind of frontend uses, and the Maglev table over them.
struct BackendSet {
  std::vector<Backend> backends;
  std::vector<uint32_t> maglev;  // slot -> index into backends; empty when no backends
  mutable std::atomic<uint32_t> roundRobin{0};
};

struct PortState {
  ServicePortPtr source;            // what this was built from (change detection)
  Scheduler scheduler = Scheduler::Maglev;
  Scheduler defaultScheduler = Scheduler::Maglev;  // the default in force at build time
  BackendSet internal;              // cluster IPs (internalTrafficPolicy)
  BackendSet external;              // NodePorts, external and LB IPs (externalTrafficPolicy)
  bool hasAnyEndpoints = false;     // false: reject; true with an empty set: drop
  uint32_t serviceId = 0;           // stable per service port (hash of its name), never 0
  uint32_t affinityId = 0;          // serviceId when affinity is on, else 0
  uint32_t affinitySeconds = 0;     // ClientIP timeout; 0: no affinity
  std::vector<SourceRange> sourceRanges;  // loadBalancerSourceRanges (LB IPs only)
  std::vector<uint64_t> backendKeys;      // every endpoint (any condition): backendKey()
  std::vector<rte_be32_t> addresses;      // distinct addresses of internal and external backends

  /// Builds the state for `port`. `previous` (may be null) is the same port's former
  /// state; its Maglev table sizes are kept when they still fit, and then its tables are
  /// updated rather than rebuilt (maglevTableFrom), so that removing one of N endpoints
  /// remaps only that endpoint's 1/N of the flows.
  static std::shared_ptr<const PortState> build(const ServicePortPtr& port, Scheduler defaultScheduler,
                                                const PortState* previous);
};

/// (address, port, protocol) of an endpoint as one integer: address << 24 | port << 8 | protocol.
inline uint64_t backendKey(uint32_t hostAddress, uint16_t hostPort, uint8_t ipProtocol) {
  return (uint64_t{hostAddress} << 24) | (uint64_t{hostPort} << 8) | ipProtocol;
}

/// IPPROTO_TCP / IPPROTO_UDP / IPPROTO_SCTP of a model protocol.
uint8_t ipProtocolOf(Protocol protocol);

}  // namespace nicproxy
