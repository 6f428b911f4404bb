#include "tests/bench/update_pauses.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
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

/// --update-pauses: the real runWorker() on a worker lcore, fed by the main lcore,
/// which also publishes a changed service every `intervalMs` (0: never). Returns the
/// longest loop in microseconds; prints the publish times.
double updatePauses(uint32_t services, uint32_t endpoints, uint32_t flowCount, uint16_t packetSize, uint32_t intervalMs,
                    double seconds) {
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
    plane.neighbors.learn(rte_cpu_to_be_32(kBackendBase + i), mac, rte_rdtsc());
  }
  auto* qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("upd_qsbr", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
  rte_rcu_qsbr_init(qsbr, 1);
  plane.qsbr = qsbr;
  ServiceTable table = makeServices(services, endpoints);
  auto provider = std::make_unique<DpdkProvider>(plane, std::vector<Ipv4Cidr>{}, socket);
  provider->sync(table, {}, true);
  FlowTable flows("uflows" + tag, flowCount + 1024, socket);
  WorkerContext ctx;
  ctx.plane = &plane;
  ctx.flows = &flows;
  ctx.pool = pool;
  rte_eal_remote_launch(runWorker, &ctx, lcores[0]);

  uint64_t rng = 12345, packet = 0;
  uint32_t publishes = 0;
  double worstPublishMs = 0;
  const auto start = std::chrono::steady_clock::now();
  auto nextUpdate = start + std::chrono::milliseconds(intervalMs);
  rte_mbuf* burst[kBurstSize];
  while (std::chrono::steady_clock::now() - start < std::chrono::duration<double>(seconds)) {
    if (rte_ring_free_count(rx) >= kBurstSize && rte_pktmbuf_alloc_bulk(pool, burst, kBurstSize) == 0) {
      for (uint16_t i = 0; i < kBurstSize; ++i, ++packet) {
        const bool first = packet < flowCount;
        const uint64_t flow = first ? packet : xorshift(rng) % flowCount;
        writeFrame(burst[i], flowTuple(flow, services), first ? RTE_TCP_SYN_FLAG : RTE_TCP_ACK_FLAG, packetSize);
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
      provider->sync(table, {name}, false);
      worstPublishMs = std::max(worstPublishMs, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      ++publishes;
      nextUpdate += std::chrono::milliseconds(intervalMs);
    }
  }
  plane.running.store(false, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  const double loopMaxUs = static_cast<double>(ctx.counters.loopMaxCycles) / static_cast<double>(rte_get_tsc_hz()) * 1e6;
  std::printf("update-pauses: %u services x %u endpoints, %u flows, %.1f s: %u publishes (every %u ms), slowest "
              "publish %.2f ms; worker: %lu packets, %lu loops, %lu over 100 us, longest %.1f us\n",
              services, endpoints, flowCount, seconds, publishes, intervalMs, worstPublishMs, ctx.counters.rxPackets,
              ctx.counters.loops, ctx.counters.loopsOver100us, loopMaxUs);
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
