#include "control/signals.hpp"

#include <atomic>
#include <csignal>

namespace nicproxy {

namespace {

// Two flags rather than one slot: with one slot, SIGTERM then SIGHUP before the loop
// looked left only the SIGHUP, and the daemon kept running.
std::atomic<int> pendingStop{0};         // SIGINT or SIGTERM since the last take
std::atomic<bool> pendingReload{false};  // SIGHUP since the last take
static_assert(std::atomic<int>::is_always_lock_free && std::atomic<bool>::is_always_lock_free,
              "a signal handler may only touch lock-free atomics");

void onSignal(int signal) {
  if (signal == SIGHUP) {
    pendingReload.store(true, std::memory_order_relaxed);
  } else {
    pendingStop.store(signal, std::memory_order_relaxed);
  }
}

}  // namespace

void installSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal, &action, nullptr);
}

int takePendingSignal() {
  if (const int stop = pendingStop.exchange(0, std::memory_order_relaxed); stop != 0) return stop;
  return pendingReload.exchange(false, std::memory_order_relaxed) ? SIGHUP : 0;
}

}  // namespace nicproxy
