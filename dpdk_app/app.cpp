#include "dpdk_app/app.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <thread>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>

#include "control/change_tracker.hpp"
#include "control/config_exception.hpp"
#include "control/proxier_health.hpp"
#include "control/scrape_collectables.hpp"
#include "control/sync_runner.hpp"
#include "dpdk_app/counters.hpp"
#include "dpdk_app/datapath_metrics.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "dpdk_app/eal_log.hpp"
#include "dpdk_app/exception_path.hpp"
#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/fragments.hpp"
#include "dpdk_app/inspect.hpp"
#include "dpdk_app/port.hpp"
#include "dpdk_app/worker.hpp"
#include "dpdk_app/worker_progress.hpp"

namespace nicproxy {

namespace {

constexpr unsigned kRedirectRingSize = 4096;  // per worker; a power of two
// A worker loops millions of times a second, idle or not (its longest pauses measured
// are milliseconds: docs/benchmarks.md); one whose loop count has not moved for this long
// is hung, and /livez says so.
constexpr std::chrono::seconds kWorkerStallAfter{5};
// Indirect mbufs of outgoing fragments (payload references) live until the device has sent
// them: a port's tx ring and batch per worker, at most.
constexpr unsigned kIndirectPerQueue = 1024 + 2 * 64;

std::string formatMac(const rte_ether_addr& mac) {
  char text[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(text, sizeof text, &mac);
  return text;
}

// The ports given an exception path (kind != none after resolvePortAddresses).
std::vector<ExceptionPath::PortSetup> exceptionPortSetups(const Config& config) {
  std::vector<ExceptionPath::PortSetup> setups;
  for (size_t i = 0; i < config.dpdk.ports.size(); ++i) {
    const DpdkPortConfig& port = config.dpdk.ports[i];
    if (port.exception.kind == ExceptionPathKind::None) continue;
    setups.push_back({static_cast<uint16_t>(i), port.exception, exceptionInterfaceName(port, i)});
  }
  return setups;
}

struct RteDeleter {
  void operator()(rte_mempool* pool) const { rte_mempool_free(pool); }
  void operator()(rte_rcu_qsbr* qsbr) const { rte_free(qsbr); }
  void operator()(rte_ring* ring) const { rte_ring_free(ring); }
};

}  // namespace

struct App::State {
  bool ealReady = false;
  std::vector<uint16_t> openedPorts;
  std::unique_ptr<rte_mempool, RteDeleter> pool;
  std::unique_ptr<rte_mempool, RteDeleter> indirectPool;  // for fragmenting to an egress MTU
  // What the exception interfaces receive from the kernel: apart, so that the kernel
  // cannot starve the ports' rx; kept until the ports are closed, whose tx queues may
  // hold its mbufs.
  std::unique_ptr<rte_mempool, RteDeleter> exceptionPool;
  std::unique_ptr<ExceptionPath> exception;  // null: no port has an exception path
  std::unique_ptr<rte_rcu_qsbr, RteDeleter> qsbr;
  std::unique_ptr<DataPlane> plane;
  std::vector<std::unique_ptr<FlowTable>> flowTables;
  std::vector<std::unique_ptr<ReassemblyTable>> reassemblyTables;  // per worker; empty when off
  std::unique_ptr<AffinityTable> affinity;  // shared by the workers (affinity.hpp)
  std::vector<std::unique_ptr<rte_ring, RteDeleter>> redirectRings;
  std::vector<std::unique_ptr<WorkerContext>> workers;
  std::vector<unsigned> workerLcores;
  bool workersLaunched = false;
  ChangeTracker tracker;
  std::unique_ptr<DpdkProvider> provider;
  std::unique_ptr<Provider> kernelProvider;  // dpdk.kernelFallback: the kernel from the same snapshot
  std::unique_ptr<SyncRunner> runner;
  std::unique_ptr<ServeSource> source;  // services file or API server
  std::unique_ptr<DataPathInspector> inspector;  // pdump and the telemetry commands
  std::unique_ptr<DatapathMetrics> metrics;  // on observability's collectables while non-null
  // Shared with the liveness check the health server holds, which may outlive the App:
  // forget() makes it pass once the counters it reads are about to go.
  std::shared_ptr<WorkerProgress> progress = std::make_shared<WorkerProgress>(kWorkerStallAfter);

