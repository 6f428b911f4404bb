#pragma once
// systemd's notify protocol (Type=notify in configs/nicproxy.service), through
// libsystemd's sd_notify: READY=1 once the first sync has programmed the dataplane,
// WATCHDOG=1 from the serve loop at half of WatchdogSec, STOPPING=1 on the way out,
// STATUS= lines for `systemctl status`. Without NOTIFY_SOCKET (not started by systemd)
// every call does nothing, so the daemon uses it unconditionally.
//
// Threads: one, the serve loop's (the callers of ready/onRound/stopping).
#include <chrono>
#include <string>

namespace nicproxy {

class SystemdNotifier {
 public:
  using Clock = std::chrono::steady_clock;

  /// Reads WATCHDOG_USEC and WATCHDOG_PID (sd_watchdog_enabled) once.
  SystemdNotifier();

  /// True when systemd asked for keep-alives (WatchdogSec= in the unit).
  bool watchdogEnabled() const { return watchdogInterval_.count() > 0; }
  /// Half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends; zero when disabled.
  std::chrono::microseconds watchdogInterval() const { return watchdogInterval_; }

  /// READY=1 with a STATUS= line: the first sync succeeded.
  void ready(const std::string& status);
  /// Every serve-loop round: WATCHDOG=1 when the last one is watchdogInterval() old.
  /// A loop that hangs stops calling this, and systemd restarts the service.
  void onRound(Clock::time_point now = Clock::now());
  /// STOPPING=1 with a STATUS= line saying why.
  void stopping(const std::string& status);
  /// Keep-alives sent so far (for tests).
  unsigned watchdogsSent() const { return watchdogsSent_; }

 private:
  void notify(const std::string& state);

  std::chrono::microseconds watchdogInterval_{0};
  Clock::time_point lastWatchdog_{};
  bool sentAny_ = false;
  unsigned watchdogsSent_ = 0;
};

}  // namespace nicproxy
