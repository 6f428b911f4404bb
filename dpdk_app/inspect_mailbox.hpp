#pragma once
// How another thread looks into a worker: a one-slot mailbox per worker, served by the
// worker itself in its chores (housekeeping()).
//
// Why: a worker's flow table is a single-writer rte_hash without concurrency flags, and
// its entries change under it, so no other thread may read it (flow_table.hpp). Instead
// the inspector (the telemetry thread, dpdk_app/inspect.hpp) writes a query and asks; the
// worker scans its own table in bounded slices (kInspectSlice entries per loop, so that
// a scan of a million flows never makes a loop pause), copies what matches and its
// counters into the answer, and answers.
//
// Who reads and writes, and the memory ordering:
//  - query: written by the inspector only while asked == answered (no query in flight),
//    then published by asked.store(n, release). The worker reads it after
//    asked.load(acquire) returned n, so it sees the whole query.
//  - answer: written by the worker only between taking query n and answered.store(n,
//    release); the inspector reads it after answered.load(acquire) returned n. The
//    inspector does not write a new query until the worker answered the last one (a
//    query that timed out is still answered later), so the two never overlap.
//  - serving, cursor: the worker's own.
// The worker's cost while nobody asks: one load of `asked` per loop.
#include <array>
#include <atomic>
#include <cstdint>

#include "dpdk_app/flow_table.hpp"

namespace nicproxy {

struct WorkerContext;

inline constexpr uint32_t kInspectSlice = 4096;  // flow entries scanned per worker loop
inline constexpr uint32_t kInspectMaxRows = 24;  // flows copied per answer

/// Which live flows a query matches (network order; 0 means any).
struct FlowFilter {
  rte_be32_t source = 0;       // client address (forward.sourceAddress)
  rte_be16_t sourcePort = 0;
  rte_be32_t frontend = 0;     // VIP, external, LB or node address (forward.destinationAddress)
  rte_be16_t frontendPort = 0;
  uint8_t protocol = 0;        // IPPROTO_*
  rte_be32_t backend = 0;      // endpoint address (reverse.sourceAddress)

  bool matches(const FlowEntry& e) const {
    return (source == 0 || e.forward.sourceAddress == source) &&
           (sourcePort == 0 || e.forward.sourcePort == sourcePort) &&
           (frontend == 0 || e.forward.destinationAddress == frontend) &&
           (frontendPort == 0 || e.forward.destinationPort == frontendPort) &&
           (protocol == 0 || e.forward.protocol == protocol) && (backend == 0 || e.reverse.sourceAddress == backend);
  }
};

/// A question to a worker: its counters always; the flows matching `filter` when
/// `listFlows` (the scan is skipped otherwise).
struct InspectQuery {
  bool listFlows = false;
  FlowFilter filter;
};

/// A flow as the answer carries it.
struct FlowRow {
  FlowKey forward;
  FlowKey reverse;
  TcpState tcpState;
  bool sawReply;
};

/// What the worker answers: its counters, its flow table's occupancy, the matching flows.
struct InspectAnswer {
  uint64_t rxPackets = 0;
  uint64_t txPackets = 0;
  uint64_t natForward = 0;
  uint64_t natReverse = 0;
  uint64_t flowsCreated = 0;
  uint64_t flowsExpired = 0;
  uint64_t drops = 0;
  uint32_t flows = 0;
  uint32_t flowCapacity = 0;
  uint32_t matched = 0;   // flows that match the filter (may exceed rowCount)
  uint32_t rowCount = 0;  // rows filled
  std::array<FlowRow, kInspectMaxRows> rows{};
};

struct alignas(64) InspectMailbox {
  std::atomic<uint64_t> asked{0};
  std::atomic<uint64_t> answered{0};
  InspectQuery query;
  InspectAnswer answer;
  // The worker's own progress through a query.
  uint64_t serving = 0;  // the query being answered; 0: none
  uint32_t cursor = 0;   // next flow entry to scan
};

/// The worker's side: takes a new query, scans a slice, answers when the scan is done.
/// Bounded work per call; never blocks. Does nothing when ctx.inspect is null.
void serveInspection(WorkerContext& ctx);

}  // namespace nicproxy