  explicit State(const std::string& nodeName) : tracker(nodeName) {}
};

App::App(Config config, std::unique_ptr<Provider> kernelFallback, Observability observability)
    : config_(std::move(config)), observability_(std::move(observability)), state_(std::make_unique<State>(config_.nodeName)) {
  state_->kernelProvider = std::move(kernelFallback);
}

App::~App() {
  State& s = *state_;
  withdrawObservability();
  stopWorkers();
  s.inspector.reset();  // after the workers, before what its telemetry commands read
  // Reverse order of start-up: provider (unpublishes its table), flow tables, ports,
  // RCU state, mempool, EAL.
  s.source.reset();
  s.runner.reset();
  s.kernelProvider.reset();
  s.provider.reset();
  s.workers.clear();
  s.flowTables.clear();
  s.reassemblyTables.clear();  // gives the fragments it holds back to the pool
  s.affinity.reset();
  // Packets still in a redirect ring go back to the pool before it is freed.
  for (auto& ring : s.redirectRings) {
    void* m = nullptr;
    while (rte_ring_dequeue(ring.get(), &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
  s.redirectRings.clear();
  // After the workers, before the ports (exception_path.hpp): its rings' frames go back
  // to their pools, and its interfaces go away.
  s.exception.reset();
  for (uint16_t port : s.openedPorts) closePort(port);
  s.exceptionPool.reset();
  s.plane.reset();
  s.qsbr.reset();
  s.indirectPool.reset();
  s.pool.reset();
  if (s.ealReady) rte_eal_cleanup();
}

namespace {

void initEal(const Config& config) {
  std::vector<std::string> args{"nicproxy"};
  args.insert(args.end(), config.dpdk.eal.begin(), config.dpdk.eal.end());
  for (const DpdkPortConfig& port : config.dpdk.ports) {
    args.push_back(port.isPci ? "-a" : "--vdev");
    args.push_back(port.device);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  routeDpdkLogsToSpdlog();
  if (rte_eal_init(static_cast<int>(args.size()), argv.data()) < 0) {
    throw std::runtime_error(std::string("EAL initialisation failed (dpdk.eal): ") + rte_strerror(rte_errno));
  }
}

}  // namespace

int App::run(const ServeLoopHooks& hooks) {
  State& s = *state_;
  spdlog::info("Using {} Proxier", proxyModeName(config_.mode));
  initEal(config_);
  s.ealReady = true;

  for (unsigned lcore = rte_get_next_lcore(-1, 1, 0); lcore < RTE_MAX_LCORE;
       lcore = rte_get_next_lcore(lcore, 1, 0)) {
    s.workerLcores.push_back(lcore);
  }
  if (s.workerLcores.empty()) {
    throw std::runtime_error("dpdk.eal: no worker lcore; give at least two lcores (for example -l 0-1): "
                             "the main one runs the control thread, the others forward");
  }
  if (config_.dpdk.workers > s.workerLcores.size()) {
    throw std::runtime_error("dpdk.workers: " + std::to_string(config_.dpdk.workers) + " workers but the EAL has " +
                             std::to_string(s.workerLcores.size()) +
                             " worker lcores (add lcores with -l or --lcores in dpdk.eal, for example "
                             "--lcores 0@0,1@1,2@1 maps two workers onto CPU 1)");
  }
  if (config_.dpdk.workers != 0) s.workerLcores.resize(config_.dpdk.workers);
  const auto workerCount = static_cast<uint16_t>(s.workerLcores.size());
  const int socket = static_cast<int>(rte_socket_id());

  const unsigned ports = static_cast<unsigned>(config_.dpdk.ports.size());
  const FragmentsConfig& fragments = config_.dpdk.fragments;
  const unsigned reassemblyMbufs =
      fragments.maxDatagrams == 0 ? 0u : workerCount * ReassemblyTable::mbufsHeld(fragments.maxDatagrams);
  // Frames the workers hand to the kernel wait on the ports' toKernel rings.
  const unsigned toKernelMbufs =
      static_cast<unsigned>(exceptionPortSetups(config_).size()) * config_.dpdk.exception.ringSize;
  const unsigned mbufs =
      std::max(8191u, ports * workerCount * 2048u + workerCount * 512u + 2048u + (workerCount > 1 ? workerCount * kRedirectRingSize : 0u)) +
      reassemblyMbufs + toKernelMbufs;
  s.pool.reset(rte_pktmbuf_pool_create("nicproxy_mbufs", mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket));
  if (!s.pool) {
    throw std::runtime_error("cannot create a pool of " + std::to_string(mbufs) +
                             " mbufs: " + rte_strerror(rte_errno) + " (raise -m in dpdk.eal" +
                             (reassemblyMbufs != 0 ? ", or lower dpdk.fragments.maxDatagrams, which takes " +
                                                         std::to_string(reassemblyMbufs) + " of them)"
                                                   : ")"));
  }
  const unsigned indirectMbufs = std::max(4095u, ports * workerCount * kIndirectPerQueue);
  s.indirectPool.reset(rte_pktmbuf_pool_create("nicproxy_indirect", indirectMbufs, 256, 0, 0, socket));
  if (!s.indirectPool) {
    throw std::runtime_error("cannot create a pool of " + std::to_string(indirectMbufs) +
                             " indirect mbufs: " + rte_strerror(rte_errno) + " (raise -m in dpdk.eal)");
  }

  s.plane = std::make_unique<DataPlane>();
  DataPlane& plane = *s.plane;
  plane.workerCount = workerCount;
  plane.timeouts = Timeouts::fromTscHz(rte_get_tsc_hz());
  plane.timeouts.applyConntrack(config_.conntrack);
  plane.tcpBeLiberal = config_.conntrack.tcpBeLiberal;
  if (ports > kMaxPorts) throw std::runtime_error("dpdk.ports: at most " + std::to_string(kMaxPorts) + " ports");
  const IngressConfig& ingress = config_.dpdk.ingress;
  plane.ingress = IngressChecks{ingress.dropInvalidSourceMac, ingress.dropMartianSources, ingress.verifyIpChecksum,
                                ingress.dropSourceRoute};
  for (const auto& [on, key] : {std::pair{ingress.dropInvalidSourceMac, "dropInvalidSourceMac"},
                                std::pair{ingress.dropMartianSources, "dropMartianSources"},
                                std::pair{ingress.verifyIpChecksum, "verifyIpChecksum"},
                                std::pair{ingress.dropSourceRoute, "dropSourceRoute"}}) {
    if (!on) spdlog::warn("dpdk.ingress.{} is off: that ingress check is not made (docs/ingress.md)", key);
  }
  for (const DpdkPortConfig& portConfig : config_.dpdk.ports) {
    OpenedPort opened = openPort(portConfig, workerCount, s.pool.get());
    s.openedPorts.push_back(opened.portId);
    PortInfo info;
    info.portId = opened.portId;
    info.mac = opened.mac;
    info.address = rte_cpu_to_be_32(portConfig.address.address);
    info.mask = rte_cpu_to_be_32(portConfig.address.mask());
    info.gateway = portConfig.gateway ? rte_cpu_to_be_32(*portConfig.gateway) : 0;
    if (portConfig.snatAddresses.size() > PortInfo::kMaxExtraSnatAddresses) {
      throw std::runtime_error("dpdk.ports[].snatAddresses: at most " +
                               std::to_string(PortInfo::kMaxExtraSnatAddresses) + " per port");
    }
    for (const Ipv4 snat : portConfig.snatAddresses) info.extraSnatAddresses[info.extraSnatCount++] = rte_cpu_to_be_32(snat);
    info.mtu = opened.mtu;
    info.linearizeTx = !opened.multiSegTx;
    plane.ports.push_back(info);
    for (const StaticNeighbor& neighbor : portConfig.neighbors) {
      rte_ether_addr mac;
      std::copy(neighbor.mac.begin(), neighbor.mac.end(), mac.addr_bytes);
      if (!plane.neighbors.addPermanent(rte_cpu_to_be_32(neighbor.address), mac)) {
        throw std::runtime_error("dpdk.ports[].neighbors: the neighbour table is full");
      }
    }
    if (!portConfig.snatAddresses.empty()) {
      std::vector<std::string> snat;
      for (const Ipv4 a : portConfig.snatAddresses) snat.push_back(formatIpv4(a));
      spdlog::info("port {}: SNAT addresses {} and {}", opened.portId, formatIpv4(portConfig.address.address),
                   fmt::join(snat, ", "));
    }
    spdlog::info("opened port {} ({}, driver {}, MAC {}, MTU {}) with address {}{}, {} queue pair(s)", opened.portId,
                 portNameOf(portConfig), opened.driver, formatMac(opened.mac), opened.mtu,
                 formatIpv4Cidr(portConfig.address),
                 portConfig.gateway ? ", gateway " + formatIpv4(*portConfig.gateway) : std::string(), workerCount);
  }
  openExceptionPath(socket);

  const size_t qsbrSize = rte_rcu_qsbr_get_memsize(workerCount);
  s.qsbr.reset(static_cast<rte_rcu_qsbr*>(rte_zmalloc_socket("nicproxy_qsbr", qsbrSize, RTE_CACHE_LINE_SIZE, socket)));
  if (!s.qsbr || rte_rcu_qsbr_init(s.qsbr.get(), workerCount) != 0) {
    throw std::runtime_error("cannot set up RCU state for the workers");
  }
  plane.qsbr = s.qsbr.get();

  s.affinity = std::make_unique<AffinityTable>(socket);
  if (!s.affinity->ok()) throw std::runtime_error("no memory for the ClientIP affinity table");
  for (uint16_t i = 0; i < workerCount; ++i) {
    const int lcoreSocket = static_cast<int>(rte_lcore_to_socket_id(s.workerLcores[i]));
    s.flowTables.push_back(std::make_unique<FlowTable>("flows" + std::to_string(i), config_.dpdk.flowTableSize,
                                                       lcoreSocket));
    if (workerCount > 1) {
      // Many producers (every worker), one consumer (worker i): see data_plane.hpp.
      const std::string name = "redirect" + std::to_string(i);
      s.redirectRings.emplace_back(rte_ring_create(name.c_str(), kRedirectRingSize, lcoreSocket, RING_F_SC_DEQ));
      if (!s.redirectRings.back()) {
        throw std::runtime_error("cannot create the redirect ring of worker " + std::to_string(i) + ": " +
                                 rte_strerror(rte_errno));
      }
      plane.redirect.push_back(s.redirectRings.back().get());
    }
    if (fragments.maxDatagrams != 0) {
      const uint64_t timeoutCycles =
          static_cast<uint64_t>(fragments.timeout.count()) * plane.timeouts.hz / 1000;
      s.reassemblyTables.push_back(
          std::make_unique<ReassemblyTable>(fragments.maxDatagrams, timeoutCycles, lcoreSocket));
      if (!s.reassemblyTables.back()->ok()) {
        throw std::runtime_error("no memory for the reassembly table of worker " + std::to_string(i) +
                                 " (dpdk.fragments.maxDatagrams " + std::to_string(fragments.maxDatagrams) + ")");
      }
    }
    auto ctx = std::make_unique<WorkerContext>();
    ctx->index = i;
    ctx->queue = i;
    ctx->plane = &plane;
    ctx->flows = s.flowTables.back().get();
    ctx->affinity = s.affinity.get();
    ctx->pool = s.pool.get();
    const ReplyRateLimitConfig& limit = config_.dpdk.replyRateLimit;
    ctx->replyLimiter = ReplyLimiter(rte_get_tsc_hz(), limit.perSecond, limit.burst);
    // dpdk.exception.packetsPerSecond is the node's: each worker takes its share (at
    // least 1, which ReplyLimiter would read as "no limit" if it were 0).
    const ExceptionLimitsConfig& exception = config_.dpdk.exception;
    if (exception.packetsPerSecond != 0) {
      ctx->exceptionLimiter = ReplyLimiter(rte_get_tsc_hz(), std::max(1u, exception.packetsPerSecond / workerCount),
                                           std::max(1u, exception.burst / workerCount));
    }
    ctx->reassembly = s.reassemblyTables.empty() ? nullptr : s.reassemblyTables.back().get();
    ctx->indirectPool = s.indirectPool.get();
    s.workers.push_back(std::move(ctx));
  }

  if (fragments.maxDatagrams != 0) {
    spdlog::info("IPv4 reassembly: up to {} incomplete datagrams per worker, timeout {} ms ({} mbufs reserved)",
                 fragments.maxDatagrams, fragments.timeout.count(), reassemblyMbufs);
  } else {
    spdlog::info("IPv4 reassembly off (dpdk.fragments.maxDatagrams 0): fragments are dropped");
  }
  s.provider = std::make_unique<DpdkProvider>(plane, config_.nodePortAddresses, socket, config_.dpdk.scheduler);
  startInspector();
  std::vector<Provider*> providers{s.provider.get()};
  if (s.kernelProvider) providers.push_back(s.kernelProvider.get());
  providers.insert(providers.end(), observability_.companions.begin(), observability_.companions.end());
  SyncTiming timing{config_.minSyncPeriod, config_.syncPeriod};
  // The kernel fallback's canary, as in the kernel modes; the DPDK provider has none.
  timing.canaryPeriod = config_.syncPeriod;
  s.runner = std::make_unique<SyncRunner>(s.tracker, std::move(providers), timing);
  s.tracker.setMetrics(observability_.metrics);  // kube-proxy's change and sync metrics (issue 12)
  s.runner->setMetrics(observability_.metrics);
  s.source = makeServeSource(config_, observability_.collectables);
  registerObservability();
  const int code = serve(*s.source, s.tracker, *s.runner, dataPathHooks(hooks));
  withdrawObservability();
  if (s.workersLaunched) {
    stopWorkers();
    logCountersAtShutdown();
  }
  return code;
}

void App::stopWorkers() {
  State& s = *state_;
  s.progress->forget();
  if (s.plane) s.plane->running.store(false, std::memory_order_relaxed);
  if (s.workersLaunched) rte_eal_mp_wait_lcore();
  s.workersLaunched = false;
  if (s.exception) s.exception->stop();  // after the workers: they enqueue onto its rings
}

ServeLoopHooks App::dataPathHooks(const ServeLoopHooks& hooks) {
  ServeLoopHooks ours = hooks;
  ours.onReady = [this, onReady = hooks.onReady] {
    launchWorkers();
    if (onReady) onReady();
  };
  ours.onRound = [this, onRound = hooks.onRound, nextOwnerCheck = SyncRunner::Clock::time_point{}]() mutable {
    state_->inspector->serveControlJobs();  // telemetry commands' questions to this thread
    if (state_->workersLaunched) {
      state_->provider->reclaim();  // tables the workers no longer read
      const auto now = SyncRunner::Clock::now();
      if (now >= nextOwnerCheck) {  // the workers' probes are answered between syncs
        state_->provider->checkAnsweredAddresses();
        nextOwnerCheck = now + std::chrono::seconds(1);
      }
    }
    if (onRound) onRound();
  };
  return ours;
}

void App::openExceptionPath(int socket) {
  State& s = *state_;
  const std::vector<ExceptionPath::PortSetup> setups = exceptionPortSetups(config_);
  if (setups.empty()) return;
  const auto workers = s.plane->workerCount;
  const uint32_t mbufs = ExceptionPath::poolSize(static_cast<uint16_t>(setups.size()), workers,
                                                 static_cast<uint16_t>(s.plane->ports.size()),
                                                 config_.dpdk.exception.ringSize);
  s.exceptionPool.reset(
      rte_pktmbuf_pool_create("nicproxy_exc_mbufs", mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket));
  if (!s.exceptionPool) {
    throw std::runtime_error("cannot create the exception interfaces' pool of " + std::to_string(mbufs) +
                             " mbufs: " + rte_strerror(rte_errno) +
                             " (raise -m in dpdk.eal, or lower dpdk.exception.ringSize)");
  }
  s.exception = std::make_unique<ExceptionPath>(*s.plane, setups, config_.dpdk.exception, s.exceptionPool.get(), socket);
  const ExceptionLimitsConfig& limits = config_.dpdk.exception;
  spdlog::info("exception path: rings of {} frames, {} to the kernel at most ({} at once), shared by {} workers",
               limits.ringSize,
               limits.packetsPerSecond == 0 ? std::string("no limit") : std::to_string(limits.packetsPerSecond) + "/s",
               limits.burst, workers);
  for (const ExceptionPath::PortSetup& setup : setups) {
    if (config_.dpdk.ports[setup.index].snatAddresses.empty()) {
      spdlog::warn("dpdk.ports[{}] has an exception path but no snatAddresses: connections to local endpoints keep "
                   "the client's address, and nicproxy's SNAT shares the port address's ports with the kernel's own "
                   "connections (add a dpdk.ports[{}].snatAddresses entry; docs/exception-path.md)",
                   setup.index, setup.index);
    }
  }
}

void App::startInspector() {
  State& s = *state_;
  DataPathInspector::Sources sources;
  for (const auto& w : s.workers) sources.workers.push_back(w.get());
  sources.workerLcores = s.workerLcores;
  sources.provider = s.provider.get();
  sources.tracker = &s.tracker;
  const auto& eal = config_.dpdk.eal;
  auto has = [&](const char* arg) { return std::find(eal.begin(), eal.end(), arg) != eal.end(); };
  sources.sharedConfig = !has("--no-shconf") && !has("--in-memory");
  sources.hugepages = !has("--no-huge");
  s.inspector = std::make_unique<DataPathInspector>(std::move(sources));
}

void App::launchWorkers() {
  State& s = *state_;
  if (s.exception) s.exception->start();  // before the workers: they hand it frames from their first burst
  for (uint16_t i = 0; i < s.workers.size(); ++i) {
    const int rc = rte_eal_remote_launch(runWorker, s.workers[i].get(), s.workerLcores[i]);
    if (rc != 0) throw std::runtime_error("cannot launch worker on lcore " + std::to_string(s.workerLcores[i]));
    s.workersLaunched = true;
  }
  std::vector<WorkerProgress::Watched> watched;
  for (const auto& w : s.workers) watched.push_back({w->index, s.workerLcores[w->index], &w->counters.loops});
  s.progress->watch(std::move(watched), WorkerProgress::Clock::now());
  spdlog::info("data path ready: {} service ports, {} frontends, {} workers on lcores {}", s.tracker.current()->size(),
               s.provider->current()->frontendCount(), s.workers.size(), fmt::join(s.workerLcores, ","));
}

void App::logCountersAtShutdown() {
  State& s = *state_;
  const DataPlane& plane = *s.plane;
  std::vector<const WorkerCounters*> counters;
  for (const auto& w : s.workers) counters.push_back(&w->counters);
  uint64_t flows = 0;
  for (const auto& table : s.flowTables) flows += table->size();
  for (const auto& w : s.workers) {
    spdlog::info("worker {} (lcore {}): flows_created {} rx_packets {} redirected {}", w->index,
                 s.workerLcores[w->index], w->counters.flowsCreated.load(), w->counters.rxPackets.load(),
                 w->counters.redirected.load());
  }
  spdlog::info("counters at shutdown ({} workers, {} flows in tables):\n{}", s.workers.size(), flows,
               formatCounters(sumCounters(counters)));
  if (s.exception) {
    for (const ExceptionPath::PortView& port : s.exception->ports()) {
      const ExceptionCounters& c = *port.counters;
      spdlog::info("exception interface {}: to the kernel {} packets {} bytes, from the kernel {} packets {} bytes, "
                   "dropped: {} malformed, {} too long, {} worker ring full, {} interface refused",
                   port.interfaceName, c.toKernelPackets.load(), c.toKernelBytes.load(), c.fromKernelPackets.load(),
                   c.fromKernelBytes.load(), c.dropCount(DropReason::KernelFrameMalformed),
                   c.dropCount(DropReason::KernelFrameTooLong), c.dropCount(DropReason::KernelRingFull),
                   c.dropCount(DropReason::TxFull));
    }
  }
  spdlog::info("neighbours at shutdown: {} in the table, {} expired, {} evicted, {} stopped answering, {} claims "
               "refused (table full)",
               plane.neighbors.size(), plane.neighbors.expired(), plane.neighbors.evicted(),
               plane.neighbors.unreachable(), plane.neighbors.claimsRefused());
}

void App::registerObservability() {
  State& s = *state_;
  if (observability_.collectables != nullptr && !s.metrics) {
    DatapathSources sources;
    for (const auto& w : s.workers) {
      sources.workers.push_back({w->index, s.workerLcores[w->index], &w->counters, w->flows->capacity(),
                                 s.redirectRings.empty() ? nullptr : s.redirectRings[w->index].get(),
                                 s.plane->fromKernel.empty() ? nullptr : s.plane->fromKernel[w->index]});
    }
    for (uint16_t i = 0; i < s.plane->ports.size(); ++i) {
      char name[RTE_ETH_NAME_MAX_LEN] = {};
      const uint16_t portId = s.plane->ports[i].portId;
      if (rte_eth_dev_get_name_by_port(portId, name) != 0) std::snprintf(name, sizeof name, "port%u", portId);
      sources.ports.push_back({i, portId, name});
    }
    if (s.exception) {
      for (const ExceptionPath::PortView& view : s.exception->ports()) {
        sources.exceptionPorts.push_back({sources.ports[view.index].name, view.interfaceName,
                                          exceptionPathKindName(view.kind), view.counters, view.toKernel});
      }
      sources.exceptionRingSize = config_.dpdk.exception.ringSize;
    }
    sources.affinity = s.affinity.get();
    sources.provider = s.provider.get();
    sources.tscHz = rte_get_tsc_hz();
    s.metrics = std::make_unique<DatapathMetrics>(std::move(sources));
    observability_.collectables->add(s.metrics.get());
  }
  if (observability_.health != nullptr) {
    observability_.health->addLivenessCheck(
        [progress = s.progress] { return progress->check(WorkerProgress::Clock::now()); });
  }
}

void App::withdrawObservability() {
  State& s = *state_;
  // remove() waits for a scrape in progress: nothing reads the data path after it.
  if (s.metrics && observability_.collectables != nullptr) observability_.collectables->remove(s.metrics.get());
  s.metrics.reset();
}

}  // namespace nicproxy
