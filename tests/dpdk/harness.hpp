#pragma once
// A data path for the dpdk tests: a DataPlane with two ports, one worker context (or
// one per worker with Options::allWorkers, with their redirect rings), a test mempool
// and the standard service table below, published by the real DpdkProvider (its RCU
// grace period is immediate: no worker thread is online), driven through processBurst()
// with frames as bytes. Nothing here touches ethdev: what a worker would transmit is
// copied out of its tx batches and freed.
//
// Test topology (host order in the comments, the constants below):
//   port 0  02:00:00:00:00:01  10.50.0.1/24   clients 10.50.0.100, backends 10.50.0.11-13, .44
//   port 1  02:00:00:00:00:02  10.60.0.1/24   backend 10.60.0.21
//   services (namespace "default"):
//     web      TCP 10.96.0.10:80, NodePort 30080, external IPs 10.50.0.200 (in port 0's
//              subnet) and 192.0.2.10 (outside every subnet) -> 10.50.0.11:8080
//     dns      UDP 10.96.0.10:53                                -> 10.50.0.11:5353
//     empty    TCP 10.96.0.20:80 and UDP 10.96.0.20:53          -> no endpoints (REJECT)
//     multi    TCP 10.96.0.30:80 -> 10.50.0.11:8080, 10.50.0.12:8080, 10.50.0.13:8080
//              plus 10.50.0.14:8080, not ready (must never be chosen)
//     dark     TCP 10.96.0.40:80 -> 10.50.0.44:8080 (MAC never learnt by the harness)
//     far      TCP 10.96.0.50:80 -> 10.60.0.21:9090 (behind port 1)
//   10.96.0.99 is no service's address.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_mempool.h>

#include "control/model.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/fragments.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"
#include "tests/dpdk/frames.hpp"

namespace nicproxy::testing {

inline constexpr Mac kPort0Mac{0x02, 0, 0, 0, 0, 0x01};
inline constexpr Mac kPort1Mac{0x02, 0, 0, 0, 0, 0x02};
inline constexpr uint32_t kPort0Ip = ipv4(10, 50, 0, 1);
inline constexpr uint32_t kPort1Ip = ipv4(10, 60, 0, 1);
inline constexpr uint32_t kMask24 = 0xffffff00;

inline constexpr Mac kClientMac{0x02, 0, 0, 0, 0, 0x64};
inline constexpr uint32_t kClientIp = ipv4(10, 50, 0, 100);
inline constexpr uint32_t kBackendIp = ipv4(10, 50, 0, 11);
inline constexpr Mac kBackendMac{0x02, 0, 0, 0, 0, 0x0b};
inline constexpr uint32_t kBackend2Ip = ipv4(10, 50, 0, 12);
inline constexpr Mac kBackend2Mac{0x02, 0, 0, 0, 0, 0x0c};
inline constexpr uint32_t kBackend3Ip = ipv4(10, 50, 0, 13);
inline constexpr Mac kBackend3Mac{0x02, 0, 0, 0, 0, 0x0d};
inline constexpr uint32_t kNotReadyBackendIp = ipv4(10, 50, 0, 14);
inline constexpr uint32_t kDarkBackendIp = ipv4(10, 50, 0, 44);
inline constexpr Mac kDarkBackendMac{0x02, 0, 0, 0, 0, 0x2c};
inline constexpr uint32_t kFarBackendIp = ipv4(10, 60, 0, 21);
inline constexpr Mac kFarBackendMac{0x02, 0, 0, 0, 0, 0x15};

inline constexpr uint32_t kWebVip = ipv4(10, 96, 0, 10);
inline constexpr uint32_t kEmptyVip = ipv4(10, 96, 0, 20);
inline constexpr uint32_t kMultiVip = ipv4(10, 96, 0, 30);
inline constexpr uint32_t kDarkVip = ipv4(10, 96, 0, 40);
inline constexpr uint32_t kFarVip = ipv4(10, 96, 0, 50);
inline constexpr uint32_t kUnknownVip = ipv4(10, 96, 0, 99);
inline constexpr uint32_t kExternalInSubnet = ipv4(10, 50, 0, 200);
inline constexpr uint32_t kExternalOutside = ipv4(192, 0, 2, 10);
inline constexpr uint16_t kWebNodePort = 30080;
/// A SNAT address besides port 0's own (dpdk.ports[0].snatAddresses), for the tests that
/// add it with Harness::addSnatAddress().
inline constexpr uint32_t kPort0SnatIp = ipv4(10, 50, 0, 5);

/// The standard service table described at the top of this file.
ServiceTable standardServices();

/// One packet the worker queued for transmission.
struct Sent {
  uint16_t port;
  Bytes frame;
  uint16_t segments = 1;  // mbufs the frame was made of (reassembled datagrams and fragments are chains)
};

class Harness {
 public:
  struct Options {
    uint32_t flowCapacity = 1024;
    uint16_t workerCount = 1;
    uint16_t workerIndex = 0;
    bool learnBackends = true;  // pre-resolve every backend MAC except the dark one (seedNeighbor)
    bool withServices = true;   // false: processBurst sees a null service table
    bool allWorkers = false;    // one context per worker (index 0..workerCount-1) and redirect rings
    Scheduler scheduler = Scheduler::Maglev;  // the provider's default
    uint32_t fragmentDatagrams = 64;          // reassembly table size per context; 0: none
    uint64_t fragmentTimeoutMs = 5000;
  };

