#pragma once
// nicproxy-bench --update-pauses: the real runWorker() on a worker lcore, fed with
// generated traffic by the main lcore, which also publishes a changed service every
// `intervalMs` (0: never). Prints the publish times and the worker's loop lengths
// (loops, loops over 100 us, the longest); returns the longest loop in microseconds.
#include <cstdint>

namespace nicproxy::bench {

double updatePauses(uint32_t services, uint32_t endpoints, uint32_t flowCount, uint16_t packetSize, uint32_t intervalMs,
                    double seconds);

}  // namespace nicproxy::bench
