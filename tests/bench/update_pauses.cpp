#include "tests/bench/update_pauses.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_app/dpdk_provider.hpp"
#include "dpdk_app/worker.hpp"
#include "tests/bench/traffic.hpp"

namespace nicproxy::bench {

namespace {

struct RealtimeLaunch {
  WorkerContext* ctx;
  int priority;      // SCHED_FIFO priority; 0: leave the lcore's policy alone
  int error = 0;     // pthread_setschedparam's result
  int previousPolicy = SCHED_OTHER;
  sched_param previous{};
};

/// Runs runWorker() on this lcore, under SCHED_FIFO for the run when asked (so that no
/// ordinary task preempts it), and puts the lcore's policy back afterwards.
int runWorkerWithPolicy(void* arg) {
  auto* launch = static_cast<RealtimeLaunch*>(arg);
  if (launch->priority > 0) {
    pthread_getschedparam(pthread_self(), &launch->previousPolicy, &launch->previous);
    const sched_param fifo{launch->priority};
    launch->error = pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo);
  }
  const int rc = runWorker(launch->ctx);
  if (launch->priority > 0 && launch->error == 0) {
    pthread_setschedparam(pthread_self(), launch->previousPolicy, &launch->previous);
  }
  return rc;
}

std::string rtRuntime() {
  std::ifstream in("/proc/sys/kernel/sched_rt_runtime_us");
  std::string value;
  std::getline(in, value);
  return value.empty() ? "unknown" : value;
}

}  // namespace

