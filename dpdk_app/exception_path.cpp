// The exception thread and the kernel interfaces (exception_path.hpp).
//
// Where it runs: one EAL control thread (rte_ctrl_thread_create), not a service lcore.
// It runs on the CPUs no lcore uses (EAL's control-thread cpuset), and on the main
// lcore's CPU when every CPU is an lcore (-l 0-1 on a two-core node), where the main
// lcore's own thread mostly sleeps in the control loop; a service lcore would take a
// whole core off the workers. It polls while there is traffic and sleeps tens of
// microseconds when a round moved nothing, so an idle node spends almost nothing on it
// and a busy one loses little latency.
//
// Who reads and writes what:
//  - PortInfo::toKernel: every worker enqueues (MP), this thread alone dequeues (SC);
//  - DataPlane::fromKernel[w]: this thread and the workers passing frames on enqueue (MP),
//    worker w alone dequeues (SC);
//  - the exception devices' queues: this thread alone, once started;
//  - ExceptionCounters: written by this thread alone, read by the metrics scrape
//    (Counter's relaxed loads).
// The rings and the plane's pointers to them are set before the workers start and
// cleared after they stopped (App's order), so no worker sees them change.
#include "dpdk_app/exception_path.hpp"

#include <sys/prctl.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <thread>

#include <pthread.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include "control/config_exception.hpp"
#include "dpdk_app/exception_device.hpp"
#include "dpdk_app/kernel_frames.hpp"
#include "dpdk_app/kernel_interface.hpp"

