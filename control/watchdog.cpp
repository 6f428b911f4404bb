#include "control/watchdog.hpp"

#include <spdlog/spdlog.h>

namespace nicproxy {
namespace {

// The watchdog of the steps opened on this thread (set by the outermost WatchedStep).
thread_local Watchdog* tWatchdog = nullptr;

std::string secondsText(Watchdog::Clock::duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 1000) return fmt::format("{} ms", ms);
  return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000);
}

}  // namespace

Watchdog::Watchdog(std::string loopName, std::chrono::milliseconds bound, Report report)
    : loopName_(std::move(loopName)), bound_(bound), report_(std::move(report)) {
  if (!report_) report_ = [](const std::string& line) { spdlog::warn("{}", line); };
  thread_ = std::thread([this] { watch(); });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

std::string Watchdog::currentSteps() const {
  std::lock_guard lock(mutex_);
  std::string text;
  for (const Step& step : steps_) text += (text.empty() ? "" : " > ") + step.label;
  return text;
}

std::string Watchdog::describeLocked(Clock::time_point now) const {
  std::string text;
  for (const Step& step : steps_) text += (text.empty() ? "" : " > ") + step.label;
  if (steps_.size() > 1) text += " (that for " + secondsText(now - steps_.back().start) + ")";
  return text;
}

void Watchdog::push(std::string label) {
  std::lock_guard lock(mutex_);
  const Clock::time_point now = Clock::now();
  if (steps_.empty()) {
    nextReport_ = now + bound_;
    reported_ = false;
  }
  steps_.push_back(Step{std::move(label), now});
  // The watching thread sleeps until the next deadline; a new outermost step moves it.
  if (steps_.size() == 1) wake_.notify_all();
}

void Watchdog::pop() {
  std::string finished;
  {
    std::lock_guard lock(mutex_);
    if (steps_.empty()) return;
    if (steps_.size() == 1 && reported_) {
      finished = fmt::format("{}: \"{}\" finished after {} (over the {} bound)", loopName_, steps_.front().label,
                             secondsText(Clock::now() - steps_.front().start), secondsText(bound_));
    }
    steps_.pop_back();
  }
  if (!finished.empty()) report_(finished);
}

void Watchdog::watch() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (steps_.empty()) {
      wake_.wait(lock);
      continue;
    }
    const Clock::time_point now = Clock::now();
    if (now < nextReport_) {
      wake_.wait_until(lock, nextReport_);
      continue;
    }
    const std::string line = fmt::format("{} busy for {} (bound {}), waiting in: {}", loopName_,
                                         secondsText(now - steps_.front().start), secondsText(bound_),
                                         describeLocked(now));
    reported_ = true;
    nextReport_ += bound_;
    overdueReports_.fetch_add(1, std::memory_order_relaxed);
    // Reported without the lock: the loop thread must never wait on a log sink.
    lock.unlock();
    report_(line);
    lock.lock();
  }
}

WatchedStep::WatchedStep(std::string label) : WatchedStep(nullptr, std::move(label)) {}

WatchedStep::WatchedStep(Watchdog* watchdog, std::string label)
    : watchdog_(watchdog != nullptr ? watchdog : tWatchdog), previous_(tWatchdog) {
  tWatchdog = watchdog_;
  if (watchdog_ != nullptr) watchdog_->push(std::move(label));
}

WatchedStep::~WatchedStep() {
  if (watchdog_ != nullptr) watchdog_->pop();
  tWatchdog = previous_;
}

}  // namespace nicproxy
