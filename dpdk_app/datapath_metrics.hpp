#pragma once
// The data path's metrics (nicproxy_*), read when Prometheus scrapes: nothing is
// counted for them per packet beyond the workers' own counters (counters.hpp).
//
// Who reads what, from the scrape's thread (an HTTP thread), while the workers run:
//  - each worker's WorkerCounters: relaxed loads of Counters (their one writer is the
//    worker; see Counter for the ordering); the flow table's size comes from the
//    flowsInTable gauge the worker sets once per loop, never from the table itself,
//    which is the worker's alone (single-writer rte_hash without concurrency flags);
//  - the redirect rings: rte_ring_count (a read of the ring's indices);
//  - the ClientIP affinity table: a scan of relaxed loads (AffinityTable::liveRecords);
//  - the frontend index: the occupancy the provider stores after each sync and reclaim;
//  - the ports: rte_eth_xstats_get, as testpmd and dpdk-telemetry do beside the data path;
//  - the exception path (exception_path.hpp): the exception thread's ExceptionCounters
//    (relaxed loads, as the workers'), and its rings' fill (rte_ring_count).
// Everything read here must outlive the collectable's registration: App removes it from
// the daemon's ScrapeCollectables (which waits out a scrape in progress) before it
// stops the workers and closes the ports.
#include <cstdint>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "dpdk_app/counters.hpp"

struct rte_ring;

namespace nicproxy {

class AffinityTable;  // affinity.hpp
struct ExceptionCounters;  // exception_path.hpp
class DpdkProvider;   // dpdk_provider.hpp

struct DatapathSources {
  struct Worker {
    uint16_t index = 0;            // the worker label
    unsigned lcore = 0;
    const WorkerCounters* counters = nullptr;
    uint32_t flowCapacity = 0;
    const rte_ring* redirect = nullptr;  // the ring this worker takes redirected packets from; null: none
    const rte_ring* fromKernel = nullptr;  // its ring of frames from the exception interfaces; null: none
  };
  struct Port {
    uint16_t index = 0;   // index in DataPlane::ports (WorkerCounters::ports)
    uint16_t portId = 0;  // DPDK port id, for the xstats
    std::string name;     // the port label: the device name (a vdev name or a PCI address)
  };
  /// A port with an exception interface.
  struct ExceptionPort {
    std::string name;       // the port label, as Port::name
    std::string interface;  // the kernel interface ("nicproxy0")
    std::string kind;       // "tap", "virtio-user"
    const ExceptionCounters* counters = nullptr;
    const rte_ring* toKernel = nullptr;
  };
  std::vector<Worker> workers;
  std::vector<Port> ports;
  std::vector<ExceptionPort> exceptionPorts;  // empty: no exception path, no exception metrics
  uint32_t exceptionRingSize = 0;             // dpdk.exception.ringSize
  const AffinityTable* affinity = nullptr;  // null: not reported
  const DpdkProvider* provider = nullptr;   // frontend index occupancy; null: not reported
  uint64_t tscHz = 0;                       // for the loop histogram in seconds
  bool xstats = true;                       // read rte_eth_xstats of the ports
};

class DatapathMetrics : public prometheus::Collectable {
 public:
  explicit DatapathMetrics(DatapathSources sources) : sources_(std::move(sources)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  DatapathSources sources_;
};

}  // namespace nicproxy
