#pragma once
// Picking the SNAT source (address, port) of a new connection: a port this worker owns
// (snat_ports.hpp) that no connection of the same (backend address, backend port,
// SNAT address, protocol) uses, since the reply key must be unique.
//
// How, per SNAT address of the port (starting with a random one, so that new
// connections spread over them):
//  1. one random port, looked up alone: a tuple far from full ends here;
//  2. 31 more random ports in one bulk lookup;
//  3. when all 32 were taken, the tuple is nearly full: the worker remembers it
//     (SnatScans, 16 tuples) and scans its ports in order from a random start, 64 per
//     bulk lookup, until a free one turns up or every port was looked at once. Packets
//     scan at most kSnatScanPerBurst ports per burst between them; the rest of the scan
//     runs in the worker's loop (continueSnatScans, kSnatScanPerLoop per loop), which
//     keeps the next free port ready for the next connection. A scan that finds none
//     marks the tuple exhausted: its new connections are dropped at the cost of the
//     memo lookup, and the next scan starts kSnatExhaustedRetryMs later, not sooner.
// So the work per packet is bounded (docs/snat.md has the numbers), and a free port is
// found if one exists, at the latest by the loop's scan.
//
// Per packet on a worker; same rules as worker.hpp.
#include <cstdint>

#include "dpdk_app/data_plane.hpp"
#include "dpdk_app/flow_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

inline constexpr uint32_t kSnatRandomTries = 32;
inline constexpr uint32_t kSnatScanPerBurst = 256;  // ports the packets of one burst may scan
inline constexpr uint32_t kSnatScanPerLoop = 64;    // ports the worker's loop scans per iteration
inline constexpr uint64_t kSnatExhaustedRetryMs = 500;
inline constexpr uint64_t kSnatScanIdleMs = 2000;   // a remembered tuple nobody wanted this long is forgotten

/// processBurst's first step: the scan budget of the burst's packets.
inline void refillSnatScanBudget(WorkerContext& ctx) { ctx.snat.burstBudget = kSnatScanPerBurst; }

/// Picks a free SNAT address of `port` and a free port owned by this worker for the reply
/// key `reverse`, whose sourceAddress, sourcePort (the backend) and protocol are set;
/// fills in destinationAddress and destinationPort. False when none was found
/// (snat_ports_exhausted): every address's ports are taken, or a scan is under way and
/// the burst's budget is spent.
bool pickSnatPort(WorkerContext& ctx, const PortInfo& port, FlowKey& reverse, uint64_t now);

/// pickSnatPort() among the port's extra SNAT addresses only (dpdk.ports[].snatAddresses),
/// never the port address: for connections to local endpoints through the kernel
/// interface, which owns the port address (a reply to it would stay in the kernel).
/// False also when the port has none.
bool pickExtraSnatPort(WorkerContext& ctx, const PortInfo& port, FlowKey& reverse, uint64_t now);

/// The loop's slice of the pending scans: forgets tuples nobody wanted for
/// kSnatScanIdleMs, and scans kSnatScanPerLoop ports of one tuple that has no free port
/// ready. Nothing to do (one compare) while no tuple is nearly full.
void continueSnatScans(WorkerContext& ctx, uint64_t now);

}  // namespace nicproxy
