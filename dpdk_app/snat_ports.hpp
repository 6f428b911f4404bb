#pragma once
// The SNAT ports one worker owns, and the worker's memory of the SNAT tuples that ran
// (nearly) full. Data only; snat_allocator.hpp picks ports with them.
//
// Which ports: every port p in [kSnatPortMin, 65535] outside Kubernetes' NodePort range
// [kNodePortMin, kNodePortMax] with p % workerCount == worker index (the port names its
// owner, so that a reply reaches the worker that holds its flow: flow_table.hpp). A
// worker numbers its ports 0..count-1 in increasing order ("slots").
//
// Who reads and writes: a WorkerContext's SnatScans belongs to its worker alone.
#include <array>
#include <cstdint>

#include <rte_byteorder.h>

#include "dpdk_app/data_plane.hpp"

namespace nicproxy {

/// Slot <-> port for one worker.
struct SnatPortSpace {
  uint32_t firstLow = 0;   // the worker's lowest port >= kSnatPortMin
  uint32_t lowCount = 0;   // its ports below kNodePortMin
  uint32_t firstHigh = 0;  // its lowest port above kNodePortMax
  uint32_t count = 0;      // all its ports
  uint32_t step = 1;       // the worker count

  static SnatPortSpace of(uint32_t index, uint32_t workers) {
    SnatPortSpace s;
    s.step = workers;
    // The first port >= from that is index modulo workers.
    auto firstFrom = [&](uint32_t from) { return from + (index + workers - from % workers) % workers; };
    s.firstLow = firstFrom(kSnatPortMin);
    s.lowCount = s.firstLow < kNodePortMin ? (kNodePortMin - 1 - s.firstLow) / workers + 1 : 0;
    s.firstHigh = firstFrom(uint32_t{kNodePortMax} + 1);
    const uint32_t highCount = s.firstHigh <= 65535 ? (65535 - s.firstHigh) / workers + 1 : 0;
    s.count = s.lowCount + highCount;
    return s;
  }

  /// The port of `slot` (< count), host order.
  uint16_t portAt(uint32_t slot) const {
    return static_cast<uint16_t>(slot < lowCount ? firstLow + slot * step : firstHigh + (slot - lowCount) * step);
  }
};

/// One SNAT tuple (backend address and port, SNAT address, protocol) whose random tries
/// failed: the scan over its slots, done in slices by new connections and by the
/// worker's loop, and what it found.
struct SnatScan {
  rte_be32_t backendAddress = 0;
  rte_be32_t snatAddress = 0;
  rte_be16_t backendPort = 0;
  uint8_t protocol = 0;
  bool live = false;
  uint32_t cursor = 0;      // the next slot to look at
  uint32_t remaining = 0;   // slots left to look at in this pass; 0: none free (exhausted)
  uint32_t ready = kNone;   // a free slot the loop's slice found and no connection took yet
  uint64_t lastWanted = 0;  // TSC of the last new connection that needed the tuple
  uint64_t retryAt = 0;     // exhausted: when the next pass may start

  static constexpr uint32_t kNone = 0xffffffffu;
};

/// A worker's scans, and the per-burst budget of slots the packets may scan themselves.
struct SnatScans {
  /// Room for 16 tuples in trouble at once: two backends with all of a port's eight SNAT
  /// addresses full. A 17th takes the least recently wanted entry.
  static constexpr uint32_t kEntries = 16;
  std::array<SnatScan, kEntries> entries{};
  uint32_t live = 0;          // live entries: 0 lets a new connection skip the memo
  uint32_t burstBudget = 0;   // slots packets may still scan in this burst (processBurst refills)
  uint32_t loopCursor = 0;    // the entry the loop's next slice works on
  SnatPortSpace space;        // of (spaceIndex, spaceWorkers), computed on first use
  uint32_t spaceIndex = 0;
  uint32_t spaceWorkers = 0;  // 0: not computed yet
};

}  // namespace nicproxy
