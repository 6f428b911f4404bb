#include "control/signals.hpp"

#include <atomic>
#include <csignal>

namespace nicproxy {

namespace {

std::atomic<int> pendingSignal{0};
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler may only touch lock-free atomics");

void onSignal(int signal) { pendingSignal.store(signal, std::memory_order_relaxed); }

}  // namespace

void installSignalHandlers() {
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal, &action, nullptr);
}

int takePendingSignal() { return pendingSignal.exchange(0, std::memory_order_relaxed); }

}  // namespace nicproxy
