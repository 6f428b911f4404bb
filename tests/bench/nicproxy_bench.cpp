// nicproxy-bench: drives the real worker code (processBurst, flushTx, housekeeping:
// the body of runWorker's loop) with generated TCP traffic on in-memory
// rings (an ethdev made from rte_rings by the net_ring PMD, no NIC), and, from the same
// run on the same rings, an io-forward baseline (rx burst, swap MACs, tx burst).
//
// What is timed: from rte_eth_rx_burst to the end of flushTx (and the expiry slice),
// per burst of 32. What is not: the generator (allocating mbufs, writing frames,
// enqueueing them on the rx ring) and freeing what the worker transmitted. Both run on
// the worker's own lcore, between the timed sections, so one core does both; the
// numbers are the worker's cycles per packet.
//
// This host is shared: another process may take the worker's core in the middle of a
// timed burst, and that burst then counts milliseconds for 32 packets. Each burst is
// therefore also checked against the thread's context-switch count (getrusage
// RUSAGE_THREAD, read outside the timed part): the "Mpps" columns count every burst,
// the "clean" ones only the bursts the worker ran through without being switched out,
// and "sw%" says what share of bursts was left out. Both are printed; neither hides
// the other.
//
// Also measured: new connections per second (the SYN of every flow, before the
// established phase; the SYN-ACK and ACK that complete each handshake follow, untimed), building the service table, publishing one changed service, and
// with --update-pauses, the loop lengths of the real runWorker() without updates and
// while the control thread publishes a changed service every 50 ms.
//
// With --scrape-compare R: the established traffic again in R rounds, each a chunk with
// nobody reading the counters and a chunk while another thread scrapes the data path's
// metrics (DatapathMetrics::Collect and the Prometheus text format, as GET /metrics does)
// at its start and then every --scrape-every ms: the two rates are printed side by side.
//
// With --exception-share PCT: the port gets an exception path (exception_path.hpp) as App
// builds it, its toKernel ring and a fromKernel ring per worker, and a thread standing in
// for the kernel interface (kernel_standin.hpp: it frees what reaches toKernel, on the
// exception thread's CPU); then the established traffic again in rounds of chunks: service
// traffic alone, and with PCT % of the packets TCP to the port address on a port without
// a frontend (which the workers hand to the kernel), each with and (one worker) without
// the exception path. Printed: each configuration's rate, and what the frames for the
// kernel cost the worker, per packet and per frame.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <prometheus/text_serializer.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "dpdk_app/datapath_metrics.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "dpdk_app/worker.hpp"
#include "dpdk_app/exception_path.hpp"
#include "tests/bench/kernel_standin.hpp"
#include "tests/bench/traffic.hpp"
#include "tests/bench/update_pauses.hpp"

