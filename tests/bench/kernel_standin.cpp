#include "tests/bench/kernel_standin.hpp"

#include <sched.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include <rte_lcore.h>
#include <rte_mbuf.h>

namespace nicproxy::bench {
namespace {

rte_ring* makeRing(const std::string& name, uint32_t size, int socket) {
  // Multi-producer (every worker), single consumer, as data_plane.hpp describes.
  rte_ring* ring = rte_ring_create(name.c_str(), size, socket, RING_F_SC_DEQ);
  if (ring == nullptr) throw std::runtime_error("bench: cannot create ring " + name + " of " + std::to_string(size));
  return ring;
}

void freeRing(rte_ring* ring) {
  if (ring == nullptr) return;
  void* m = nullptr;
  while (rte_ring_dequeue(ring, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  rte_ring_free(ring);
}

}  // namespace

KernelStandIn::KernelStandIn(DataPlane& plane, uint16_t port, uint32_t ringSize, int socket, const std::string& tag)
    : plane_(plane), port_(port), ringSize_(ringSize) {
  toKernel_ = makeRing("btk" + tag, ringSize, socket);
  for (uint16_t w = 0; w < plane.workerCount; ++w) {
    fromKernel_.push_back(makeRing("bfk" + tag + "_" + std::to_string(w), ringSize, socket));
  }
}

KernelStandIn::~KernelStandIn() {
  stop();
  detach();
  freeRing(toKernel_);
  for (rte_ring* ring : fromKernel_) freeRing(ring);
}

void KernelStandIn::attach() {
  plane_.ports[port_].toKernel = toKernel_;
  plane_.fromKernel = fromKernel_;
}

void KernelStandIn::detach() {
  plane_.ports[port_].toKernel = nullptr;
  plane_.fromKernel.clear();
}

void KernelStandIn::start() {
  if (started_) return;
  stopping_.store(false);
  // As the exception thread is made: a control thread, on the CPUs no lcore has, or the
  // main lcore's when every CPU is an lcore's (a 2-CPU node with one worker).
  if (rte_ctrl_thread_create(&thread_, "bench-kernel", nullptr, &KernelStandIn::run, this) != 0) {
    throw std::runtime_error("bench: cannot start the kernel stand-in thread");
  }
  started_ = true;
}

void KernelStandIn::stop() {
  if (!started_) return;
  stopping_.store(true);
  pthread_join(thread_, nullptr);
  started_ = false;
}

std::string KernelStandIn::cpus() const {
  if (!started_) return "?";
  cpu_set_t set;
  CPU_ZERO(&set);
  if (pthread_getaffinity_np(thread_, sizeof set, &set) != 0) return "?";
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) out += (out.empty() ? "" : ",") + std::to_string(cpu);
  }
  return out;
}

void* KernelStandIn::run(void* arg) {
  auto& self = *static_cast<KernelStandIn*>(arg);
  rte_mbuf* frames[64];
  while (!self.stopping_.load(std::memory_order_relaxed)) {
    const unsigned n = rte_ring_sc_dequeue_burst(self.toKernel_, reinterpret_cast<void**>(frames), 64, nullptr);
    if (n == 0) {
      // What the exception thread does when a round moved nothing.
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      continue;
    }
    rte_pktmbuf_free_bulk(frames, n);
    self.drained_.store(self.drained_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  return nullptr;
}

}  // namespace nicproxy::bench
