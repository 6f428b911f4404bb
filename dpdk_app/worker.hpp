#pragma once
// The per-lcore data path.
//
// Who reads and writes: a WorkerContext belongs to one worker lcore. Its flow table,
// reassembly table, counters and transmit batches are written by that lcore only. It reads the shared
// DataPlane (see data_plane.hpp for the rules there), enqueues replies owned by another
// worker on that worker's redirect ring and dequeues its own, and reads and tries to
// write the shared ClientIP affinity table (affinity.hpp: never waits). The control
// thread reads the counters for reports; nothing else touches a context while its
// worker runs.
//
// processBurst() is the whole per-packet path and is what the dpdk tests drive with
// fixture frames; runWorker() wraps it in the rx/tx polling loop.
#include <array>
#include <cstdint>
#include <utility>

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "dpdk_app/affinity.hpp"
#include "dpdk_app/counters.hpp"
#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/snat_ports.hpp"
#include "dpdk_app/reply_limiter.hpp"

namespace nicproxy {

class ReassemblyTable;  // fragments.hpp
struct InspectMailbox;  // inspect_mailbox.hpp

/// Packets waiting for transmission, per port index.
struct TxBatch {
  // A burst's packets, and room for what they grow into: a reassembled datagram leaves in
  // up to 8 fragments at the same MTU (more towards a port with a smaller one).
  static constexpr uint16_t kCapacity = kBurstSize * 8;
  std::array<rte_mbuf*, kCapacity> packets{};
  uint16_t count = 0;
};

/// Frames for one port's kernel interface (exception_path.hpp), put on its toKernel ring
/// together at the next flushTx(): one multi-producer enqueue per loop, not per frame.
struct KernelBatch {
  std::array<rte_mbuf*, kBurstSize> packets{};
  uint16_t count = 0;
};

struct WorkerContext {
  uint16_t index = 0;          // 0 .. workerCount-1; SNAT ports encode it
  uint16_t queue = 0;          // rx/tx queue of every port this worker polls
  DataPlane* plane = nullptr;
  FlowTable* flows = nullptr;
  AffinityTable* affinity = nullptr;  // ClientIP affinity records, shared by all workers (null: none kept)
  rte_mempool* pool = nullptr; // for ARP requests, ICMP errors and the headers of fragments sent
  ReassemblyTable* reassembly = nullptr;  // this worker's IPv4 reassembly; null: fragments dropped
  rte_mempool* indirectPool = nullptr;    // fragments' payload references; null: no fragmenting
  uint64_t nextProbeAt = 0;
  uint32_t probeCursor = 0;
  uint32_t ownerProbeCursor = 0;  // in FastServiceTable::answeredAddresses()
  uint64_t seenGeneration = 0;  // the last service table generation this worker saw
  uint32_t purgeCursor = 0;     // removed-endpoint scan over the flow table
  uint32_t purgeRemaining = 0;  // entries left to scan; 0: no scan in progress
  SnatScans snat;               // SNAT tuples nearly full (snat_allocator.hpp)
  // The TSC of the processBurst() or purge in progress: the replies whose callers do not
  // pass the time (rejectTcp, sendResetToClient, ...) refill replyLimiter from it.
  uint64_t now = 0;
  ReplyLimiter replyLimiter;    // nicproxy's own RST and ICMP replies (dpdk.replyRateLimit); default: none
  // Frames this worker hands to the kernel (dpdk.exception.packetsPerSecond / workers);
  // default: none.
  ReplyLimiter exceptionLimiter;
  // While processRedirected() runs a batch: how many workers its ICMP errors visited
  // before this one (icmp_errors.hpp); 0 otherwise.
  uint8_t icmpErrorHops = 0;
  // False while processRedirected() runs: those packets were counted on their port
  // (WorkerCounters::ports) by the worker that received them.
  bool countOnPort = true;
  WorkerCounters counters;
  InspectMailbox* inspect = nullptr;  // telemetry's questions to this worker (inspect_mailbox.hpp); null: none
  std::array<TxBatch, kMaxPorts> tx{};
  std::array<KernelBatch, kMaxPorts> kernelBatches{};  // sendToKernel()'s frames, per port index
  // The last loops over 100 us, (start TSC, length in cycles), slot loopsOver100us %
  // kSlowLoopLog: so that a benchmark can tell whether they coincided with a publish.
  // Written by this worker only; read after it stopped.
  static constexpr uint32_t kSlowLoopLog = 64;
  std::array<std::pair<uint64_t, uint64_t>, kSlowLoopLog> slowLoops{};
};

static_assert(kMaxCountedPorts == kMaxPorts, "WorkerCounters::ports holds every port");

/// Frees a packet and counts why.
inline void dropPacket(WorkerContext& ctx, rte_mbuf* m, DropReason reason) {
  ctx.counters.drop(reason);
  rte_pktmbuf_free(m);
}

/// Sends a packet that is chained (reassembled) or longer than the port's MTU: as it
/// is, or in fragments (fragments.cpp).
void enqueueOversized(WorkerContext& ctx, uint16_t port, rte_mbuf* m);

/// Queues a frame as it is for transmission on port index `port` at the next flushTx().
inline void enqueueFrame(WorkerContext& ctx, uint16_t port, rte_mbuf* m) {
  TxBatch& batch = ctx.tx[port];
  if (batch.count == TxBatch::kCapacity) {
    dropPacket(ctx, m, DropReason::TxFull);
    return;
  }
  batch.packets[batch.count++] = m;
}

/// Hands `m`, received on port index `rxPort`, to worker `worker` through its redirect ring
/// (processRedirected() takes it there). `hops`: how many workers looked at it before
/// (ICMP errors that do not name their worker, icmp_errors.hpp); travels in the high byte
/// of m->port, unpacked by processRedirected().
inline void redirectToWorker(WorkerContext& ctx, rte_mbuf* m, uint16_t rxPort, uint16_t worker, uint8_t hops = 0) {
  m->port = static_cast<uint16_t>(rxPort | hops << 8);
  if (rte_ring_mp_enqueue(ctx.plane->redirect[worker], m) != 0) {
    dropPacket(ctx, m, DropReason::RedirectFull);
  } else {
    ++ctx.counters.redirected;
  }
}

/// Queues a packet for transmission on port index `port` at the next flushTx().
inline void enqueueTx(WorkerContext& ctx, uint16_t port, rte_mbuf* m) {
  if (m->nb_segs > 1 || rte_pktmbuf_pkt_len(m) > ctx.plane->ports[port].mtu + uint32_t{RTE_ETHER_HDR_LEN}) {
    enqueueOversized(ctx, port, m);
    return;
  }
  enqueueFrame(ctx, port, m);
}

/// Handles `count` packets received on port index `rxPort` at TSC `now` with the
/// published service table `services` (may be null before the first sync), and counts
/// them on the port (unless ctx.countOnPort is off). Packets
/// to send end up in ctx.tx; dropped ones are freed and counted. Never blocks, throws,
/// allocates from the heap or logs.
void processBurst(WorkerContext& ctx, const FastServiceTable* services, uint16_t rxPort,
                  rte_mbuf** packets, uint16_t count, uint64_t now);

/// Sends ARP requests for backend addresses and gateways whose MAC is unknown or old,
/// and for the external / LB IPs nicproxy answers for (does another host own one?); runs
/// a slice of the neighbour table's expiry. Bounded work per call (neighbor_probe.cpp).
void probeNeighbors(WorkerContext& ctx, const FastServiceTable* services, uint64_t now);

/// Processes what other workers redirected to this one (replies to flows it owns).
/// Returns the number of packets taken from the ring.
uint16_t processRedirected(WorkerContext& ctx, const FastServiceTable* services, uint64_t now);

/// A bounded slice of the scan that tears down flows to endpoints the service table
/// lists as removed: TCP flows get a RST towards the client, UDP flows are deleted.
/// A scan starts (or restarts its count) when a new table with removals is seen.
void purgeRemovedFlows(WorkerContext& ctx, const FastServiceTable* services, uint64_t now);

/// The bounded per-loop chores after the bursts: a slice of flow expiry, of the
/// removed-endpoint purge and of the scans for free SNAT ports (snat_allocator.hpp), and
/// the reassembly timeouts; and the telemetry's questions (inspect_mailbox.hpp).
void housekeeping(WorkerContext& ctx, const FastServiceTable* services, uint64_t now);

/// Transmits what ctx.tx holds, and hands what ctx.kernelBatches holds to the kernel
/// interfaces' rings; frees and counts what the queues and rings refuse.
void flushTx(WorkerContext& ctx);

/// The lcore entry point (rte_eal_remote_launch): polls every port's queue ctx.queue
/// until plane->running is cleared. `arg` is a WorkerContext*.
int runWorker(void* arg);

}  // namespace nicproxy
