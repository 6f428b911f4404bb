#pragma once
// Notices a control loop that hangs anyway, despite the timeouts on commands and
// requests, and says what it is waiting for. The loop marks each step it takes
// ("iptables sync of generation 7 (full)"); code deep inside marks its own waits
// ("iptables-restore -w", "GET /api/v1/services?limit=500") without knowing about the
// watchdog. A thread of the watchdog's own warns when the outermost step has run
// longer than the bound, naming every step it is inside, again at each further bound,
// and once more when the step ends at last.
//
// Threads: one watched thread opens and closes steps (WatchedStep, strictly nested);
// the watchdog's thread reads them under mutex_. A WatchedStep on a thread that no
// watchdog watches does nothing, so the process runner and the API client can mark
// their waits everywhere (tests, --cleanup, the reflector threads) at no cost.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace nicproxy {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;
  using Report = std::function<void(const std::string&)>;  // one warning line

  /// `loopName` starts every report ("control loop"); `report` defaults to spdlog::warn.
  Watchdog(std::string loopName, std::chrono::milliseconds bound, Report report = {});
  ~Watchdog();  // stops and joins its thread
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  std::chrono::milliseconds bound() const { return bound_; }
  /// Warnings about steps over the bound so far (for tests and metrics).
  uint64_t overdueReports() const { return overdueReports_.load(std::memory_order_relaxed); }
  /// "a > b > c": the steps open now, outermost first; empty when idle.
  std::string currentSteps() const;

 private:
  friend class WatchedStep;
  struct Step {
    std::string label;
    Clock::time_point start;
  };
  void push(std::string label);
  void pop();
  void watch();
  std::string describeLocked(Clock::time_point now) const;

  const std::string loopName_;
  const std::chrono::milliseconds bound_;
  Report report_;
  std::atomic<uint64_t> overdueReports_{0};
  mutable std::mutex mutex_;  // guards everything below
  std::condition_variable wake_;
  std::vector<Step> steps_;
  Clock::time_point nextReport_{};  // of the outermost step
  bool reported_ = false;           // the outermost step was reported overdue
  bool stopping_ = false;
  std::thread thread_;              // last: starts after the members it reads
};

/// Marks one step of the calling thread for its lifetime (RAII; steps nest).
class WatchedStep {
 public:
  /// A step of whatever watchdog watches this thread now; nothing when none does.
  explicit WatchedStep(std::string label);
  /// A step under `watchdog`, which watches this thread until the step ends; a null
  /// watchdog makes it the one-argument form.
  WatchedStep(Watchdog* watchdog, std::string label);
  ~WatchedStep();
  WatchedStep(const WatchedStep&) = delete;
  WatchedStep& operator=(const WatchedStep&) = delete;

 private:
  Watchdog* watchdog_;
  Watchdog* previous_;  // the thread's watchdog before this step
};

}  // namespace nicproxy