namespace nicproxy::bench {
namespace {

struct Options {
  uint32_t services = 10000;
  uint32_t endpoints = 10;
  uint32_t flows = 100000;
  uint16_t packetSize = 64;
  double newShare = 0;
  uint16_t workers = 1;
  uint64_t packets = 10'000'000;  // per worker, established phase
  IngressChecks ingress;          // which ingress checks the worker runs (--ingress-checks)
  bool nicChecksum = false;       // mark IPv4 headers verified, as a NIC with rx offload does
  unsigned ingressCompare = 0;    // rounds of the interleaved check comparison; 0: none
  unsigned scrapeCompare = 0;     // rounds of the interleaved with/without scrape comparison; 0: none
  unsigned scrapeEveryMs = 1000;  // while scraping: one at the start of a chunk, then this often
  // --exception-share: percent of the established packets bound for the exception path;
  // negative: no exception path at all (the option not given).
  double exceptionShare = -1;
  unsigned exceptionRounds = 5;   // chunks per configuration, interleaved
  uint32_t exceptionRate = 0;     // dpdk.exception.packetsPerSecond, all workers; 0: unlimited
  uint32_t exceptionBurst = 2000; // dpdk.exception.burst
  uint32_t exceptionRing = 4096;  // dpdk.exception.ringSize
  bool exceptionCompare() const { return exceptionShare >= 0; }
};

/// The configurations --exception-share compares: the port with and without an exception
/// path (without one, the frames for the kernel are dropped as before: NoService), each
/// with service traffic only and with the share of frames for the kernel. The ones without
/// a path switch the plane's rings under the worker: one worker only.
struct ExceptionConfig {
  const char* name;
  bool path;
  bool exceptions;
};
constexpr std::array<ExceptionConfig, 4> kExceptionConfigs{{{"path, service only", true, false},
                                                            {"path, with share", true, true},
                                                            {"no path, service only", false, false},
                                                            {"no path, with share", false, true}}};
/// The TCP port the frames for the kernel go to on the port address: no frontend uses it.
constexpr uint16_t kExceptionTcpPort = 22;

/// The configurations --ingress-compare runs: every check, none, and each alone.
struct NamedChecks {
  const char* name;
  IngressChecks checks;
};
constexpr std::array<NamedChecks, 6> kComparedChecks{{{"all", {true, true, true, true}},
                                                      {"none", {false, false, false, false}},
                                                      {"mac", {true, false, false, false}},
                                                      {"martian", {false, true, false, false}},
                                                      {"checksum", {false, false, true, false}},
                                                      {"options", {false, false, false, true}}}};

/// "all", "none", or a comma-separated list of mac, martian, checksum, options.
std::optional<IngressChecks> parseIngressChecks(const std::string& text) {
  if (text == "all") return IngressChecks{};
  IngressChecks checks{false, false, false, false};
  if (text == "none") return checks;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string name = text.substr(start, comma - start);
    if (name == "mac") checks.sourceMac = true;
    else if (name == "martian") checks.martianSource = true;
    else if (name == "checksum") checks.ipChecksum = true;
    else if (name == "options") checks.ipOptions = true;
    else return std::nullopt;
    start = comma + 1;
  }
  return checks;
}

std::string describeIngressChecks(const IngressChecks& c) {
  std::string out;
  for (const auto& [on, name] : {std::pair{c.sourceMac, "mac"}, std::pair{c.martianSource, "martian"},
                                 std::pair{c.ipChecksum, "checksum"}, std::pair{c.ipOptions, "options"}}) {
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out.empty() ? "none" : out;
}

/// Cycles and packets of one phase, over all bursts and over the bursts the thread was
/// not switched out in.
struct Tally {
  uint64_t cycles = 0, packets = 0;
  uint64_t cleanCycles = 0, cleanPackets = 0;
  uint64_t bursts = 0, switchedBursts = 0;
  double perPacket() const { return static_cast<double>(cycles) / static_cast<double>(std::max<uint64_t>(1, packets)); }
  double cleanPerPacket() const {
    return static_cast<double>(cleanCycles) / static_cast<double>(std::max<uint64_t>(1, cleanPackets));
  }
  double switchedShare() const {
    return static_cast<double>(switchedBursts) / static_cast<double>(std::max<uint64_t>(1, bursts));
  }
  Tally& operator+=(const Tally& t) {
    cycles += t.cycles;
    packets += t.packets;
    cleanCycles += t.cleanCycles;
    cleanPackets += t.cleanPackets;
    bursts += t.bursts;
    switchedBursts += t.switchedBursts;
    return *this;
  }
};

struct Result {
  Options options;
  double workerCycles = 0;    // per packet
  double baselineCycles = 0;  // per packet
  double synCycles = 0;       // per new connection (SYN phase)
  double workerClean = 0;     // the same, over bursts without a context switch
  double baselineClean = 0;
  double synClean = 0;
  double switchedShare = 0;   // share of the worker phase's bursts left out of workerClean
  uint64_t dropped = 0;
  double buildMs = 0;
  double publishOneMs = 0;
  // --ingress-compare, per kComparedChecks entry: cycles per packet over all bursts and
  // over the clean ones, and the median of the rounds' clean cycles per packet.
  std::array<double, kComparedChecks.size()> compareCycles{}, compareClean{}, compareMedian{};
  // --scrape-compare: cycles per packet without and with scrapes (all bursts, clean
  // bursts), the scrapes made and their mean and longest time (Collect + text format).
  double quietCycles = 0, quietClean = 0, scrapedCycles = 0, scrapedClean = 0;
  uint64_t scrapes = 0;
  double scrapeMeanMs = 0, scrapeMaxMs = 0, scrapeSeconds = 0;
  size_t scrapeBytes = 0;
  // --exception-share, per kExceptionConfigs entry (averaged over the workers): cycles per
  // packet over all bursts and the clean ones, the median of the rounds' clean cycles per
  // packet, and the share of the packets that were for the kernel.
  std::array<double, kExceptionConfigs.size()> exceptionCycles{}, exceptionClean{}, exceptionMedian{},
      exceptionActualShare{};
  size_t exceptionConfigsRun = 0;
  uint64_t toKernel = 0, drained = 0, exceptionRateLimited = 0, exceptionRingFull = 0, noService = 0;
  std::string standInCpus, workerCpus;
};


/// One worker's rings, tables and measurements.
struct Lane {
  uint16_t index = 0;
  uint16_t portId = 0;
  rte_ring* rx = nullptr;
  rte_ring* tx = nullptr;
  rte_mempool* pool = nullptr;
  std::unique_ptr<FlowTable> flows;
  WorkerContext ctx;
  const Options* options = nullptr;
  const FastServiceTable* services = nullptr;
  Tally syn, worker, baseline;
  std::array<Tally, kComparedChecks.size()> compared;                    // --ingress-compare
  std::array<std::vector<double>, kComparedChecks.size()> comparedRounds;  // clean cycles per round
  uint64_t transmitted = 0;
  Tally quiet, scraped;                   // --scrape-compare
  std::atomic<bool>* scraping = nullptr;  // --scrape-compare: set while a "with" chunk runs
  KernelStandIn* kernel = nullptr;        // --exception-share: the exception path's rings
  std::array<Tally, kExceptionConfigs.size()> exception;                 // --exception-share
  std::array<std::vector<double>, kExceptionConfigs.size()> exceptionRounds;  // clean cycles per round
  std::array<uint64_t, kExceptionConfigs.size()> exceptionFrames{};     // frames for the kernel sent
};

void drainTx(Lane& lane) {
  rte_mbuf* done[64];
  unsigned n;
  while ((n = rte_ring_sc_dequeue_burst(lane.tx, reinterpret_cast<void**>(done), 64, nullptr)) > 0) {
    lane.transmitted += n;
    rte_pktmbuf_free_bulk(done, n);
  }
}

/// Sends `total` frames made by `make(i, mbuf)` through the worker (or the io-forward
/// baseline), timing only the data path's part.
/// Voluntary and involuntary context switches of the calling thread so far.
uint64_t contextSwitches() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return static_cast<uint64_t>(usage.ru_nvcsw) + static_cast<uint64_t>(usage.ru_nivcsw);
}

template <typename Make>
void drive(Lane& lane, uint64_t total, bool baseline, Make make, Tally& tally) {
  rte_mbuf* burst[kBurstSize];
  rte_mbuf* received[kBurstSize];
  for (uint64_t sent = 0; sent < total;) {
    const auto n = static_cast<uint16_t>(std::min<uint64_t>(kBurstSize, total - sent));
    if (rte_pktmbuf_alloc_bulk(lane.pool, burst, n) != 0) throw std::runtime_error("bench pool empty");
    for (uint16_t i = 0; i < n; ++i) make(sent + i, burst[i]);
    if (lane.options->nicChecksum) {
      // What a NIC with RTE_ETH_RX_OFFLOAD_IPV4_CKSUM hands over (net_ring passes the
      // mbuf itself): the worker trusts the verdict instead of summing the header.
      for (uint16_t i = 0; i < n; ++i) burst[i]->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    }
    rte_ring_sp_enqueue_burst(lane.rx, reinterpret_cast<void**>(burst), n, nullptr);
    sent += n;

    const uint64_t switchesBefore = contextSwitches();
    const uint64_t start = rte_rdtsc();
    const uint16_t got = rte_eth_rx_burst(lane.portId, lane.ctx.queue, received, kBurstSize);
    if (baseline) {
      for (uint16_t i = 0; i < got; ++i) {
        auto* eth = rte_pktmbuf_mtod(received[i], rte_ether_hdr*);
        const rte_ether_addr source = eth->src_addr;
        eth->src_addr = eth->dst_addr;
        eth->dst_addr = source;
      }
      const uint16_t out = rte_eth_tx_burst(lane.portId, lane.ctx.queue, received, got);
      for (uint16_t i = out; i < got; ++i) rte_pktmbuf_free(received[i]);
    } else {
      processBurst(lane.ctx, lane.services, 0, received, got, start);
      // As runWorker polls it when a port has an exception path (empty here: nothing
      // comes back from the stand-in for the kernel).
      if (!lane.ctx.plane->fromKernel.empty()) processFromKernel(lane.ctx, lane.services, start);
      flushTx(lane.ctx);
      housekeeping(lane.ctx, lane.services, start);
    }
    const uint64_t cycles = rte_rdtsc() - start;
    tally.cycles += cycles;
    tally.packets += got;
    ++tally.bursts;
    if (contextSwitches() == switchesBefore) {
      tally.cleanCycles += cycles;
      tally.cleanPackets += got;
    } else {
      ++tally.switchedBursts;
    }
    drainTx(lane);
  }
}

int runLane(void* arg) {
  Lane& lane = *static_cast<Lane*>(arg);
  const Options& o = *lane.options;
  const uint16_t w = o.workers;
  // This lane's flows: f = index, index + W, ...
  const uint64_t myFlows = (o.flows + w - 1 - lane.index) / w;
  auto flowId = [&](uint64_t k) { return lane.index + k * w; };

  drive(lane, myFlows, false,
        [&](uint64_t k, rte_mbuf* m) { writeFrame(m, flowTuple(flowId(k), o.services), RTE_TCP_SYN_FLAG, o.packetSize); },
        lane.syn);
  // The rest of the handshake, untimed: each backend's SYN-ACK to the SNAT port the worker
  // picked (read from its flow table: this lcore owns it), then the client's ACK. A data
  // path that tracks TCP as conntrack does takes the flows as established only now.
  std::vector<FlowKey> replies(myFlows);
  for (uint64_t k = 0; k < myFlows; ++k) {
    const FlowTuple t = flowTuple(flowId(k), o.services);
    const FlowKey forward{rte_cpu_to_be_32(t.client), rte_cpu_to_be_32(t.vip), rte_cpu_to_be_16(t.clientPort),
                          rte_cpu_to_be_16(80), IPPROTO_TCP, {0, 0, 0}};
    uint64_t value = 0;
    if (!lane.flows->lookup(forward, value)) throw std::runtime_error("bench: a SYN made no flow");
    replies[k] = lane.flows->entry(FlowTable::entryIndex(value)).reverse;
  }
  Tally handshake;
  drive(lane, myFlows, false,
        [&](uint64_t k, rte_mbuf* m) {
          const FlowKey& r = replies[k];
          writeSynAck(m, r.sourceAddress, r.sourcePort, r.destinationAddress, r.destinationPort);
        },
        handshake);
  drive(lane, myFlows, false,
        [&](uint64_t k, rte_mbuf* m) { writeFrame(m, flowTuple(flowId(k), o.services), RTE_TCP_ACK_FLAG, o.packetSize); },
        handshake);

  uint64_t rng = 0x9e3779b97f4a7c15ull ^ (lane.index + 1);
  uint64_t fresh = 0;  // new flows in the established phase: ids beyond o.flows
  const auto newThreshold = static_cast<uint64_t>(o.newShare * 1'000'000);
  auto established = [&](uint64_t, rte_mbuf* m) {
    if (newThreshold != 0 && xorshift(rng) % 1'000'000 < newThreshold) {
      writeFrame(m, flowTuple(o.flows + lane.index + (fresh++) * w, o.services), RTE_TCP_SYN_FLAG, o.packetSize);
    } else {
      writeFrame(m, flowTuple(flowId(xorshift(rng) % myFlows), o.services), RTE_TCP_ACK_FLAG, o.packetSize);
    }
  };
  drive(lane, o.packets, false, established, lane.worker);
  if (o.ingressCompare > 0) {
    // Every configuration on the same flows and tables, interleaved in short chunks, so
    // that a busy spell of a shared host falls on all of them alike. One worker only:
    // the checks are switched while no other lcore reads them.
    const uint64_t chunk = std::max<uint64_t>(kBurstSize, o.packets / o.ingressCompare);
    for (unsigned round = 0; round < o.ingressCompare; ++round) {
      for (size_t c = 0; c < kComparedChecks.size(); ++c) {
        lane.ctx.plane->ingress = kComparedChecks[c].checks;
        Tally t;
        drive(lane, chunk, false, established, t);
        lane.compared[c] += t;
        lane.comparedRounds[c].push_back(t.cleanPerPacket());
      }
    }
    lane.ctx.plane->ingress = o.ingress;
  }
  if (o.scrapeCompare > 0) {
    // Without and with a scraper, interleaved on the same flows, so that a busy spell of
    // the shared host falls on both alike.
    const uint64_t chunk = std::max<uint64_t>(kBurstSize, o.packets / o.scrapeCompare);
    for (unsigned round = 0; round < o.scrapeCompare; ++round) {
      drive(lane, chunk, false, established, lane.quiet);
      if (lane.index == 0) lane.scraping->store(true);
      drive(lane, chunk, false, established, lane.scraped);
      if (lane.index == 0) lane.scraping->store(false);
    }
  }
  if (o.exceptionCompare()) {
    // Service traffic alone and with the share of frames for the kernel (TCP to the port
    // address on a port no frontend has, from the flows' clients), with and without an
    // exception path, interleaved in short chunks on the same flows.
    const auto threshold = static_cast<uint64_t>(o.exceptionShare / 100 * 1'000'000);
    const uint16_t payload = o.packetSize > 58 ? static_cast<uint16_t>(o.packetSize - 58) : 0;  // 54 + FCS
    uint64_t exceptionRng = 0x2545f4914f6cdd1dull ^ (lane.index + 1);
    const uint64_t chunk = std::max<uint64_t>(kBurstSize, o.packets / o.exceptionRounds);
    const size_t configs = o.workers == 1 ? kExceptionConfigs.size() : 2;
    for (unsigned round = 0; round < o.exceptionRounds; ++round) {
      for (size_t c = 0; c < configs; ++c) {
        const ExceptionConfig& config = kExceptionConfigs[c];
        if (o.workers == 1) {
          if (config.path) lane.kernel->attach();
          else lane.kernel->detach();
        }
        uint64_t& frames = lane.exceptionFrames[c];
        auto mixed = [&](uint64_t i, rte_mbuf* m) {
          if (!config.exceptions || xorshift(exceptionRng) % 1'000'000 >= threshold) {
            established(i, m);
            return;
          }
          const FlowTuple t = flowTuple(flowId(xorshift(exceptionRng) % myFlows), o.services);
          FrameEnds ends{};
          std::copy(kClientMac, kClientMac + 6, ends.sourceMac.addr_bytes);
          std::copy(kPortMac, kPortMac + 6, ends.destinationMac.addr_bytes);
          ends.source = t.client;
          ends.destination = kPortAddress;
          ends.sourcePort = t.clientPort;
          ends.destinationPort = kExceptionTcpPort;
          writeTcp(m, ends, RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, kClientIsn + 1, kBackendIsn + 1, payload, nullptr);
          ++frames;
        };
        Tally t;
        drive(lane, chunk, false, mixed, t);
        lane.exception[c] += t;
        lane.exceptionRounds[c].push_back(t.cleanPerPacket());
      }
    }
    lane.kernel->attach();
  }
  rng = 0x9e3779b97f4a7c15ull ^ (lane.index + 1);
  fresh = 0;
  drive(lane, o.packets, true, established, lane.baseline);
  return 0;
}

struct RteRingDeleter {
  void operator()(rte_ring* r) const { rte_ring_free(r); }
};

Result runOnce(const Options& o, bool quiet) {
  static int sequence = 0;
  ++sequence;
  const std::string tag = std::to_string(sequence);
  const int socket = static_cast<int>(rte_socket_id());
  std::vector<unsigned> lcores;
  for (unsigned l = rte_get_next_lcore(-1, 1, 0); l < RTE_MAX_LCORE; l = rte_get_next_lcore(l, 1, 0)) {
    lcores.push_back(l);
  }
  if (lcores.size() < o.workers) throw std::runtime_error("not enough worker lcores for --workers");

  std::vector<std::unique_ptr<rte_ring, RteRingDeleter>> rings;
  std::vector<rte_ring*> rx, tx;
  for (uint16_t i = 0; i < o.workers; ++i) {
    rings.emplace_back(rte_ring_create(("brx" + tag + "_" + std::to_string(i)).c_str(), 1024, socket,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ));
    rx.push_back(rings.back().get());
    rings.emplace_back(rte_ring_create(("btx" + tag + "_" + std::to_string(i)).c_str(), 1024, socket,
                                       RING_F_SP_ENQ | RING_F_SC_DEQ));
    tx.push_back(rings.back().get());
  }
  const int port = rte_eth_from_rings(("net_ring_bench" + tag).c_str(), rx.data(), o.workers, tx.data(), o.workers,
                                      static_cast<unsigned>(socket));
  if (port < 0) throw std::runtime_error("rte_eth_from_rings failed");
  // With an exception path, room for the frames its rings hold as well.
  const uint32_t ringFrames = o.exceptionCompare() ? o.exceptionRing * (1u + o.workers) : 0;
  rte_mempool* pool = rte_pktmbuf_pool_create(("bpool" + tag).c_str(), 4096 * o.workers + 1023 + ringFrames, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (pool == nullptr) throw std::runtime_error("bench mempool");
  rte_eth_conf conf{};
  if (rte_eth_dev_configure(static_cast<uint16_t>(port), o.workers, o.workers, &conf) != 0) {
    throw std::runtime_error("configure ring port");
  }
  for (uint16_t q = 0; q < o.workers; ++q) {
    rte_eth_rx_queue_setup(static_cast<uint16_t>(port), q, 1024, static_cast<unsigned>(socket), nullptr, pool);
    rte_eth_tx_queue_setup(static_cast<uint16_t>(port), q, 1024, static_cast<unsigned>(socket), nullptr);
  }
  if (rte_eth_dev_start(static_cast<uint16_t>(port)) != 0) throw std::runtime_error("start ring port");

  DataPlane plane;
  PortInfo info;
  info.portId = static_cast<uint16_t>(port);
  std::copy(kPortMac, kPortMac + 6, info.mac.addr_bytes);
  info.address = rte_cpu_to_be_32(kPortAddress);
  info.mask = rte_cpu_to_be_32(0xff000000);
  plane.ports = {info};
  plane.workerCount = o.workers;
  plane.timeouts = Timeouts::fromTscHz(rte_get_tsc_hz());
  plane.ingress = o.ingress;
  for (uint32_t i = 0; i < kBackendAddresses; ++i) {
    rte_ether_addr mac{{0x02, 0, 0, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}};
    plane.neighbors.addPermanent(rte_cpu_to_be_32(kBackendBase + i), mac);  // as dpdk.ports[].neighbors
  }
  const size_t qsbrSize = rte_rcu_qsbr_get_memsize(o.workers);
  auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bench_qsbr", qsbrSize, RTE_CACHE_LINE_SIZE));
  rte_rcu_qsbr_init(qsbr, o.workers);
  plane.qsbr = qsbr;
  // --exception-share: the port's exception path as App sets it up (rings in the plane),
  // with a thread freeing what reaches the kernel's side; present in every phase but the
  // "no path" chunks.
  std::unique_ptr<KernelStandIn> kernel;
  if (o.exceptionCompare()) {
    kernel = std::make_unique<KernelStandIn>(plane, 0, o.exceptionRing, socket, tag);
    kernel->attach();
    kernel->start();
  }

  Result result;
  result.options = o;
  if (kernel) result.standInCpus = kernel->cpus();
  const ServiceTable table = makeServices(o.services, o.endpoints);
  auto provider = std::make_unique<DpdkProvider>(plane, std::vector<Ipv4Cidr>{}, socket);
  const auto t0 = std::chrono::steady_clock::now();
  provider->sync(table, {}, true);
  result.buildMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  {
    // One changed service: its last endpoint removed.
    ServiceTable::Map map = table.ports();
    auto changed = std::make_shared<ServicePort>(*map.begin()->second);
    if (changed->endpoints.size() > 1) changed->endpoints.pop_back();
    const ServicePortName name = changed->name;
    map[name] = changed;
    const ServiceTable next(std::move(map), 2);
    const auto t1 = std::chrono::steady_clock::now();
    provider->sync(next, {name}, false);
    result.publishOneMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t1).count();
  }

  const uint64_t newFlows = static_cast<uint64_t>(o.newShare * static_cast<double>(o.packets)) * 11 / 10 + 1024;
  std::vector<std::unique_ptr<Lane>> lanes;
  for (uint16_t i = 0; i < o.workers; ++i) {
    auto lane = std::make_unique<Lane>();
    lane->index = i;
    lane->portId = static_cast<uint16_t>(port);
    lane->rx = rx[i];
    lane->tx = tx[i];
    lane->pool = pool;
    // Room for every flow below the table's high-water mark (7/8), past which new
    // connections evict half-open ones (the SYN phase has nothing but half-open ones).
    lane->flows = std::make_unique<FlowTable>("bflows" + tag + "_" + std::to_string(i),
                                              static_cast<uint32_t>((o.flows / o.workers + newFlows) * 8 / 7 + 1024),
                                              socket);
    lane->ctx.index = i;
    lane->ctx.queue = i;
    lane->ctx.plane = &plane;
    lane->ctx.flows = lane->flows.get();
    lane->ctx.pool = pool;
    lane->options = &o;
    lane->services = provider->current();
    lane->kernel = kernel.get();
    if (o.exceptionRate != 0) {
      // As App splits dpdk.exception.packetsPerSecond over the workers.
      lane->ctx.exceptionLimiter = ReplyLimiter(rte_get_tsc_hz(), std::max<uint32_t>(1, o.exceptionRate / o.workers),
                                                o.exceptionBurst);
    }
    lanes.push_back(std::move(lane));
  }
  // --scrape-compare: the data path's metrics as the daemon serves them, over these lanes,
  // this port and a ClientIP affinity table of the daemon's size (its scan is most of a
  // scrape's work), scraped from this (the main) lcore's thread.
  std::atomic<bool> scraping{false}, lanesDone{false};
  AffinityTable affinity(socket);
  DatapathSources sources;
  for (const auto& lane : lanes) {
    sources.workers.push_back({lane->index, lcores[lane->index], &lane->ctx.counters, lane->flows->capacity(), nullptr});
    lane->scraping = &scraping;
  }
  sources.ports.push_back({0, static_cast<uint16_t>(port), "net_ring_bench" + tag});
  sources.affinity = &affinity;
  sources.provider = provider.get();
  sources.tscHz = rte_get_tsc_hz();
  const DatapathMetrics metrics(std::move(sources));
  std::vector<double> scrapeMs;
  std::thread scraper;
  if (o.scrapeCompare > 0) {
    scraper = std::thread([&] {
      bool wasOn = false;
      auto next = std::chrono::steady_clock::now();
      while (!lanesDone.load()) {
        const bool on = scraping.load();
        const auto now = std::chrono::steady_clock::now();
        if (on && (!wasOn || now >= next)) {
          const auto t = std::chrono::steady_clock::now();
          std::ostringstream text;
          prometheus::TextSerializer().Serialize(text, metrics.Collect());
          scrapeMs.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
          result.scrapeBytes = text.str().size();
          next = now + std::chrono::milliseconds(o.scrapeEveryMs);
        }
        wasOn = on;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  for (uint16_t i = 0; i < o.workers; ++i) rte_eal_remote_launch(runLane, lanes[i].get(), lcores[i]);
  rte_eal_mp_wait_lcore();
  lanesDone.store(true);
  if (scraper.joinable()) scraper.join();
  if (!scrapeMs.empty()) {
    result.scrapes = scrapeMs.size();
    double sum = 0;
    for (double ms : scrapeMs) sum += ms;
    result.scrapeMeanMs = sum / static_cast<double>(scrapeMs.size());
    result.scrapeMaxMs = *std::max_element(scrapeMs.begin(), scrapeMs.end());
  }

  double worker = 0, baseline = 0, syn = 0, workerClean = 0, baselineClean = 0, synClean = 0, switched = 0;
  for (const auto& lane : lanes) {
    worker += lane->worker.perPacket();
    baseline += lane->baseline.perPacket();
    syn += lane->syn.perPacket();
    workerClean += lane->worker.cleanPerPacket();
    baselineClean += lane->baseline.cleanPerPacket();
    synClean += lane->syn.cleanPerPacket();
    switched += lane->worker.switchedShare();
    result.dropped += lane->ctx.counters.totalDrops();
    if (!quiet && lane->ctx.counters.totalDrops() != 0) {
      spdlog::warn("worker {} dropped {} packets:\n{}", lane->index, lane->ctx.counters.totalDrops(),
                   formatCounters(lane->ctx.counters));
    }
  }
  result.workerCycles = worker / o.workers;
  result.baselineCycles = baseline / o.workers;
  result.synCycles = syn / o.workers;
  result.workerClean = workerClean / o.workers;
  result.baselineClean = baselineClean / o.workers;
  result.synClean = synClean / o.workers;
  result.switchedShare = switched / o.workers;
  for (const auto& lane : lanes) {
    result.quietCycles += lane->quiet.perPacket() / o.workers;
    result.quietClean += lane->quiet.cleanPerPacket() / o.workers;
    result.scrapedCycles += lane->scraped.perPacket() / o.workers;
    result.scrapedClean += lane->scraped.cleanPerPacket() / o.workers;
    result.scrapeSeconds = std::max(result.scrapeSeconds, static_cast<double>(lane->scraped.cycles) /
                                                              static_cast<double>(rte_get_tsc_hz()));
  }
  if (kernel) {
    kernel->stop();
    result.drained = kernel->drained();
    result.exceptionConfigsRun = o.workers == 1 ? kExceptionConfigs.size() : 2;
    for (const auto& lane : lanes) {
      for (size_t c = 0; c < result.exceptionConfigsRun; ++c) {
        const Tally& t = lane->exception[c];
        result.exceptionCycles[c] += t.perPacket() / o.workers;
        result.exceptionClean[c] += t.cleanPerPacket() / o.workers;
        std::vector<double> rounds = lane->exceptionRounds[c];
        std::sort(rounds.begin(), rounds.end());
        result.exceptionMedian[c] += rounds[rounds.size() / 2] / o.workers;
        result.exceptionActualShare[c] += static_cast<double>(lane->exceptionFrames[c]) /
                                          static_cast<double>(std::max<uint64_t>(1, t.packets)) / o.workers;
      }
      result.toKernel += lane->ctx.counters.ports[0].toKernelPackets.load();
      result.exceptionRateLimited += lane->ctx.counters.dropCount(DropReason::ExceptionRateLimited);
      result.exceptionRingFull += lane->ctx.counters.dropCount(DropReason::ExceptionRingFull);
      result.noService += lane->ctx.counters.dropCount(DropReason::NoService);
      result.workerCpus += (result.workerCpus.empty() ? "" : ", ") + std::string("worker ") +
                           std::to_string(lane->index) + " on lcore " + std::to_string(lcores[lane->index]) +
                           " (CPU " + std::to_string(rte_lcore_to_cpu_id(static_cast<int>(lcores[lane->index]))) + ")";
    }
  }
  for (size_t c = 0; c < kComparedChecks.size() && o.ingressCompare > 0; ++c) {
    Lane& lane = *lanes[0];
    result.compareCycles[c] = lane.compared[c].perPacket();
    result.compareClean[c] = lane.compared[c].cleanPerPacket();
    std::vector<double> rounds = lane.comparedRounds[c];
    std::sort(rounds.begin(), rounds.end());
    result.compareMedian[c] = rounds[rounds.size() / 2];
  }

  lanes.clear();
  provider.reset();
  kernel.reset();  // frees what its rings still hold: before the pool goes
  rte_free(qsbr);
  rte_eth_dev_stop(static_cast<uint16_t>(port));
  rte_eth_dev_close(static_cast<uint16_t>(port));
  rte_mempool_free(pool);
  return result;
}

void printHeader() {
  std::printf("%9s %5s %9s %5s %5s %3s | %8s %8s %7s | %8s %6s | %9s | %8s %7s %6s %9s %5s | %8s %8s\n", "services",
              "eps", "flows", "size", "new", "wk", "Mpps", "ns/pkt", "cyc/pkt", "io-fwd", "ratio", "conn/s", "clean",
              "cyc/pkt", "ratio", "conn/s", "sw%", "build ms", "pub1 ms");
}

void printResult(const Result& r) {
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const Options& o = r.options;
  const double mpps = hz / r.workerCycles / 1e6 * o.workers;
  const double baseMpps = hz / r.baselineCycles / 1e6 * o.workers;
  const double cleanMpps = hz / r.workerClean / 1e6 * o.workers;
  const double cleanBaseMpps = hz / r.baselineClean / 1e6 * o.workers;
  std::printf("%9u %5u %9u %5u %5.2f %3u | %8.2f %8.1f %7.1f | %8.2f %6.3f | %9.0f | %8.2f %7.1f %6.3f %9.0f %5.2f | "
              "%8.1f %8.2f\n",
              o.services, o.endpoints, o.flows, o.packetSize, o.newShare, o.workers, mpps, r.workerCycles / hz * 1e9,
              r.workerCycles, baseMpps, mpps / baseMpps, hz / r.synCycles * o.workers, cleanMpps, r.workerClean,
              cleanMpps / cleanBaseMpps, hz / r.synClean * o.workers, 100 * r.switchedShare, r.buildMs,
              r.publishOneMs);
  std::fflush(stdout);
}

void printComparison(const Result& r) {
  if (r.options.ingressCompare == 0) return;
  const double hz = static_cast<double>(rte_get_tsc_hz());
  std::printf("# ingress checks compared on the same flows and tables: %u rounds of %llu packets per configuration, "
              "interleaved; cost = extra clean cycles per packet (median of the rounds) over none\n",
              r.options.ingressCompare,
              static_cast<unsigned long long>(r.options.packets / r.options.ingressCompare));
  std::printf("%-9s %8s %11s %14s %15s %8s\n", "checks", "Mpps", "clean Mpps", "clean cyc/pkt", "median cyc/pkt",
              "cost");
  const double none = r.compareMedian[1];
  for (size_t c = 0; c < kComparedChecks.size(); ++c) {
    std::printf("%-9s %8.2f %11.2f %14.1f %15.1f %+7.1f%%\n", kComparedChecks[c].name, hz / r.compareCycles[c] / 1e6,
                hz / r.compareClean[c] / 1e6, r.compareClean[c], r.compareMedian[c],
                100 * (r.compareMedian[c] - none) / none);
  }
  std::fflush(stdout);
}

void printScrapeComparison(const Result& r) {
  if (r.options.scrapeCompare == 0) return;
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const unsigned w = r.options.workers;
  std::printf("# scrape compared on the same flows: %u rounds of %llu packets per worker without and with a scraper "
              "(Collect + text format, %zu bytes) at the start of each chunk and every %u ms: %llu scrapes in %.2f s "
              "of scraped chunks' data path time, mean %.2f ms, longest %.2f ms\n",
              r.options.scrapeCompare,
              static_cast<unsigned long long>(r.options.packets / r.options.scrapeCompare), r.scrapeBytes,
              r.options.scrapeEveryMs, static_cast<unsigned long long>(r.scrapes), r.scrapeSeconds, r.scrapeMeanMs,
              r.scrapeMaxMs);
  std::printf("%-15s %8s %8s %11s %8s\n", "scrape", "Mpps", "cyc/pkt", "clean Mpps", "cyc/pkt");
  std::printf("%-15s %8.2f %8.1f %11.2f %8.1f\n", "without", hz / r.quietCycles / 1e6 * w, r.quietCycles,
              hz / r.quietClean / 1e6 * w, r.quietClean);
  std::printf("%-15s %8.2f %8.1f %11.2f %8.1f\n", "with", hz / r.scrapedCycles / 1e6 * w, r.scrapedCycles,
              hz / r.scrapedClean / 1e6 * w, r.scrapedClean);
  std::fflush(stdout);
}

void printExceptionComparison(const Result& r) {
  const Options& o = r.options;
  if (!o.exceptionCompare()) return;
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const unsigned w = o.workers;
  std::printf("# exception path compared on the same flows: %u rounds of %llu packets per worker and configuration, "
              "interleaved; \"with share\": %.1f %% of the packets are TCP ACKs to the port address port %u (no "
              "frontend: the workers hand them to the kernel), the rest the established service traffic; \"no "
              "path\": the port has no exception path, those frames are dropped (NoService) as before%s\n",
              o.exceptionRounds, static_cast<unsigned long long>(o.packets / o.exceptionRounds), o.exceptionShare,
              kExceptionTcpPort, w == 1 ? "" : " (not run: it needs --workers 1)");
  std::printf("# rings as App makes them (toKernel %u frames MP/SC, one fromKernel per worker, polled every burst); "
              "NO kernel interface: a thread standing in for it (made with rte_ctrl_thread_create like the exception "
              "thread, on CPU %s) takes the frames off toKernel and frees them; %s; exceptionLimiter: %s\n",
              o.exceptionRing, r.standInCpus.c_str(), r.workerCpus.c_str(),
              o.exceptionRate == 0 ? "unlimited"
                                   : (std::to_string(o.exceptionRate) + " packets/s over the workers, burst " +
                                      std::to_string(o.exceptionBurst)).c_str());
  std::printf("%-22s %6s %8s %8s %11s %8s %10s %13s\n", "configuration", "share", "Mpps", "cyc/pkt", "clean Mpps",
              "cyc/pkt", "median cyc", "service Mpps");
  for (size_t c = 0; c < r.exceptionConfigsRun; ++c) {
    const double share = r.exceptionActualShare[c];
    std::printf("%-22s %5.1f%% %8.2f %8.1f %11.2f %8.1f %10.1f %13.2f\n", kExceptionConfigs[c].name, 100 * share,
                hz / r.exceptionCycles[c] / 1e6 * w, r.exceptionCycles[c], hz / r.exceptionClean[c] / 1e6 * w,
                r.exceptionClean[c], r.exceptionMedian[c], (1 - share) * hz / r.exceptionMedian[c] / 1e6 * w);
  }
  // The cost to the worker: what the share adds to an average packet (medians of the
  // rounds' clean cycles), and per frame handed to the kernel, assuming the service
  // packets among them cost what they cost alone.
  auto cost = [&](size_t alone, size_t mixed, const char* what) {
    const double c0 = r.exceptionMedian[alone], c1 = r.exceptionMedian[mixed];
    const double share = r.exceptionActualShare[mixed];
    std::printf("# %s: %+.1f cycles per packet (%+.1f %%) at %.1f %%", what, c1 - c0, 100 * (c1 - c0) / c0,
                100 * share);
    if (share > 0) std::printf("; a frame for the kernel costs %.1f cycles (a service packet %.1f)", c0 + (c1 - c0) / share, c0);
    std::printf("\n");
  };
  cost(0, 1, "cost to the worker with an exception path");
  if (r.exceptionConfigsRun > 2) {
    cost(2, 3, "the same frames dropped, no exception path");
    std::printf("# an exception path with no frames for the kernel vs none: %+.1f cycles per packet (%+.1f %%)\n",
                r.exceptionMedian[0] - r.exceptionMedian[2],
                100 * (r.exceptionMedian[0] - r.exceptionMedian[2]) / r.exceptionMedian[2]);
  }
  std::printf("# io-forward baseline in the same run (same lcore, rings and traffic mix as the established phase): "
              "%.1f cycles per packet (%.2f Mpps), clean %.1f (%.2f Mpps)\n",
              r.baselineCycles, hz / r.baselineCycles / 1e6 * w, r.baselineClean, hz / r.baselineClean / 1e6 * w);
  std::printf("# frames handed to the kernel (toKernelPackets) %llu, freed by the stand-in %llu; dropped: "
              "exception_rate_limited %llu, exception_ring_full %llu, no_service %llu\n",
              static_cast<unsigned long long>(r.toKernel), static_cast<unsigned long long>(r.drained),
              static_cast<unsigned long long>(r.exceptionRateLimited),
              static_cast<unsigned long long>(r.exceptionRingFull), static_cast<unsigned long long>(r.noService));
  if (r.exceptionRingFull > 0) {
    std::printf("# NOTE: the stand-in for the kernel did not keep up (its CPU, %s, is shared with a worker lcore?): "
                "frames dropped as exception_ring_full are in the cost per frame\n",
                r.standInCpus.c_str());
  }
  if (o.exceptionShare > 0 && r.toKernel == 0) {
    std::printf("# NOTE: no frame reached the toKernel ring: this build's workers drop what is not theirs "
                "(sendToKernel not built yet), so \"with share\" measures the drop, not the hand-over\n");
  }
  std::fflush(stdout);
}

/// The run with the median worker cycles per packet out of `repeat`.
Result median(const Options& o, unsigned repeat) {
  std::vector<Result> runs;
  for (unsigned i = 0; i < std::max(1u, repeat); ++i) runs.push_back(runOnce(o, i + 1 < repeat));
  std::sort(runs.begin(), runs.end(), [](const Result& a, const Result& b) { return a.workerCycles < b.workerCycles; });
  return runs[runs.size() / 2];
}

void writeCsvRow(std::ofstream& csv, const Result& r, const char* sweep) {
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const Options& o = r.options;
  const double mpps = hz / r.workerCycles / 1e6 * o.workers;
  const double baseMpps = hz / r.baselineCycles / 1e6 * o.workers;
  csv << sweep << ',' << o.services << ',' << o.endpoints << ',' << o.flows << ',' << o.packetSize << ','
      << o.newShare << ',' << o.workers << ',' << mpps << ',' << r.workerCycles / hz * 1e9 << ',' << r.workerCycles
      << ',' << baseMpps << ',' << mpps / baseMpps << ',' << hz / r.synCycles * o.workers << ',' << r.buildMs << ','
      << r.publishOneMs << ',' << r.dropped << ',' << hz / r.workerClean / 1e6 * o.workers << ','
      << hz / r.baselineClean / 1e6 * o.workers << ',' << hz / r.synClean * o.workers << ',' << r.switchedShare
      << '\n';
  csv.flush();
}

}  // namespace
}  // namespace nicproxy::bench

int main(int argc, char** argv) {
  using namespace nicproxy::bench;
  CLI::App cli{"nicproxy-bench: the worker's forwarding rate on in-memory rings, beside an io-forward baseline"};
  Options o;
  bool huge = false;
  std::string sweepCsv;
  std::string lcores = "0@0,1@1";
  cli.add_option("--services", o.services, "service ports (cluster IPs)")->capture_default_str();
  cli.add_option("--endpoints", o.endpoints, "endpoints per service")->capture_default_str();
  cli.add_option("--flows", o.flows, "concurrent flows (established before timing)")->capture_default_str();
  cli.add_option("--size", o.packetSize, "packet size in bytes, FCS included")->capture_default_str();
  cli.add_option("--new-share", o.newShare, "share of packets that open a new flow (0..1)")->capture_default_str();
  cli.add_option("--workers", o.workers, "worker lcores")->capture_default_str();
  cli.add_option("--packets", o.packets, "packets per worker per phase")->capture_default_str();
  std::string ingressChecks = "all";
  cli.add_option("--ingress-checks", ingressChecks,
                 "ingress checks the worker runs: all, none, or a list of mac,martian,checksum,options")
      ->capture_default_str();
  cli.add_flag("--nic-checksum", o.nicChecksum,
               "mark received IPv4 headers as verified (RTE_MBUF_F_RX_IP_CKSUM_GOOD), as a NIC with rx checksum "
               "offload does; default: the worker verifies them in software, as on net_ring, af_packet or memif");
  cli.add_option("--ingress-compare", o.ingressCompare,
                 "after the established phase, run every check, none, and each alone on the same flows, "
                 "interleaved in this many rounds of --packets/N packets each (one worker)");
  cli.add_option("--scrape-compare", o.scrapeCompare,
                 "after the established phase, run --packets/N packets without and then with a thread scraping the "
                 "data path's metrics, interleaved in this many rounds");
  cli.add_option("--scrape-every", o.scrapeEveryMs, "with --scrape-compare: milliseconds between scrapes")
      ->capture_default_str();
  cli.add_option("--exception-share", o.exceptionShare,
                 "give the port an exception path (its rings, and a thread freeing what reaches the kernel's side) "
                 "and, after the established phase, run service traffic alone and with this percent of the packets "
                 "bound for the kernel (TCP to the port address, port 22), with and without the path, interleaved")
      ->check(CLI::Range(0.0, 100.0));
  cli.add_option("--exception-rounds", o.exceptionRounds, "with --exception-share: rounds of --packets/N packets")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str();
  cli.add_option("--exception-rate", o.exceptionRate,
                 "with --exception-share: dpdk.exception.packetsPerSecond (all workers; 0: unlimited)")
      ->capture_default_str();
  cli.add_option("--exception-burst", o.exceptionBurst, "with --exception-share: dpdk.exception.burst")
      ->capture_default_str();
  cli.add_option("--exception-ring", o.exceptionRing,
                 "with --exception-share: dpdk.exception.ringSize (a power of two)")
      ->capture_default_str();
  cli.add_option("--lcores", lcores, "EAL --lcores (main lcore first); workers use the others")->capture_default_str();
  cli.add_flag("--huge", huge, "use hugepages (default: --no-huge)");
  cli.add_option("--sweep", sweepCsv, "run the sweep (services 10..100000, flows 1000..1000000) into this CSV");
  bool pauses = false;
  unsigned repeat = 3;
  CLI::Option* pausesOption = cli.add_flag("--update-pauses", pauses,
               "runWorker's loop lengths without updates and with a changed service published every 50 ms");
  int realtime = 0;
  cli.add_option("--realtime", realtime,
                 "with --update-pauses: run the worker lcore under SCHED_FIFO at this priority (root; see "
                 "scripts/bench_pauses.sh)")
      ->check(CLI::Range(0, 99))
      ->needs(pausesOption);
  cli.add_option("--repeat", repeat, "runs per configuration; the median is printed (this host is shared)")
      ->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  if (o.ingressCompare > 0 && o.workers != 1) {
    std::fprintf(stderr, "nicproxy-bench: --ingress-compare needs --workers 1\n");
    return 2;
  }
  if (const auto checks = parseIngressChecks(ingressChecks)) {
    o.ingress = *checks;
  } else {
    std::fprintf(stderr, "nicproxy-bench: --ingress-checks: '%s' is not all, none or a list of "
                         "mac,martian,checksum,options\n", ingressChecks.c_str());
    return 2;
  }

  std::vector<std::string> args{"nicproxy-bench", "--lcores", lcores, "--no-pci", "--no-telemetry",
                                "--log-level", "*:error", "--file-prefix", "npbench" + std::to_string(getpid())};
  if (!huge) {
    args.insert(args.end(), {"--no-huge", "--no-shconf", "-m", "6144"});
  } else {
    args.insert(args.end(), {"--in-memory"});
  }
  std::vector<char*> eal;
  for (std::string& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  spdlog::set_level(spdlog::level::warn);
  std::ifstream loadavg("/proc/loadavg");
  std::string load;
  std::getline(loadavg, load);
  std::printf("# nicproxy-bench: %s, TSC %.2f GHz, EAL --lcores %s (worker lcores time only their own data path); "
              "ingress checks: %s; IPv4 header checksums verified %s; load average at start: %s\n",
              huge ? "hugepages" : "--no-huge", static_cast<double>(rte_get_tsc_hz()) / 1e9, lcores.c_str(),
              describeIngressChecks(o.ingress).c_str(), o.nicChecksum ? "by the \"NIC\" (--nic-checksum)" : "in software",
              load.c_str());
  int rc = 0;
  try {
    if (pauses) {
      updatePauses(o.services, o.endpoints, o.flows, o.packetSize, 0, 3.0, realtime);
      updatePauses(o.services, o.endpoints, o.flows, o.packetSize, 50, 3.0, realtime);
      rte_eal_cleanup();
      return 0;
    }
    printHeader();
    if (sweepCsv.empty()) {
      const Result r = median(o, repeat);
      printResult(r);
      printComparison(r);
      printScrapeComparison(r);
      printExceptionComparison(r);
    } else {
      std::ofstream csv(sweepCsv);
      csv << "sweep,services,endpoints,flows,size,new_share,workers,mpps,ns_per_packet,cycles_per_packet,"
             "baseline_mpps,ratio,new_conn_per_s,build_ms,publish_one_ms,dropped,clean_mpps,clean_baseline_mpps,"
             "clean_new_conn_per_s,switched_share\n";
      for (uint32_t services : {10u, 100u, 1000u, 10000u, 100000u}) {
        Options s = o;
        s.services = services;
        s.flows = 100000;
        const Result r = median(s, repeat);
        printResult(r);
        writeCsvRow(csv, r, "services");
      }
      for (uint32_t flows : {1000u, 10000u, 100000u, 1000000u}) {
        Options s = o;
        s.services = 10000;
        s.flows = flows;
        const Result r = median(s, repeat);
        printResult(r);
        writeCsvRow(csv, r, "flows");
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nicproxy-bench: %s\n", e.what());
    rc = 1;
  }
  rte_eal_cleanup();
  return rc;
}
