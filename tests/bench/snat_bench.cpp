// snat-bench: what picking a SNAT port costs a worker (dpdk_app/snat_allocator.hpp), in
// the common case and in the worst cases, on a flow table as large and as full as a busy
// node's (so that lookups miss the cache as they do there).
//
// The table holds --fill connections to other backends, plus every port of one
// (backend, SNAT address, protocol) tuple that worker 0 owns but one (or all of them).
// Timed, each call alone with the TSC: pickSnatPort() for a tuple far from full; for the
// nearly full tuple the first time (32 random tries, then the packets' scan budget); for
// an exhausted tuple the worker remembers; and the loop's slice (continueSnatScans), with
// the number of slices a full scan takes. Prints numbers; asserts nothing about speed.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <netinet/in.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_random.h>

#include "dpdk_app/snat_allocator.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy::bench {
namespace {

constexpr uint32_t kPortAddress = 0x0a000001;  // 10.0.0.1/8
constexpr uint32_t kFullBackend = 0x0a010001;  // 10.1.0.1:8080, the nearly full tuple's backend
constexpr uint32_t kOtherBackends = 0x0a020000;  // 10.2.0.0/16: the filler connections' backends

struct Stats {
  std::vector<double> ns;
  void add(uint64_t cycles) { ns.push_back(static_cast<double>(cycles) * 1e9 / static_cast<double>(rte_get_tsc_hz())); }
  void print(const char* what) {
    std::sort(ns.begin(), ns.end());
    const double median = ns[ns.size() / 2];
    const double p99 = ns[std::min(ns.size() - 1, ns.size() * 99 / 100)];
    std::printf("%-72s %9.0f %9.0f %9.0f   (%zu calls)\n", what, median, p99, ns.back(), ns.size());
  }
};

FlowKey reverseFor(uint32_t backend, uint16_t backendPort, uint16_t snatPort) {
  return FlowKey{rte_cpu_to_be_32(backend), rte_cpu_to_be_32(kPortAddress), rte_cpu_to_be_16(backendPort),
                 rte_cpu_to_be_16(snatPort), IPPROTO_TCP, {0, 0, 0}};
}

bool insert(FlowTable& flows, uint32_t n, const FlowKey& reverse) {
  const FlowKey forward{rte_cpu_to_be_32(0x0ac80000 + n / 50000), rte_cpu_to_be_32(0x0a600001),
                        rte_cpu_to_be_16(static_cast<uint16_t>(10000 + n % 50000)), rte_cpu_to_be_16(80), IPPROTO_TCP,
                        {0, 0, 0}};
  const int64_t index = flows.insert(forward, reverse);
  if (index < 0) return false;
  flows.entry(static_cast<uint32_t>(index)).expiresAt = UINT64_MAX;
  return true;
}

int run(uint32_t capacity, uint32_t fill, uint16_t workers, uint32_t iterations) {
  DataPlane plane;
  PortInfo port;
  port.address = rte_cpu_to_be_32(kPortAddress);
  port.mask = rte_cpu_to_be_32(0xff000000);
  plane.ports = {port};
  plane.workerCount = workers;
  plane.timeouts = Timeouts::fromTscHz(rte_get_tsc_hz());
  FlowTable flows("snat_bench", capacity, static_cast<int>(rte_socket_id()));
  WorkerContext ctx;
  ctx.index = 0;
  ctx.plane = &plane;
  ctx.flows = &flows;

  // Every port worker 0 owns, per docs/snat.md.
  std::vector<uint16_t> owned;
  for (uint32_t p = kSnatPortMin; p <= 65535; ++p) {
    if (isSnatPort(static_cast<uint16_t>(p)) && p % workers == 0) owned.push_back(static_cast<uint16_t>(p));
  }
  uint32_t n = 0;
  for (uint32_t i = 0; i < fill; ++i) {
    const uint32_t backend = kOtherBackends + i % 60000;
    if (!insert(flows, n++, reverseFor(backend, 80, owned[i / 60000 % owned.size()]))) {
      std::fprintf(stderr, "snat-bench: the table is full at %u filler connections\n", i);
      return 1;
    }
  }
  // The nearly full tuple: every owned port but the one in the middle, which the first
  // loop-slice scan from a random start reaches after half the ports on average.
  const uint16_t spare = owned[owned.size() / 2];
  for (const uint16_t p : owned) {
    if (p != spare && !insert(flows, n++, reverseFor(kFullBackend, 8080, p))) {
      std::fprintf(stderr, "snat-bench: the table is full\n");
      return 1;
    }
  }
  std::printf("# snat-bench: flow table %u entries, %u in use; worker 0 of %u owns %zu ports; TSC %.2f GHz\n",
              capacity, flows.size(), workers, owned.size(), static_cast<double>(rte_get_tsc_hz()) / 1e9);
  std::printf("%-72s %9s %9s %9s\n", "pickSnatPort / continueSnatScans", "median ns", "p99 ns", "max ns");

  const uint64_t hz = rte_get_tsc_hz();
  uint64_t now = 1000 * hz;
  Stats common, firstMiss, exhausted, budgetSpent, slice;  // and triesOnly below

  // 1. A tuple far from full: other backends' tuples hold one connection each.
  for (uint32_t i = 0; i < iterations; ++i) {
    refillSnatScanBudget(ctx);
    FlowKey reverse{rte_cpu_to_be_32(0x0a030000 + i), 0, rte_cpu_to_be_16(80), 0, IPPROTO_TCP, {0, 0, 0}};
    const uint64_t t = rte_rdtsc();
    const bool ok = pickSnatPort(ctx, plane.ports[0], reverse, now);
    common.add(rte_rdtsc() - t);
    if (!ok) return 1;
  }
  common.print("far from full (one random try)");

  // 2. The nearly full tuple, met for the first time by a packet with the whole burst
  // budget: 32 random tries, then kSnatScanPerBurst ports scanned. The worst a packet
  // pays. (A fresh memo each time; a find by luck is counted too.)
  for (uint32_t i = 0; i < iterations; ++i) {
    ctx.snat = SnatScans{};
    refillSnatScanBudget(ctx);
    FlowKey reverse{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
    const uint64_t t = rte_rdtsc();
    pickSnatPort(ctx, plane.ports[0], reverse, now);
    firstMiss.add(rte_rdtsc() - t);
  }
  firstMiss.print("nearly full, first time (32 random tries + 256-port scan): per packet");
  Stats triesOnly;
  for (uint32_t i = 0; i < iterations; ++i) {
    ctx.snat = SnatScans{};
    ctx.snat.burstBudget = 0;
    FlowKey reverse{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
    const uint64_t t = rte_rdtsc();
    pickSnatPort(ctx, plane.ports[0], reverse, now);
    triesOnly.add(rte_rdtsc() - t);
  }
  triesOnly.print("nearly full, first time, the burst's budget spent (32 random tries)");

  // 3. The loop's slices until the spare port is ready, from a random start.
  uint64_t slices = 0;
  uint32_t passes = 0;
  for (uint32_t i = 0; i < std::max(1u, iterations / 100); ++i) {
    ctx.snat = SnatScans{};
    ctx.snat.burstBudget = 0;  // the packet scans nothing: the loop does all of it
    FlowKey reverse{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
    pickSnatPort(ctx, plane.ports[0], reverse, now);
    while (ctx.snat.entries[0].ready == SnatScan::kNone && ctx.snat.entries[0].live) {
      const uint64_t t = rte_rdtsc();
      continueSnatScans(ctx, now);
      slice.add(rte_rdtsc() - t);
      ++slices;
    }
    ++passes;
  }
  slice.print("the loop's slice (64 ports), per loop iteration");
  std::printf("%-72s %9.1f\n", "  slices until the spare port is ready (mean; a full pass is count/64)",
              static_cast<double>(slices) / passes);

  // 4. Exhausted: take the spare port, scan until the pass ends, then time packets.
  {
    ctx.snat = SnatScans{};
    if (!insert(flows, n++, reverseFor(kFullBackend, 8080, spare))) return 1;
    refillSnatScanBudget(ctx);
    FlowKey reverse{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
    pickSnatPort(ctx, plane.ports[0], reverse, now);
    uint64_t fullPass = 0;
    while (ctx.snat.entries[0].remaining != 0) {
      const uint64_t t = rte_rdtsc();
      continueSnatScans(ctx, now);
      fullPass += rte_rdtsc() - t;
    }
    std::printf("%-72s %9.0f\n", "  a full pass by the loop's slices, summed (us)",
                static_cast<double>(fullPass) * 1e6 / static_cast<double>(hz));
    for (uint32_t i = 0; i < iterations; ++i) {
      refillSnatScanBudget(ctx);
      FlowKey r{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
      const uint64_t t = rte_rdtsc();
      const bool ok = pickSnatPort(ctx, plane.ports[0], r, now);
      exhausted.add(rte_rdtsc() - t);
      if (ok) return 1;
    }
    exhausted.print("exhausted and remembered: per packet");
  }

  // 5. A scan under way and the burst's budget spent: the other packets of the burst.
  {
    ctx.snat = SnatScans{};
    FlowKey reverse{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
    refillSnatScanBudget(ctx);
    pickSnatPort(ctx, plane.ports[0], reverse, now);
    for (uint32_t i = 0; i < iterations; ++i) {
      ctx.snat.burstBudget = 0;
      ctx.snat.entries[0].remaining = ctx.snat.space.count;  // keep the scan under way
      FlowKey r{rte_cpu_to_be_32(kFullBackend), 0, rte_cpu_to_be_16(8080), 0, IPPROTO_TCP, {0, 0, 0}};
      const uint64_t t = rte_rdtsc();
      pickSnatPort(ctx, plane.ports[0], r, now);
      budgetSpent.add(rte_rdtsc() - t);
    }
    budgetSpent.print("nearly full, scan under way, burst budget spent: per packet");
  }
  return 0;
}

}  // namespace
}  // namespace nicproxy::bench

int main(int argc, char** argv) {
  CLI::App cli{"snat-bench: the cost of picking SNAT ports, common and worst cases"};
  uint32_t capacity = 1048576;
  uint32_t fill = 900000;
  uint16_t workers = 1;
  uint32_t iterations = 2000;
  cli.add_option("--capacity", capacity, "flow table entries (dpdk.flowTableSize)")->capture_default_str();
  cli.add_option("--fill", fill, "connections to other backends in the table")->capture_default_str();
  cli.add_option("--workers", workers, "workers sharing the SNAT ports (worker 0 is timed)")->capture_default_str();
  cli.add_option("--iterations", iterations, "timed calls per case")->capture_default_str();
  CLI11_PARSE(cli, argc, argv);
  std::vector<std::string> args{"snat-bench", "-l", "0", "--no-huge", "--no-shconf", "-m", "4096", "--no-pci",
                                "--no-telemetry", "--log-level", "*:error", "--file-prefix",
                                "snatbench" + std::to_string(getpid())};
  std::vector<char*> eal;
  for (std::string& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed\n");
    return 1;
  }
  const int rc = nicproxy::bench::run(capacity, fill, workers, iterations);
  rte_eal_cleanup();
  return rc;
}
