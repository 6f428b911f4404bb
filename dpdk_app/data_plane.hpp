#pragma once
// State shared by every worker lcore and the control thread.
//
// Who reads and writes:
//  - ports, timeouts, workerCount: written once before the workers start, then read-only.
//  - neighbors: see neighbor.hpp (lock-free, any worker writes, every worker reads).
//  - services: written by the control thread only (DpdkProvider), with a release store
//    after the new table is fully built; each worker loads it with acquire once per
//    loop iteration and stops using it before it reports a quiescent state on qsbr.
//    The provider frees a replaced table only after an RCU grace period
//    (rte_rcu_qsbr_start/check, see dpdk_provider.hpp).
//  - redirect: one rte_ring per worker (empty with one worker), created before the
//    workers start. Any worker enqueues (multi-producer) the replies whose SNAT port
//    names another owner; only the owner dequeues (single consumer). The ring's
//    enqueue/dequeue carry the release/acquire ordering for the mbufs' contents.
//  - running: cleared by the control thread to stop the workers.
#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dpdk_app/neighbor.hpp"
#include "dpdk_app/service_table.hpp"

namespace nicproxy {

inline constexpr uint16_t kMaxPorts = 8;
inline constexpr uint16_t kBurstSize = 32;
/// SNAT ports come from [kSnatPortMin, 65535]; lower ports are never used as sources.
inline constexpr uint16_t kSnatPortMin = 1024;
/// Kubernetes' default service-node-port-range. SNAT ports avoid it, so a packet to a
/// port address in this range is NodePort traffic: the worker RSS hands it to owns it
/// (RSS keeps a client's 5-tuple on one queue), and only replies to SNAT ports are
/// redirected to their owner.
inline constexpr uint16_t kNodePortMin = 30000;
inline constexpr uint16_t kNodePortMax = 32767;
inline bool isSnatPort(uint16_t port) { return port >= kSnatPortMin && (port < kNodePortMin || port > kNodePortMax); }

struct PortInfo {
  uint16_t portId = 0;       // DPDK port id
  rte_ether_addr mac{};
  rte_be32_t address = 0;    // the node's address on this port
  rte_be32_t mask = 0;
  rte_be32_t gateway = 0;    // 0: none
  uint16_t mtu = RTE_ETHER_MTU;  // the device's MTU (longest IP datagram sent), read at start-up
  bool linearizeTx = false;  // the device cannot send chained mbufs: copy them into one
};

/// Flow and neighbour timers, in TSC cycles.
struct Timeouts {
  uint64_t hz = 0;           // TSC cycles per second
  uint64_t tcpSynSent = 0;
  uint64_t tcpEstablished = 0;
  uint64_t tcpClosing = 0;   // FIN seen from one side (conntrack.tcpCloseWaitTimeout)
  uint64_t tcpTimeWait = 0;  // FIN seen from both sides (conntrack's 120 s TIME_WAIT)
  uint64_t tcpClosed = 0;    // RST seen
  uint64_t udp = 0;          // UDP without a reply yet
  uint64_t udpStream = 0;    // UDP that has seen a reply
  uint64_t arpRetry = 0;     // between two ARP requests for one address
  uint64_t arpRefresh = 0;   // re-ask a known neighbour after this long without news
  uint64_t probeInterval = 0;  // how often backends' MACs are resolved ahead of traffic

  /// Defaults in seconds: TCP 30 / 900 / 10 / 10, UDP 30 / 30, ARP 0.2 / 60, probe 0.5.
  static Timeouts fromTscHz(uint64_t hz);
  /// Takes the conntrack.* settings: established, close-wait (for FIN), UDP, UDP stream.
  void applyConntrack(uint64_t establishedSeconds, uint64_t closeWaitSeconds, uint64_t udpSeconds,
                      uint64_t udpStreamSeconds);
};

struct DataPlane {
  std::vector<PortInfo> ports;
  uint16_t workerCount = 1;
  Timeouts timeouts;
  NeighborTable neighbors;
  std::atomic<const FastServiceTable*> services{nullptr};
  rte_rcu_qsbr* qsbr = nullptr;
  std::vector<rte_ring*> redirect;  // per worker; empty when there is one worker
  std::atomic<bool> running{true};
};

}  // namespace nicproxy
