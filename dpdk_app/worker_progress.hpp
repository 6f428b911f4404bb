#pragma once
// The DPDK mode's liveness check (/livez): a worker lcore whose polling loop stops
// moving has hung (a deadlock in a driver, a spin on a ring, an endless loop), and
// nothing else would notice: the control thread keeps syncing and /healthz stays green.
//
// The check is called from an HTTP thread at every probe. It reads each worker's loop
// counter (WorkerCounters::loops, a relaxed load) and remembers when it last saw it
// change; a counter that has not changed for longer than the stall time fails the
// check, naming the worker and its lcore. Two probes that read the same count prove the
// worker made no progress in between, so a probe period longer than the stall time
// only delays the verdict, never makes it wrong. A healthy worker loops millions of
// times a second even when idle.
//
// Who reads and writes: watch() and forget() run on the control thread (App), check()
// on HTTP threads; one mutex between them. The counters must outlive watch() .. forget():
// App calls forget() before the workers' contexts go, and a check after forget() passes
// (the process is shutting down; the sync health says the rest).
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dpdk_app/counters.hpp"

namespace nicproxy {

class WorkerProgress {
 public:
  using Clock = std::chrono::steady_clock;
  struct Watched {
    uint16_t worker = 0;
    unsigned lcore = 0;
    const Counter* loops = nullptr;
  };

  explicit WorkerProgress(std::chrono::milliseconds stallAfter) : stallAfter_(stallAfter) {}

  /// Starts watching (the workers were just launched).
  void watch(std::vector<Watched> workers, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    seen_.clear();
    for (const Watched& w : workers) seen_.push_back(Seen{w, w.loops->load(), now});
  }
  /// Stops watching; the counters may go after this returns.
  void forget() {
    std::lock_guard lock(mutex_);
    seen_.clear();
  }
  /// Nullopt while every worker moves; else what is wrong, naming every stalled worker.
  std::optional<std::string> check(Clock::time_point now) {
    std::lock_guard lock(mutex_);
    std::string stalled;
    for (Seen& s : seen_) {
      const uint64_t loops = s.watched.loops->load();
      if (loops != s.loops) {
        s.loops = loops;
        s.changedAt = now;
        continue;
      }
      const auto still = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.changedAt);
      if (still <= stallAfter_) continue;
      // The same words for as long as the same stall lasts (no elapsed time in them): the
      // health server logs each new text, and a probe every few seconds must not add a line.
      stalled += (stalled.empty() ? "" : "; ") + std::string("worker ") + std::to_string(s.watched.worker) +
                 " on lcore " + std::to_string(s.watched.lcore) + " has not looped for more than " +
                 std::to_string(stallAfter_.count()) + " ms (stuck at " + std::to_string(loops) + " loops)";
    }
    if (stalled.empty()) return std::nullopt;
    return "data path stalled: " + stalled;
  }

 private:
  struct Seen {
    Watched watched;
    uint64_t loops = 0;
    Clock::time_point changedAt;
  };
  const std::chrono::milliseconds stallAfter_;
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

}  // namespace nicproxy
