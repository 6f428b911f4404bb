#pragma once
// nicproxy-bench --update-pauses: the real runWorker() on a worker lcore, fed with
// generated traffic by the main lcore, which also publishes a changed service every
// `intervalMs` (0: never). Prints the publish times and the worker's loop lengths
// (loops, loops over 100 us, the longest); returns the longest loop in microseconds.
// `realtimePriority` > 0 runs the worker lcore under SCHED_FIFO at that priority, so
// that ordinary tasks cannot preempt it: on a shared host this separates the data
// path's own pauses from the scheduler's. It needs root and, to keep the kernel's RT
// throttling (by default 50 ms of every second) from stopping the worker,
// /proc/sys/kernel/sched_rt_runtime_us at -1 for the run (scripts/bench_pauses.sh).
#include <cstdint>

namespace nicproxy::bench {

double updatePauses(uint32_t services, uint32_t endpoints, uint32_t flowCount, uint16_t packetSize, uint32_t intervalMs,
                    double seconds, int realtimePriority);

}  // namespace nicproxy::bench
