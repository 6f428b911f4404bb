// k8s_sync_bench: from a watch event on the wire to the DPDK data path using the new
// state, at 10,000 services x 10 endpoints. Not a test: prints numbers, asserts nothing.
//
// What runs where (2 cores): the fake API server (in-process, real HTTPS on 127.0.0.1)
// is started before EAL and floats over both cores; EAL's main lcore (core 0) runs the
// control loop (ApiSource drain -> ChangeTracker -> SyncRunner -> DpdkProvider), and the
// reflector threads, created after EAL, share core 0 with it as they do in nicproxy; one
// worker lcore (core 1) spins loading DataPlane::services and reporting quiescent state,
// so what a sync replaced waits for a real RCU grace period before it is freed (the
// control thread does not wait for it).
//
// Measured:
//  - initial sync: list transfer + decode (reflectors), then ChangeTracker::apply and
//    DpdkProvider::sync (a new index of the whole table, and its publication);
//  - 1,000 single-endpoint changes, one at a time: from just before the fake server
//    queues the MODIFIED event for its writer to the moment DpdkProvider::sync returned
//    (the worker can only see the new table from then on).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <spdlog/spdlog.h>

#include "control/api_source.hpp"
#include "control/sync_runner.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/dpdk_provider.hpp"
#include "tests/k8s_fake/fake_apiserver.hpp"
#include "tests/k8s_fake/objects.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using nicproxy::testing::FakeApiServer;

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string ip(int a, int b, int c, int d) {
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." + std::to_string(d);
}

// Wraps the DPDK provider to time its syncs.
class TimedProvider : public nicproxy::Provider {
 public:
  explicit TimedProvider(nicproxy::DpdkProvider& inner) : inner_(inner) {}
  std::string name() const override { return inner_.name(); }
  void sync(const nicproxy::ServiceTable& table, const nicproxy::ChangedPorts& changed, bool full) override {
    started = Clock::now();
    inner_.sync(table, changed, full);
    finished = Clock::now();
    ++count;
  }
  Clock::time_point started, finished;
  uint64_t count = 0;

 private:
  nicproxy::DpdkProvider& inner_;
};

struct WorkerArgs {
  nicproxy::DataPlane* plane;
  std::atomic<uint64_t> lookups{0};
};

