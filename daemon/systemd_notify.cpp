#include "daemon/systemd_notify.hpp"

#include <cstdint>
#include <cstring>

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

namespace nicproxy {

SystemdNotifier::SystemdNotifier() {
  uint64_t usec = 0;
  // 0: keep WATCHDOG_USEC in the environment (nothing nicproxy runs inherits it for long).
  const int enabled = sd_watchdog_enabled(0, &usec);
  if (enabled < 0) {
    spdlog::warn("systemd watchdog: WATCHDOG_USEC or WATCHDOG_PID is malformed: {}; no keep-alives",
                 std::strerror(-enabled));
  } else if (enabled > 0) {
    watchdogInterval_ = std::chrono::microseconds(usec / 2);
    spdlog::info("systemd watchdog: {} ms, keep-alive every {} ms", usec / 1000, usec / 2000);
  }
}

void SystemdNotifier::notify(const std::string& state) {
  // unset_environment 0: every later call needs NOTIFY_SOCKET as well.
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0) spdlog::warn("systemd notify ({}): {}", state.substr(0, state.find('\n')), std::strerror(-rc));
}

void SystemdNotifier::ready(const std::string& status) { notify("READY=1\nSTATUS=" + status); }

void SystemdNotifier::onRound(Clock::time_point now) {
  if (!watchdogEnabled()) return;
  if (sentAny_ && now - lastWatchdog_ < watchdogInterval_) return;
  notify("WATCHDOG=1");
  lastWatchdog_ = now;
  sentAny_ = true;
  ++watchdogsSent_;
}

void SystemdNotifier::stopping(const std::string& status) { notify("STOPPING=1\nSTATUS=" + status); }

}  // namespace nicproxy
