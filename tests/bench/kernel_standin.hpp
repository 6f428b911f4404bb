#pragma once
// nicproxy-bench --exception-share: the exception path's rings as App builds them
// (exception_path.hpp, data_plane.hpp), and a thread standing in for the kernel
// interface at their far end. No kernel interface is opened: the stand-in takes the
// frames the workers hand to the kernel off the port's toKernel ring and frees them,
// so that the ring never fills and what is timed is the workers' side only. It runs
// where the exception thread runs (rte_ctrl_thread_create: the main lcore's CPU on a
// node whose other CPUs are worker lcores), and, like it, sleeps briefly when a round
// found nothing.
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <pthread.h>
#include <rte_ring.h>

#include "dpdk_app/data_plane.hpp"

namespace nicproxy::bench {

class KernelStandIn {
 public:
  /// Creates port `port`'s toKernel ring and one fromKernel ring per worker, `ringSize`
  /// frames each (MP/SC), named after `tag`; they are not in `plane` until attach().
  KernelStandIn(DataPlane& plane, uint16_t port, uint32_t ringSize, int socket, const std::string& tag);
  ~KernelStandIn();  // stops the thread, detaches, frees what the rings hold and the rings
  KernelStandIn(const KernelStandIn&) = delete;
  KernelStandIn& operator=(const KernelStandIn&) = delete;

  /// Puts the rings into the plane (the port has an exception path) / takes them out
  /// (it has none). Only while no worker reads the plane, or from the one worker.
  void attach();
  void detach();

  /// Starts the draining thread; throws std::runtime_error when it cannot.
  void start();
  void stop();

  /// Frames the stand-in took off toKernel and freed.
  uint64_t drained() const { return drained_.load(std::memory_order_relaxed); }
  /// The CPUs the draining thread may run on ("0", "0-1"...).
  std::string cpus() const;
  uint32_t ringSize() const { return ringSize_; }

 private:
  static void* run(void* arg);

  DataPlane& plane_;
  uint16_t port_;
  uint32_t ringSize_;
  rte_ring* toKernel_ = nullptr;
  std::vector<rte_ring*> fromKernel_;
  pthread_t thread_{};
  bool started_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> drained_{0};
};

}  // namespace nicproxy::bench