int worker(void* arg) {
  auto& a = *static_cast<WorkerArgs*>(arg);
  rte_rcu_qsbr_thread_register(a.plane->qsbr, 0);
  rte_rcu_qsbr_thread_online(a.plane->qsbr, 0);
  uint64_t seen = 0;
  while (a.plane->running.load(std::memory_order_relaxed)) {
    const nicproxy::FastServiceTable* t = a.plane->services.load(std::memory_order_acquire);
    if (t != nullptr) seen += t->frontendCount();
    rte_rcu_qsbr_quiescent(a.plane->qsbr, 0);
  }
  rte_rcu_qsbr_thread_offline(a.plane->qsbr, 0);
  a.lookups.store(seen, std::memory_order_relaxed);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int services = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int endpointsPer = argc > 2 ? std::atoi(argv[2]) : 10;
  const int changes = argc > 3 ? std::atoi(argv[3]) : 1000;
  spdlog::set_level(spdlog::level::warn);

  char pattern[] = "/tmp/nicproxy-bench.XXXXXX";
  const std::string dir = mkdtemp(pattern);
  nicproxy::testing::makeTestCertificates(dir);
  FakeApiServer server({dir + "/server.crt", dir + "/server.key", "bench-token"});
  for (int s = 0; s < services; ++s) {
    const std::string name = "svc" + std::to_string(s);
    server.apply("services", nicproxy::testing::serviceJson("bench", name, ip(10, 96 + s / 65536, (s / 256) % 256, s % 256),
                                                           80, 8080));
    std::vector<std::string> eps;
    for (int e = 0; e < endpointsPer; ++e) eps.push_back(ip(10, 200 + e, (s / 256) % 256, s % 256));
    server.apply("endpointslices", nicproxy::testing::sliceJson("bench", name + "-1", name, eps, 8080));
  }
  server.start();  // before EAL: the server's threads may run on either core

  std::vector<std::string> args{"k8s_sync_bench", "--no-huge", "-m", "2048", "--no-pci", "--no-shconf",
                                "--file-prefix", "np-bench-" + std::to_string(getpid()), "--no-telemetry",
                                "--log-level", "*:error", "-l", "0-1"};
  std::vector<char*> eal;
  for (auto& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  nicproxy::DataPlane plane;
  const size_t qsbrSize = rte_rcu_qsbr_get_memsize(1);
  plane.qsbr = static_cast<rte_rcu_qsbr*>(rte_zmalloc("bench_qsbr", qsbrSize, RTE_CACHE_LINE_SIZE));
  rte_rcu_qsbr_init(plane.qsbr, 1);
  WorkerArgs workerArgs{&plane};
  const unsigned workerLcore = rte_get_next_lcore(-1, 1, 0);
  rte_eal_remote_launch(worker, &workerArgs, workerLcore);

  int rc = 0;
  {
    nicproxy::DpdkProvider dpdk(plane, {}, static_cast<int>(rte_socket_id()));
    TimedProvider provider(dpdk);
    nicproxy::ChangeTracker tracker("node-a");
    nicproxy::SyncRunner runner(tracker, {&provider}, nicproxy::SyncTiming{std::chrono::milliseconds(0),
                                                                           std::chrono::milliseconds(0)});
    nicproxy::k8s::Connection connection;
    connection.server = "https://127.0.0.1:" + std::to_string(server.port());
    connection.caFile = dir + "/ca.crt";
    connection.token = "bench-token";
    nicproxy::ApiSourceOptions options;  // no nodeName: no node reflector
    nicproxy::ApiSource source(connection, options);

    // ---- initial sync ------------------------------------------------------------------
    const auto t0 = Clock::now();
    source.start();
    while (!source.synced()) {
      source.waitForUpdates(Clock::now() + std::chrono::milliseconds(50));
      source.drainInto(tracker);
    }
    const auto listed = Clock::now();
    runner.runIfDue(Clock::now());
    const auto synced = Clock::now();
    std::printf("initial sync of %d services x %d endpoints (%zu service ports, %zu endpoints):\n", services,
                endpointsPer, tracker.current()->size(), tracker.current()->endpointCount());
    std::printf("  lists over HTTPS, decoded, queued and drained:  %8.1f ms  (reflector threads, core 0)\n",
                ms(listed - t0));
    std::printf("  objects arrived -> data path uses the table:   %8.1f ms  (target <= 1000 ms)\n", ms(synced - listed));
    std::printf("    of which ChangeTracker::apply:               %8.1f ms\n", ms(provider.started - listed));
    std::printf("    of which DpdkProvider::sync (build+publish): %8.1f ms\n", ms(provider.finished - provider.started));

    // ---- single-endpoint changes ------------------------------------------------------
    int rebuilds = 0;
    std::vector<double> total, transit, apply, publish, update, release;
    for (int i = 0; i < changes; ++i) {
      const int s = (i * 7919) % services;
      const std::string name = "svc" + std::to_string(s);
      std::vector<std::string> eps;
      for (int e = 0; e < endpointsPer; ++e) eps.push_back(ip(10, 200 + e, (s / 256) % 256, s % 256));
      eps[static_cast<size_t>(i % endpointsPer)] = ip(10, 250, i / 256 % 256, i % 256);  // one endpoint replaced
      boost::json::value slice = nicproxy::testing::sliceJson("bench", name + "-1", name, eps, 8080);
      const uint64_t before = provider.count;
      const auto sent = Clock::now();
      server.apply("endpointslices", std::move(slice));
      Clock::time_point drained{};
      while (provider.count == before) {
        source.waitForUpdates(Clock::now() + std::chrono::milliseconds(100));
        if (source.drainInto(tracker) > 0 && drained == Clock::time_point{}) drained = Clock::now();
        runner.runIfDue(Clock::now());
      }
      total.push_back(ms(provider.finished - sent));
      transit.push_back(ms(drained - sent));
      apply.push_back(ms(provider.started - drained));
      publish.push_back(ms(provider.finished - provider.started));
      update.push_back(ms(dpdk.lastBuildTime()));
      release.push_back(ms(dpdk.lastPublishTime()));
      rebuilds += dpdk.lastSyncRebuilt() ? 1 : 0;
    }
    const auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
    };
    std::printf("%d single-endpoint changes, watch event -> data path using the new state (ms):\n", changes);
    std::printf("  %-42s p50 %7.2f  p99 %7.2f  max %7.2f  (target p99 <= 10 ms)\n", "total", pct(total, 0.5),
                pct(total, 0.99), pct(total, 1.0));
    std::printf("  %-42s p50 %7.2f  p99 %7.2f  max %7.2f\n", "server write -> drained by control loop", pct(transit, 0.5),
                pct(transit, 0.99), pct(transit, 1.0));
    std::printf("  %-42s p50 %7.2f  p99 %7.2f  max %7.2f\n", "ChangeTracker::apply", pct(apply, 0.5), pct(apply, 0.99),
                pct(apply, 1.0));
    std::printf("  %-42s p50 %7.2f  p99 %7.2f  max %7.2f\n", "DpdkProvider::sync", pct(publish, 0.5),
                pct(publish, 0.99), pct(publish, 1.0));
    std::printf("  %-42s p50 %7.2f  p99 %7.2f  max %7.2f\n", "  of which index update (in place)", pct(update, 0.5),
                pct(update, 0.99), pct(update, 1.0));
    std::printf("  %-42s p50 %7.2f  p99 %7.2f  max %7.2f\n", "  of which publish (store, reclaim)",
                pct(release, 0.5), pct(release, 0.99), pct(release, 1.0));
    std::printf("  syncs that had to build a new index: %d of %d\n", rebuilds, changes);
    std::printf("  ratio DpdkProvider::sync / total at p50: %.2f\n", pct(publish, 0.5) / pct(total, 0.5));
    const auto& c = source.counters().endpointSlices;
    std::printf("counters: endpointslices lists %lu, watches %lu, events %lu, decode errors %lu; syncs %lu\n",
                static_cast<unsigned long>(c.lists.load()), static_cast<unsigned long>(c.watches.load()),
                static_cast<unsigned long>(c.events.load()), static_cast<unsigned long>(c.decodeErrors.load()),
                static_cast<unsigned long>(runner.counters().syncs.load()));
    source.stop();
    plane.running.store(false, std::memory_order_relaxed);
    rte_eal_mp_wait_lcore();
    if (total.size() != static_cast<size_t>(changes)) rc = 1;
  }
  server.stop();
  rte_free(plane.qsbr);
  rte_eal_cleanup();
  std::filesystem::remove_all(dir);
  return rc;
}