  Harness() : Harness(Options{}) {}
  explicit Harness(const Options& options);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  /// One processBurst() of `frames` received on `rxPort` at now(); returns what was
  /// queued for transmission (port 0's batch first), freeing those mbufs.
  std::vector<Sent> run(const std::vector<Bytes>& frames, uint16_t rxPort = 0, uint16_t worker = 0);
  std::vector<Sent> run(const Bytes& frame, uint16_t rxPort = 0, uint16_t worker = 0) {
    return run(std::vector<Bytes>{frame}, rxPort, worker);
  }
  /// Rx offload flags (RTE_MBUF_F_RX_*) that run() sets on every mbuf it builds, as a
  /// PMD with checksum offload would; 0 (the default): the PMD said nothing.
  void setRxFlags(uint64_t flags) { rxFlags_ = flags; }
  /// An mbuf of the test pool holding `frame`, as a PMD would hand it over.
  rte_mbuf* mbufOf(const Bytes& frame);
  /// The worker's side of its fromKernel ring (exception_path.hpp): processFromKernel()
  /// on `worker` until the ring is empty, then its tx.
  std::vector<Sent> drainFromKernel(uint16_t worker = 0);
  /// The owner's side of the redirect ring: processRedirected() on `worker`, then its tx.
  std::vector<Sent> drainRedirect(uint16_t worker);
  /// probeNeighbors() on `worker` (the daemon runs it on worker 0), then its tx.
  std::vector<Sent> probe(uint16_t worker = 0);
  /// Resolves `address` to `mac` as the data path would: nicproxy asks (claimRequest)
  /// and the neighbour answers at once (NeighborTable::hear, solicited).
  void seedNeighbor(uint32_t address, const Mac& mac);
  /// One round of the worker loop's chores (housekeeping(): expiry, purge, SNAT scans,
  /// reassembly timeouts) on `worker` at now(), then its tx.
  std::vector<Sent> housekeeping(uint16_t worker = 0);
  /// purgeRemovedFlows() on `worker` until its scan is done, then its tx.
  std::vector<Sent> purge(uint16_t worker = 0);
  /// Publishes `table` through the provider as an incremental sync (the changed ports
  /// are found by comparing with the previous snapshot).
  void sync(const ServiceTable& table);
  const FastServiceTable* services() const { return plane_.services.load(std::memory_order_acquire); }
  DpdkProvider& provider() { return *provider_; }

  uint64_t now() const { return now_; }
  void setNow(uint64_t now) { now_ = now; }
  uint64_t hz() const { return hz_; }

  DataPlane& plane() { return plane_; }
  /// Gives port index `port` one more SNAT address (host order), as
  /// dpdk.ports[].snatAddresses does before the workers start.
  void addSnatAddress(uint16_t port, uint32_t address);
  FlowTable& flows(uint16_t worker = 0) { return *flows_.at(worker); }
  const Timeouts& timeouts() const { return plane_.timeouts; }
  const WorkerCounters& counters(uint16_t worker = 0) const { return contexts_.at(worker)->counters; }
  /// A worker's context, for settings the daemon writes into it (its reply rate limit).
  WorkerContext& context(uint16_t worker = 0) { return *contexts_.at(worker); }
  uint64_t dropCount(DropReason reason, uint16_t worker = 0) const {
    return contexts_.at(worker)->counters.dropCount(reason);
  }
  /// Every mbuf not in the pools: held by the worker (reassembly) or leaked.
  unsigned mbufsInUse() const { return rte_mempool_in_use_count(pool_) + rte_mempool_in_use_count(indirectPool_); }

 private:
  std::vector<Sent> collect(WorkerContext& ctx);

  uint64_t hz_;
  uint64_t now_;
  bool withServices_;
  uint64_t rxFlags_ = 0;
  DataPlane plane_;
  rte_rcu_qsbr* qsbr_ = nullptr;
  std::vector<rte_ring*> rings_;
  std::vector<std::unique_ptr<FlowTable>> flows_;
  std::unique_ptr<AffinityTable> affinity_;  // shared by the contexts, as in the daemon
  std::unique_ptr<DpdkProvider> provider_;
  ServiceTable snapshot_;
  rte_mempool* pool_ = nullptr;
  rte_mempool* indirectPool_ = nullptr;
  std::vector<std::unique_ptr<ReassemblyTable>> reassembly_;
  std::vector<std::unique_ptr<WorkerContext>> contexts_;
};

/// A process-unique name for an rte_hash or rte_mempool.
std::string uniqueName(const char* prefix);

/// The MAC as DPDK stores it.
rte_ether_addr etherAddr(const Mac& mac);

}  // namespace nicproxy::testing
