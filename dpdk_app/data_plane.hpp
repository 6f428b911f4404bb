#pragma once
// State shared by every worker lcore and the control thread.
//
// Who reads and writes:
//  - ports, timeouts, workerCount, ingress: written once before the workers start, then read-only.
//  - neighbors: see neighbor.hpp (lock-free, any worker writes, every worker and the
//    control thread read; slots are reused, never deallocated).
//  - services: written by the control thread only (DpdkProvider), with a release store
//    after the new table is fully built; each worker loads it with acquire once per
//    loop iteration and stops using it before it reports a quiescent state on qsbr.
//    The provider frees a replaced table only after an RCU grace period
//    (rte_rcu_qsbr_start/check, see dpdk_provider.hpp).
//  - redirect: one rte_ring per worker (empty with one worker), created before the
//    workers start. Any worker enqueues (multi-producer) the replies whose SNAT port
//    names another owner, and ICMP errors looking for their connection's worker
//    (icmp_errors.hpp); only the owner dequeues (single consumer). The ring's
//    enqueue/dequeue carry the release/acquire ordering for the mbufs' contents.
//  - exception path (exception_path.hpp), when a port has one: PortInfo::toKernel, one
//    rte_ring per port, multi-producer (every worker enqueues the frames it hands to the
//    kernel), single consumer (the exception thread sends them into the kernel
//    interface); fromKernel, one rte_ring per worker, multi-producer (the exception thread,
//    and a worker passing a frame on to the next), single consumer (that worker). Created
//    before the workers start; the rings' enqueue/dequeue carry the release/acquire
//    ordering for the mbufs' contents, as for redirect.
//  - running: cleared by the control thread to stop the workers.
#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include <rte_ether.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "control/config.hpp"
#include "dpdk_app/neighbor.hpp"
#include "dpdk_app/service_table.hpp"

namespace nicproxy {

inline constexpr uint16_t kMaxPorts = kMaxDpdkPorts;  // parseConfig refuses more
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
/// The worker that owns SNAT port `port` (host order): the one that picked it.
inline uint16_t ownerOfSnatPort(uint16_t port, uint16_t workerCount) {
  return static_cast<uint16_t>(port % workerCount);
}

struct PortInfo {
  /// dpdk.ports[].snatAddresses: at most this many besides the port address.
  static constexpr uint8_t kMaxExtraSnatAddresses = 7;

  uint16_t portId = 0;       // DPDK port id
  rte_ether_addr mac{};
  rte_be32_t address = 0;    // the node's address on this port
  rte_be32_t mask = 0;
  rte_be32_t gateway = 0;    // 0: none
  // More SNAT source addresses on this port's subnet (snat_allocator.hpp); the port
  // address is always the first one. Answered by ARP like the port address.
  std::array<rte_be32_t, kMaxExtraSnatAddresses> extraSnatAddresses{};
  uint8_t extraSnatCount = 0;
  uint16_t mtu = RTE_ETHER_MTU;  // the device's MTU (longest IP datagram sent), read at start-up
  bool linearizeTx = false;  // the device cannot send chained mbufs: copy them into one
  // The exception path (exception_path.hpp): frames for the kernel interface of this
  // port. Null: the port has none, and what the data path does not handle is dropped.
  rte_ring* toKernel = nullptr;

  uint32_t snatAddressCount() const { return 1u + extraSnatCount; }
  /// SNAT address i (0: the port address).
  rte_be32_t snatAddress(uint32_t i) const { return i == 0 ? address : extraSnatAddresses[i - 1]; }
  /// True for the port address and the port's SNAT addresses: the node's own addresses
  /// on this port (answered by ARP; replies to them are replies to SNATed connections).
  bool isOwnAddress(rte_be32_t a) const {
    if (a == address) return true;
    for (uint8_t i = 0; i < extraSnatCount; ++i) {
      if (a == extraSnatAddresses[i]) return true;
    }
    return false;
  }
};

/// True for an address this node takes on port `port`: the port's own (SNAT) addresses,
/// and every VIP, external or LB IP of `services` (null: none published yet). Anything
/// else is not nicproxy's (dropped, or the kernel's with an exception path).
inline bool isNodeAddress(const PortInfo& port, const FastServiceTable* services, rte_be32_t address) {
  return port.isOwnAddress(address) || (services != nullptr && services->localAddressFlags(address) != 0);
}

/// Which ingress checks the workers run on every frame (ingress_filter.hpp); all on by
/// default, each can be switched off (dpdk.ingress.*, nicproxy-bench --ingress-checks).
struct IngressChecks {
  bool sourceMac = true;      // drop broadcast, multicast and all-zero source MACs
  bool martianSource = true;  // drop impossible IPv4 sources (and ARP senders)
  bool ipChecksum = true;     // drop IPv4 headers whose checksum is wrong
  bool ipOptions = true;      // drop source routes (LSRR, SSRR) and malformed options
};

/// Flow and neighbour timers, in TSC cycles.
struct Timeouts {
  uint64_t hz = 0;           // TSC cycles per second
  // TCP, one per conntrack state (flow_table.hpp TcpState); see ConntrackConfig.
  uint64_t tcpSynSent = 0;
  uint64_t tcpSynRecv = 0;
  uint64_t tcpEstablished = 0;
  uint64_t tcpFinWait = 0;
  uint64_t tcpCloseWait = 0;
  uint64_t tcpLastAck = 0;
  uint64_t tcpTimeWait = 0;
  uint64_t tcpClose = 0;
  uint64_t udp = 0;          // UDP without a reply yet
  uint64_t udpStream = 0;    // UDP that has seen a reply
  uint64_t arpRetry = 0;     // between two ARP requests for one address
  uint64_t arpRefresh = 0;   // re-ask a known neighbour after this long without news
  uint64_t arpFail = 0;      // then unresolved if it has not answered for this long more
  uint64_t arpExpire = 0;    // a neighbour nobody asked for or confirmed this long is freed
  uint64_t probeInterval = 0;  // how often backends' MACs are resolved ahead of traffic

  /// ConntrackConfig's defaults (and ARP 0.2 / 60 / 5 / 300 s, probe 0.5 s) at `hz`.
  static Timeouts fromTscHz(uint64_t hz);
  /// Takes the conntrack.* settings.
  void applyConntrack(const ConntrackConfig& conntrack);
};

struct DataPlane {
  std::vector<PortInfo> ports;
  uint16_t workerCount = 1;
  Timeouts timeouts;
  bool tcpBeLiberal = false;    // conntrack.tcpBeLiberal
  NeighborTable neighbors;
  std::atomic<const FastServiceTable*> services{nullptr};
  rte_rcu_qsbr* qsbr = nullptr;
  std::vector<rte_ring*> redirect;  // per worker; empty when there is one worker
  // Per worker: frames the kernel sent out of an exception interface (exception_path.hpp);
  // empty when no port has an exception path.
  std::vector<rte_ring*> fromKernel;
  // The port index whose exception interface reaches endpoints on this node (pods behind
  // the node's kernel); kNoKernelPort: none, local endpoints are routed like the others.
  static constexpr uint16_t kNoKernelPort = 0xffff;
  uint16_t kernelPort = kNoKernelPort;
  std::atomic<bool> running{true};
  IngressChecks ingress;
};

}  // namespace nicproxy