namespace nicproxy {

namespace {

// A round that moved nothing sleeps this long: the kernel's frames wait at most about
// this (plus the timer slack, set to match) when the path was idle.
constexpr std::chrono::microseconds kIdleSleep{20};
constexpr unsigned long kTimerSlackNs = 5000;

struct RingDeleter {
  void operator()(rte_ring* ring) const { rte_ring_free(ring); }
};
using RingPtr = std::unique_ptr<rte_ring, RingDeleter>;

RingPtr makeRing(const std::string& name, uint32_t size, int socket) {
  // Multi-producer, single consumer (data_plane.hpp).
  RingPtr ring(rte_ring_create(name.c_str(), size, socket, RING_F_SC_DEQ));
  if (!ring) throw std::runtime_error("cannot create ring " + name + ": " + rte_strerror(rte_errno));
  return ring;
}

void drain(rte_ring* ring) {
  void* m = nullptr;
  while (rte_ring_dequeue(ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
}

std::string macText(const rte_ether_addr& mac) {
  char text[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(text, sizeof text, &mac);
  return text;
}

}  // namespace

struct ExceptionPath::State {
  struct Port {
    uint16_t index = 0;  // in DataPlane::ports
    std::string interfaceName;
    ExceptionPathKind kind = ExceptionPathKind::None;
    ExceptionCounters counters;
    RingPtr toKernel;
    std::unique_ptr<ExceptionDevice> device;
    std::unique_ptr<KernelAddresses> addresses;
  };

  DataPlane& plane;
  std::vector<std::unique_ptr<Port>> ports;  // Port is cache-aligned: on the heap
  std::vector<RingPtr> fromKernel;           // per worker
  std::atomic<bool> stopping{false};
  pthread_t thread{};
  bool threadRunning = false;

  explicit State(DataPlane& p) : plane(p) {}
  ~State();
  void stopThread();
  bool serviceOnce();
  bool serviceToKernel(Port& port);
  bool serviceFromKernel(Port& port);
};

ExceptionPath::State::~State() {
  stopThread();
  // The workers are stopped (App's order): nothing enqueues any more.
  plane.kernelPort = DataPlane::kNoKernelPort;
  plane.fromKernel.clear();
  for (auto& port : ports) {
    if (port->index < plane.ports.size()) plane.ports[port->index].toKernel = nullptr;
  }
  for (auto& ring : fromKernel) drain(ring.get());
  for (auto& port : ports) {
    if (port->toKernel) drain(port->toKernel.get());
    port->addresses.reset();  // before the interface goes (a persistent one would keep them)
    port->device.reset();
  }
}

void ExceptionPath::State::stopThread() {
  if (!threadRunning) return;
  stopping.store(true, std::memory_order_relaxed);
  pthread_join(thread, nullptr);
  threadRunning = false;
}

namespace {

/// After a burst handed on: the first `done` of the `count` frames (of `lengths` bytes)
/// count in `packets` and `bytes`, the rest were refused and are freed as `reason`.
void settle(ExceptionCounters& counters, Counter& packets, Counter& bytes, rte_mbuf** frames, const uint32_t* lengths,
            unsigned count, unsigned done, DropReason reason) {
  uint64_t sum = 0;
  for (unsigned i = 0; i < done; ++i) sum += lengths[i];
  packets += done;
  bytes += sum;
  for (unsigned i = done; i < count; ++i) {
    counters.drop(reason);
    rte_pktmbuf_free(frames[i]);
  }
}

}  // namespace

bool ExceptionPath::State::serviceToKernel(Port& port) {
  rte_mbuf* frames[kBurstSize];
  const unsigned n = rte_ring_sc_dequeue_burst(port.toKernel.get(), reinterpret_cast<void**>(frames), kBurstSize, nullptr);
  if (n == 0) return false;
  // Lengths before the device has them: a sent mbuf may be freed at once.
  uint32_t lengths[kBurstSize];
  for (unsigned i = 0; i < n; ++i) lengths[i] = rte_pktmbuf_pkt_len(frames[i]);
  const uint16_t sent = rte_eth_tx_burst(port.device->portId(), 0, frames, static_cast<uint16_t>(n));
  settle(port.counters, port.counters.toKernelPackets, port.counters.toKernelBytes, frames, lengths, n, sent,
         DropReason::TxFull);
  return true;
}

bool ExceptionPath::State::serviceFromKernel(Port& port) {
  rte_mbuf* frames[kBurstSize];
  const uint16_t n = rte_eth_rx_burst(port.device->portId(), 0, frames, kBurstSize);
  if (n == 0) return false;
  const PortInfo& info = plane.ports[port.index];
  const uint16_t workers = static_cast<uint16_t>(fromKernel.size());
  // Frames grouped by worker, in order, for one enqueue per worker.
  rte_mbuf* byWorker[kBurstSize];
  uint16_t workerOf[kBurstSize];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; ++i) {
    const KernelFrameVerdict verdict = checkKernelFrame(frames[i], info, workers);
    if (verdict.drop) {
      port.counters.drop(*verdict.drop);
      rte_pktmbuf_free(frames[i]);
      continue;
    }
    frames[i]->port = port.index;  // leaves by this port; no worker has looked yet (hops 0)
    byWorker[kept] = frames[i];
    workerOf[kept] = verdict.worker;
    ++kept;
  }
  for (uint16_t w = 0; w < workers && kept != 0; ++w) {
    rte_mbuf* batch[kBurstSize];
    uint32_t lengths[kBurstSize];
    unsigned count = 0;
    for (uint16_t i = 0; i < kept; ++i) {
      if (workerOf[i] != w) continue;
      batch[count] = byWorker[i];
      lengths[count] = rte_pktmbuf_pkt_len(byWorker[i]);  // before the worker owns it
      ++count;
    }
    if (count == 0) continue;
    const unsigned queued =
        rte_ring_mp_enqueue_burst(fromKernel[w].get(), reinterpret_cast<void**>(batch), count, nullptr);
    settle(port.counters, port.counters.fromKernelPackets, port.counters.fromKernelBytes, batch, lengths, count,
           queued, DropReason::KernelRingFull);
  }
  return true;
}

bool ExceptionPath::State::serviceOnce() {
  bool moved = false;
  for (auto& port : ports) {
    moved |= serviceToKernel(*port);
    moved |= serviceFromKernel(*port);
  }
  return moved;
}

namespace {

void* exceptionThread(void* arg) {
  auto& state = *static_cast<ExceptionPath::State*>(arg);
  prctl(PR_SET_TIMERSLACK, kTimerSlackNs, 0, 0, 0);  // idle sleeps of ~20 us, not the default 50 us more
  while (!state.stopping.load(std::memory_order_relaxed)) {
    if (!state.serviceOnce()) std::this_thread::sleep_for(kIdleSleep);
  }
  return nullptr;
}

}  // namespace

uint32_t ExceptionPath::poolSize(uint16_t interfaces, uint16_t workers, uint16_t ports, uint32_t ringSize) {
  // Every worker's fromKernel ring full, each interface's rx descriptors and a burst in
  // hand, and what the ports' tx queues may still hold of them (1024 per queue).
  return workers * ringSize + interfaces * (ExceptionDevice::kRxDescriptors + 2u * kBurstSize) +
         ports * workers * 1024u + 1024u;
}

ExceptionPath::ExceptionPath(DataPlane& plane, std::vector<PortSetup> setups, const ExceptionLimitsConfig& limits,
                             rte_mempool* pool, int socket)
    : state_(std::make_unique<State>(plane)) {
  State& s = *state_;
  for (PortSetup& setup : setups) {
    if (setup.config.kind == ExceptionPathKind::None) continue;
    auto port = std::make_unique<State::Port>();
    port->index = setup.index;
    port->interfaceName = setup.interfaceName;
    port->kind = setup.config.kind;
    const PortInfo& info = plane.ports.at(setup.index);
    port->device = std::make_unique<ExceptionDevice>(setup.config.kind, setup.index, setup.interfaceName, info.mac,
                                                     info.mtu, pool);
    port->toKernel = makeRing("exc_to_kernel" + std::to_string(setup.index), limits.ringSize, socket);
    // The kernel's queue towards the thread as deep as the rings: a thread waiting for a
    // CPU would otherwise cost the node's own connections frames (tx_dropped on the tap).
    setKernelTxQueueLength(setup.interfaceName, limits.ringSize);
    if (setup.config.configureAddresses) {
      const Ipv4Cidr address{rte_be_to_cpu_32(info.address),
                             static_cast<uint8_t>(__builtin_popcount(rte_be_to_cpu_32(info.mask)))};
      const std::optional<Ipv4> gateway =
          info.gateway != 0 ? std::optional<Ipv4>(rte_be_to_cpu_32(info.gateway)) : std::nullopt;
      port->addresses = std::make_unique<KernelAddresses>(setup.interfaceName, address, gateway);
    }
    spdlog::info("exception interface {} ({}, port {} {}): MAC {}, MTU {}, addresses {}", setup.interfaceName,
                 exceptionPathKindName(setup.config.kind), setup.index, port->device->vdevName(),
                 macText(port->device->mac()), port->device->mtu(),
                 setup.config.configureAddresses ? "set by nicproxy (dpdk.ports[].exceptionAddresses \"nicproxy\")"
                                                 : "left to the host (exceptionAddresses \"host\")");
    s.ports.push_back(std::move(port));
  }
  if (s.ports.empty()) return;
  for (uint16_t w = 0; w < plane.workerCount; ++w) {
    s.fromKernel.push_back(makeRing("exc_from_kernel" + std::to_string(w), limits.ringSize, socket));
  }
  // Published last: a failure above leaves the plane as it was.
  for (auto& port : s.ports) plane.ports[port->index].toKernel = port->toKernel.get();
  for (auto& ring : s.fromKernel) plane.fromKernel.push_back(ring.get());
  plane.kernelPort = s.ports.front()->index;
}

ExceptionPath::~ExceptionPath() = default;

void ExceptionPath::start() {
  State& s = *state_;
  if (s.threadRunning || s.ports.empty()) return;
  s.stopping.store(false, std::memory_order_relaxed);
  const int rc = rte_ctrl_thread_create(&s.thread, "nicproxy-exc", nullptr, exceptionThread, &s);
  if (rc != 0) throw std::runtime_error(std::string("cannot start the exception thread: ") + rte_strerror(rc));
  s.threadRunning = true;
}

void ExceptionPath::stop() { state_->stopThread(); }

std::vector<ExceptionPath::PortView> ExceptionPath::ports() const {
  std::vector<PortView> views;
  for (const auto& port : state_->ports) {
    views.push_back({port->index, port->interfaceName, &port->counters, port->toKernel.get(), port->kind});
  }
  return views;
}

}  // namespace nicproxy
