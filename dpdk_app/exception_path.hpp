#pragma once
// The exception path: a kernel interface per DPDK port (DPDK's net_tap, or virtio-user
// where the host has /dev/vhost-net) that gets every frame the data path does not handle
// itself, and whose frames leave through the port, so that DPDK can own a node's only
// NIC and the node keeps working (SSH, the kubelet, its own egress, routing daemons,
// health checks, the pods behind its kernel). docs/exception-path.md.
//
// Two halves:
//  - the workers' (exception_worker.cpp): sendToKernel() hands a frame to the port's
//    toKernel ring after the worker's token bucket; processFromKernel() takes what the
//    exception thread put on the worker's fromKernel ring: replies of nicproxy flows to
//    local endpoints are translated back, the rest leaves through the port unchanged.
//  - the exception thread's (exception_path.cpp): ExceptionPath opens the kernel
//    interfaces and services them off the workers' hot loop, moving frames between the
//    rings and the interfaces' queues, checking what the kernel sends.
//
// Rings and ordering: see data_plane.hpp. A frame on a fromKernel ring carries the index
// of the port it is to leave by in the low byte of m->port and, in the high byte, how
// many workers have looked for its flow before (a reply of a connection to a local
// endpoint that kept the client's address names no owner: it visits the workers in turn,
// as ICMP errors do, icmp_errors.hpp).
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <rte_mbuf.h>

#include "control/config.hpp"
#include "dpdk_app/counters.hpp"
#include "dpdk_app/service_table.hpp"
#include "dpdk_app/worker.hpp"

namespace nicproxy {

// ---- the workers' half (exception_worker.cpp) --------------------------------------

/// Hands `m`, received on port index `port`, to the kernel through the port's exception
/// interface, unchanged: after a token from ctx.exceptionLimiter (else dropped as
/// ExceptionRateLimited), onto ports[port].toKernel (else ExceptionRingFull); counted in
/// ports[port].toKernelPackets. A port without an exception path drops it as `otherwise`.
void sendToKernel(WorkerContext& ctx, uint16_t port, rte_mbuf* m, DropReason otherwise);

/// Puts the frames ctx.kernelBatches holds on their ports' toKernel rings, one burst per
/// port; what a full ring refuses is dropped as ExceptionRingFull. flushTx() calls it.
void flushToKernel(WorkerContext& ctx);

/// True when port index `port` has an exception path.
inline bool hasExceptionPath(const WorkerContext& ctx, uint16_t port) {
  return ctx.plane->ports[port].toKernel != nullptr;
}

/// Takes up to a burst of frames from this worker's fromKernel ring: translates replies
/// of its flows back (to the client), passes a frame that may belong to another worker's
/// flow on, and sends everything else out of its port unchanged. Returns how many it took.
uint16_t processFromKernel(WorkerContext& ctx, const FastServiceTable* services, uint64_t now);

// ---- the exception thread's half (exception_path.cpp) ------------------------------

/// What the exception thread did on one port; it is the only writer (Counter).
struct alignas(64) ExceptionCounters {
  Counter toKernelPackets;    // written into the kernel interface
  Counter toKernelBytes;
  Counter fromKernelPackets;  // read from the kernel interface and handed to a worker
  Counter fromKernelBytes;
  std::array<Counter, kDropReasonCount> drops{};  // KernelFrame*, KernelRingFull, TxFull (interface refused)

  void drop(DropReason reason) { ++drops[static_cast<size_t>(reason)]; }
  uint64_t dropCount(DropReason reason) const { return drops[static_cast<size_t>(reason)].load(); }
};

/// The kernel interfaces of every port that has one, and the thread that services them.
/// Built by App after the ports are open and before the workers start; destroyed after
/// the workers stopped and before the ports close.
class ExceptionPath {
 public:
  struct PortSetup {
    uint16_t index = 0;           // port index in DataPlane::ports
    ExceptionPathConfig config;   // kind != None
    std::string interfaceName;    // resolved ("nicproxy0" when the file left it out)
  };

  /// Opens the interfaces (MAC and MTU of their ports, `setups[i].interfaceName`), gives
  /// them their addresses when asked, creates the rings (dpdk.exception.ringSize) and sets
  /// PortInfo::toKernel, DataPlane::fromKernel and DataPlane::kernelPort. `pool` is the
  /// interfaces' own rx pool (poolSize), so that a busy kernel cannot starve the ports'
  /// rx of mbufs; what the workers hand to the kernel comes from the ports' pool. Throws
  /// std::runtime_error naming the port and the step that failed (virtio-user without
  /// /dev/vhost-net says so).
  ExceptionPath(DataPlane& plane, std::vector<PortSetup> setups, const ExceptionLimitsConfig& limits,
                rte_mempool* pool, int socket);
  ~ExceptionPath();  // stops the thread, frees what the rings hold, closes the interfaces

  /// Mbufs `pool` needs for `interfaces` exception interfaces beside `ports` ports and
  /// `workers` workers: the fromKernel rings full, the interfaces' rx descriptors, and
  /// what the ports' tx queues may still hold of them. The pool must outlive the ports
  /// (frames from the kernel leave through them): App keeps it until they are closed.
  static uint32_t poolSize(uint16_t interfaces, uint16_t workers, uint16_t ports, uint32_t ringSize);
  ExceptionPath(const ExceptionPath&) = delete;
  ExceptionPath& operator=(const ExceptionPath&) = delete;

  /// Starts the exception thread (an EAL control thread: see exception_path.cpp for its CPU).
  void start();
  /// Stops it; idempotent.
  void stop();

  struct PortView {
    uint16_t index;
    std::string interfaceName;
    const ExceptionCounters* counters;
    const rte_ring* toKernel;
    ExceptionPathKind kind;
  };
  std::vector<PortView> ports() const;

  struct State;

 private:
  std::unique_ptr<State> state_;
};

}  // namespace nicproxy
