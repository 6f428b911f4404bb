#include "dpdk_app/datapath_metrics.hpp"

#include <limits>
#include <string>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include "dpdk_app/affinity.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "dpdk_app/exception_path.hpp"

namespace nicproxy {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(const char* name, const char* help, MetricType type) { return MetricFamily{name, help, type, {}}; }

void add(MetricFamily& f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

double asDouble(uint64_t value) { return static_cast<double>(value); }

/// One family per worker counter, labelled by worker.
struct WorkerFamily {
  const char* name;
  const char* help;
  MetricType type;
  uint64_t (*value)(const WorkerCounters&, const DatapathSources::Worker&);
};

const WorkerFamily kWorkerFamilies[] = {
    {"nicproxy_worker_packets_total",
     "Packets the worker processed: received on its queues, and taken from its redirect ring.", MetricType::Counter,
     [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.rxPackets.load(); }},
    {"nicproxy_worker_loops_total", "Iterations of the worker's polling loop; /livez fails when they stop.",
     MetricType::Counter, [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.loops.load(); }},
    {"nicproxy_flows", "Connections in the worker's flow table.", MetricType::Gauge,
     [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.flowsInTable.load(); }},
    {"nicproxy_flows_capacity", "Connections the worker's flow table holds (dpdk.flowTableSize).", MetricType::Gauge,
     [](const WorkerCounters&, const DatapathSources::Worker& w) { return uint64_t{w.flowCapacity}; }},
    {"nicproxy_flows_created_total", "Connections the worker created.", MetricType::Counter,
     [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.flowsCreated.load(); }},
    {"nicproxy_flows_expired_total", "Connections removed from the worker's flow table by their timeout.",
     MetricType::Counter, [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.flowsExpired.load(); }},
    {"nicproxy_flows_refused_total", "New connections refused because the worker's flow table was full.",
     MetricType::Counter,
     [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.dropCount(DropReason::FlowTableFull); }},
    {"nicproxy_flows_early_dropped_total",
     "Connections not yet established (or closing) evicted to make room for new ones.", MetricType::Counter,
     [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.flowsEarlyDropped.load(); }},
    {"nicproxy_redirected_packets_total",
     "Replies the worker handed to the worker that owns their connection, through its redirect ring.",
     MetricType::Counter, [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.redirected.load(); }},
    {"nicproxy_redirect_ring_drops_total",
     "Replies the worker dropped because the owning worker's redirect ring was full.", MetricType::Counter,
     [](const WorkerCounters& c, const DatapathSources::Worker&) { return c.dropCount(DropReason::RedirectFull); }},
    {"nicproxy_redirect_ring_packets", "Packets waiting in the worker's redirect ring.", MetricType::Gauge,
     [](const WorkerCounters&, const DatapathSources::Worker& w) {
       return w.redirect != nullptr ? uint64_t{rte_ring_count(w.redirect)} : uint64_t{0};
     }},
};

struct PortFamily {
  const char* name;
  const char* help;
  const Counter PortCounters::*counter;
};

const PortFamily kPortFamilies[] = {
    {"nicproxy_port_rx_packets_total", "Frames the worker received from the port's queue.", &PortCounters::rxPackets},
    {"nicproxy_port_rx_bytes_total", "Bytes of the frames the worker received from the port's queue (no FCS).",
     &PortCounters::rxBytes},
    {"nicproxy_port_tx_packets_total", "Frames the port's queue took from the worker for sending.",
     &PortCounters::txPackets},
    {"nicproxy_port_tx_bytes_total", "Bytes of the frames the port's queue took from the worker (no FCS).",
     &PortCounters::txBytes},
    {"nicproxy_port_to_kernel_packets_total",
     "Frames received on the port that the worker handed to the port's exception interface (onto its ring).",
     &PortCounters::toKernelPackets},
    {"nicproxy_port_from_kernel_packets_total",
     "Frames the kernel sent on the port's exception interface that the worker took from its ring.",
     &PortCounters::fromKernelPackets},
};

// The drop reasons the exception thread counts (ExceptionCounters::drops).
constexpr DropReason kExceptionDropReasons[] = {DropReason::KernelFrameMalformed, DropReason::KernelFrameTooLong,
                                                DropReason::KernelRingFull, DropReason::TxFull};

void exceptionFamilies(const DatapathSources& sources, std::vector<MetricFamily>& out) {
  if (sources.exceptionPorts.empty()) return;
  MetricFamily info = family("nicproxy_exception_interface_info",
                             "The port's exception interface: the kernel interface's name and kind (value 1).",
                             MetricType::Gauge);
  MetricFamily packets = family("nicproxy_exception_packets_total",
                                "Frames the exception thread moved: written into the port's exception interface "
                                "(to_kernel), or read from it and handed to a worker (from_kernel).",
                                MetricType::Counter);
  MetricFamily bytes =
      family("nicproxy_exception_bytes_total", "Bytes of those frames.", MetricType::Counter);
  MetricFamily drops = family("nicproxy_exception_drops_total",
                              "Frames the exception thread dropped, by reason (docs/drop-reasons.md): from the kernel "
                              "malformed, too long for the port's MTU, or the worker's ring full; tx_full: the "
                              "interface refused frames for the kernel.",
                              MetricType::Counter);
  MetricFamily toKernel = family("nicproxy_exception_to_kernel_ring_packets",
                                 "Frames waiting in the port's ring to its exception interface.", MetricType::Gauge);
  for (const DatapathSources::ExceptionPort& p : sources.exceptionPorts) {
    const ExceptionCounters& c = *p.counters;
    add(info, {{"port", p.name}, {"interface", p.interface}, {"kind", p.kind}}, 1);
    add(packets, {{"port", p.name}, {"direction", "to_kernel"}}, asDouble(c.toKernelPackets.load()));
    add(packets, {{"port", p.name}, {"direction", "from_kernel"}}, asDouble(c.fromKernelPackets.load()));
    add(bytes, {{"port", p.name}, {"direction", "to_kernel"}}, asDouble(c.toKernelBytes.load()));
    add(bytes, {{"port", p.name}, {"direction", "from_kernel"}}, asDouble(c.fromKernelBytes.load()));
    for (const DropReason reason : kExceptionDropReasons) {
      add(drops, {{"port", p.name}, {"reason", dropReasonName(reason)}}, asDouble(c.dropCount(reason)));
    }
    add(toKernel, {{"port", p.name}}, p.toKernel != nullptr ? asDouble(rte_ring_count(p.toKernel)) : 0.0);
  }
  MetricFamily fromKernel = family("nicproxy_exception_from_kernel_ring_packets",
                                   "Frames from the exception interfaces waiting in the worker's ring.",
                                   MetricType::Gauge);
  for (const DatapathSources::Worker& w : sources.workers) {
    add(fromKernel, {{"worker", std::to_string(w.index)}},
        w.fromKernel != nullptr ? asDouble(rte_ring_count(w.fromKernel)) : 0.0);
  }
  MetricFamily capacity = family("nicproxy_exception_ring_capacity",
                                 "Frames each exception ring holds (dpdk.exception.ringSize less one).",
                                 MetricType::Gauge);
  add(capacity, {}, sources.exceptionRingSize > 0 ? asDouble(sources.exceptionRingSize - 1) : 0.0);
  for (MetricFamily* f : {&info, &packets, &bytes, &drops, &toKernel, &fromKernel, &capacity}) out.push_back(std::move(*f));
}

MetricFamily loopHistogram(const DatapathSources& sources) {
  MetricFamily f = family("nicproxy_worker_loop_duration_seconds",
                          "Length of the worker's polling loop iterations, start to start: a long one is a pause in "
                          "forwarding (another thread on the core, an interrupt, a slow chore).",
                          MetricType::Histogram);
  const double hz = sources.tscHz != 0 ? static_cast<double>(sources.tscHz) : 1.0;
  for (const DatapathSources::Worker& w : sources.workers) {
    ClientMetric m;
    m.label = {{"worker", std::to_string(w.index)}};
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kLoopBuckets; ++b) {
      cumulative += w.counters->loopBuckets[b].load();
      const double bound = b < kLoopBucketsUs.size() ? kLoopBucketsUs[b] / 1e6 : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(w.counters->loopCycles.load()) / hz;
    f.metric.push_back(std::move(m));
  }
  return f;
}

void portXstats(const DatapathSources& sources, std::vector<MetricFamily>& out) {
  MetricFamily f = family("nicproxy_port_xstats_total",
                          "The port's extended statistics (rte_eth_xstats), as its driver names them.",
                          MetricType::Counter);
  for (const DatapathSources::Port& port : sources.ports) {
    const int count = rte_eth_xstats_get_names(port.portId, nullptr, 0);
    if (count <= 0) continue;
    std::vector<rte_eth_xstat_name> names(static_cast<size_t>(count));
    std::vector<rte_eth_xstat> values(static_cast<size_t>(count));
    const int named = rte_eth_xstats_get_names(port.portId, names.data(), static_cast<unsigned>(count));
    const int got = rte_eth_xstats_get(port.portId, values.data(), static_cast<unsigned>(count));
    if (named != count || got != count) continue;  // the port changed under us: skip it this scrape
    for (const rte_eth_xstat& x : values) {
      if (x.id >= names.size()) continue;
      add(f, {{"port", port.name}, {"stat", names[x.id].name}}, asDouble(x.value));
    }
  }
  out.push_back(std::move(f));
}

}  // namespace

std::vector<MetricFamily> DatapathMetrics::Collect() const {
  std::vector<MetricFamily> out;
  for (const WorkerFamily& wf : kWorkerFamilies) {
    MetricFamily f = family(wf.name, wf.help, wf.type);
    for (const DatapathSources::Worker& w : sources_.workers) {
      add(f, {{"worker", std::to_string(w.index)}}, asDouble(wf.value(*w.counters, w)));
    }
    out.push_back(std::move(f));
  }
  MetricFamily info = family("nicproxy_worker_info", "The lcore each worker runs on (value 1).", MetricType::Gauge);
  for (const DatapathSources::Worker& w : sources_.workers) {
    add(info, {{"worker", std::to_string(w.index)}, {"lcore", std::to_string(w.lcore)}}, 1);
  }
  out.push_back(std::move(info));

  for (const PortFamily& pf : kPortFamilies) {
    MetricFamily f = family(pf.name, pf.help, MetricType::Counter);
    for (const DatapathSources::Worker& w : sources_.workers) {
      for (const DatapathSources::Port& p : sources_.ports) {
        add(f, {{"worker", std::to_string(w.index)}, {"port", p.name}},
            asDouble((w.counters->ports[p.index].*pf.counter).load()));
      }
    }
    out.push_back(std::move(f));
  }

  // Every reason, zeros included: a series exists before its first drop, so that rate()
  // and alerts see it start from 0 (the series count is fixed: workers x reasons).
  MetricFamily drops = family("nicproxy_drops_total", "Packets the worker dropped, by reason (docs/drop-reasons.md).",
                              MetricType::Counter);
  for (const DatapathSources::Worker& w : sources_.workers) {
    for (size_t r = 0; r < kDropReasonCount; ++r) {
      add(drops, {{"worker", std::to_string(w.index)}, {"reason", dropReasonName(static_cast<DropReason>(r))}},
          asDouble(w.counters->drops[r].load()));
    }
  }
  out.push_back(std::move(drops));
  out.push_back(loopHistogram(sources_));

  if (sources_.affinity != nullptr) {
    MetricFamily records = family("nicproxy_affinity_records",
                                  "Live ClientIP session affinity records (shared by the workers).", MetricType::Gauge);
    add(records, {}, asDouble(sources_.affinity->liveRecords(rte_rdtsc())));
    out.push_back(std::move(records));
    MetricFamily capacity =
        family("nicproxy_affinity_capacity", "Slots of the ClientIP session affinity table.", MetricType::Gauge);
    add(capacity, {}, AffinityTable::kSlots);
    out.push_back(std::move(capacity));
  }
  if (sources_.provider != nullptr) {
    const DpdkProvider::IndexOccupancy o = sources_.provider->indexOccupancy();
    MetricFamily used = family("nicproxy_frontend_index_slots",
                               "Slots in use in the workers' frontend index: frontends (VIP, port, protocol) and the "
                               "node's addresses, erased keys awaiting their grace period included.",
                               MetricType::Gauge);
    add(used, {{"table", "frontends"}}, asDouble(o.frontends));
    add(used, {{"table", "addresses"}}, asDouble(o.addresses));
    out.push_back(std::move(used));
    MetricFamily capacity = family("nicproxy_frontend_index_capacity",
                                   "Slots of the workers' frontend index; past it a sync builds a larger index.",
                                   MetricType::Gauge);
    add(capacity, {{"table", "frontends"}}, asDouble(o.frontendCapacity));
    add(capacity, {{"table", "addresses"}}, asDouble(o.addressCapacity));
    out.push_back(std::move(capacity));
  }
  exceptionFamilies(sources_, out);
  if (sources_.xstats) portXstats(sources_, out);
  return out;
}

}  // namespace nicproxy