/// --update-pauses: the real runWorker() on a worker lcore, fed by the main lcore,
/// which also publishes a changed service every `intervalMs` (0: never). Returns the
/// longest loop in microseconds; prints the publish times.
double updatePauses(uint32_t services, uint32_t endpoints, uint32_t flowCount, uint16_t packetSize, uint32_t intervalMs,
                    double seconds, int realtimePriority) {
  const int socket = static_cast<int>(rte_socket_id());
  static int sequence = 0;
  const std::string tag = "u" + std::to_string(++sequence);
  std::vector<unsigned> lcores;
  for (unsigned l = rte_get_next_lcore(-1, 1, 0); l < RTE_MAX_LCORE; l = rte_get_next_lcore(l, 1, 0)) lcores.push_back(l);
  if (lcores.empty()) throw std::runtime_error("--update-pauses needs a worker lcore");
  rte_ring* rx = rte_ring_create(("urx" + tag).c_str(), 1024, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  rte_ring* tx = rte_ring_create(("utx" + tag).c_str(), 1024, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
  const int port = rte_eth_from_rings(("net_ring_upd" + tag).c_str(), &rx, 1, &tx, 1, static_cast<unsigned>(socket));
  rte_mempool* pool = rte_pktmbuf_pool_create(("upool" + tag).c_str(), 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
  if (port < 0 || pool == nullptr || rx == nullptr || tx == nullptr) throw std::runtime_error("update bench setup");
  rte_eth_conf conf{};
  rte_eth_dev_configure(static_cast<uint16_t>(port), 1, 1, &conf);
  rte_eth_rx_queue_setup(static_cast<uint16_t>(port), 0, 1024, static_cast<unsigned>(socket), nullptr, pool);
  rte_eth_tx_queue_setup(static_cast<uint16_t>(port), 0, 1024, static_cast<unsigned>(socket), nullptr);
  rte_eth_dev_start(static_cast<uint16_t>(port));

  DataPlane plane;
  PortInfo info;
  info.portId = static_cast<uint16_t>(port);
  std::copy(kPortMac, kPortMac + 6, info.mac.addr_bytes);
  info.address = rte_cpu_to_be_32(kPortAddress);
  info.mask = rte_cpu_to_be_32(0xff000000);
  plane.ports = {info};
  plane.timeouts = Timeouts::fromTscHz(rte_get_tsc_hz());
  for (uint32_t i = 0; i < kBackendAddresses; ++i) {
    rte_ether_addr mac{{0x02, 0, 0, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}};
    plane.neighbors.addPermanent(rte_cpu_to_be_32(kBackendBase + i), mac);  // as dpdk.ports[].neighbors
  }
  auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("upd_qsbr", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
  rte_rcu_qsbr_init(qsbr, 1);
  plane.qsbr = qsbr;
  ServiceTable table = makeServices(services, endpoints, Protocol::Udp);
  auto provider = std::make_unique<DpdkProvider>(plane, std::vector<Ipv4Cidr>{}, socket);
  provider->sync(table, {}, true);
  FlowTable flows("uflows" + tag, flowCount * 8 / 7 + 1024, socket);  // below the high-water mark
  WorkerContext ctx;
  ctx.plane = &plane;
  ctx.flows = &flows;
  ctx.pool = pool;
  RealtimeLaunch launch{&ctx, realtimePriority};
  rte_eal_remote_launch(runWorkerWithPolicy, &launch, lcores[0]);

  uint64_t rng = 12345, packet = 0;
  uint32_t publishes = 0;
  double worstPublishMs = 0;
  std::vector<std::pair<uint64_t, uint64_t>> publishWindows;  // TSC at sync() start and end
  const auto start = std::chrono::steady_clock::now();
  auto nextUpdate = start + std::chrono::milliseconds(intervalMs);
  rte_mbuf* burst[kBurstSize];
  while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds)) {
    if (rte_ring_free_count(rx) >= kBurstSize && rte_pktmbuf_alloc_bulk(pool, burst, kBurstSize) == 0) {
      for (uint16_t i = 0; i < kBurstSize; ++i, ++packet) {
        // UDP: flows that need no handshake (the generator cannot see the SNAT ports the
        // worker picks, so it could not answer a SYN as the backend would).
        const uint64_t flow = packet < flowCount ? packet : xorshift(rng) % flowCount;
        writeUdpFrame(burst[i], flowTuple(flow, services), packetSize);
      }
      const unsigned queued = rte_ring_sp_enqueue_burst(rx, reinterpret_cast<void**>(burst), kBurstSize, nullptr);
      if (queued < kBurstSize) rte_pktmbuf_free_bulk(burst + queued, kBurstSize - queued);
    }
    rte_mbuf* done[64];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst(tx, reinterpret_cast<void**>(done), 64, nullptr)) > 0) rte_pktmbuf_free_bulk(done, n);
    if (intervalMs != 0 && std::chrono::steady_clock::now() >= nextUpdate) {
      // One service changes: its last endpoint comes and goes.
      ServiceTable::Map map = table.ports();
      auto it = std::next(map.begin(), static_cast<long>(publishes % map.size()));
      auto changed = std::make_shared<ServicePort>(*it->second);
      if (publishes / map.size() % 2 == 0 && changed->endpoints.size() > 1) changed->endpoints.pop_back();
      const ServicePortName name = changed->name;
      map[name] = changed;
      table = ServiceTable(std::move(map), table.generation() + 1);
      const auto t = std::chrono::steady_clock::now();
      const uint64_t tscStart = rte_rdtsc();
      provider->sync(table, {name}, false);
      publishWindows.emplace_back(tscStart, rte_rdtsc());
      worstPublishMs = std::max(worstPublishMs, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      ++publishes;
      nextUpdate += std::chrono::milliseconds(intervalMs);
    }
  }
  plane.running.store(false, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  const double loopMaxUs = static_cast<double>(ctx.counters.loopMaxCycles) / static_cast<double>(rte_get_tsc_hz()) * 1e6;
  // Which of the logged slow loops overlapped a publish (its sync() call, widened by
  // 1 ms on each side for the workers' next loops, which first see the new table).
  const uint64_t margin = rte_get_tsc_hz() / 1000;
  const uint64_t logged = std::min<uint64_t>(ctx.counters.loopsOver100us, WorkerContext::kSlowLoopLog);
  uint64_t duringPublish = 0;
  for (uint64_t i = 0; i < logged; ++i) {
    const auto [loopStart, length] = ctx.slowLoops[i];
    duringPublish += std::any_of(publishWindows.begin(), publishWindows.end(), [&](const auto& w) {
      return loopStart < w.second + margin && loopStart + length + margin > w.first;
    });
  }
  std::string policy = "worker lcore SCHED_OTHER";
  if (realtimePriority > 0) {
    policy = launch.error == 0 ? "worker lcore SCHED_FIFO " + std::to_string(realtimePriority) +
                                     ", sched_rt_runtime_us " + rtRuntime()
                               : std::string("SCHED_FIFO refused: ") + std::strerror(launch.error);
  }
  std::printf("update-pauses: %u services x %u endpoints, %u flows, %.1f s: %u publishes (every %u ms), slowest "
              "publish %.2f ms; worker: %lu packets, %lu loops, %lu over 100 us (of the last %lu, %lu within 1 ms of a "
              "publish), longest %.1f us (%s)\n",
              services, endpoints, flowCount, seconds, publishes, intervalMs, worstPublishMs, ctx.counters.rxPackets.load(),
              ctx.counters.loops.load(), ctx.counters.loopsOver100us.load(), logged, duringPublish, loopMaxUs, policy.c_str());
  std::fflush(stdout);
  provider.reset();
  rte_free(qsbr);
  rte_eth_dev_stop(static_cast<uint16_t>(port));
  rte_eth_dev_close(static_cast<uint16_t>(port));
  // Drain what the worker left on the rings, then free the rings and the pool.
  void* m = nullptr;
  while (rte_ring_dequeue(rx, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  while (rte_ring_dequeue(tx, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  rte_ring_free(rx);
  rte_ring_free(tx);
  rte_mempool_free(pool);
  return loopMaxUs;
}

}  // namespace nicproxy::bench
