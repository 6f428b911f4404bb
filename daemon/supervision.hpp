#pragma once
// What the process tells its supervisor, and when it asks to be restarted: systemd's
// notify protocol (systemd_notify.hpp) and the configuration-file watch
// (config_watch.hpp), added to the serve loop through its hooks.
//
//   onReady   READY=1 ("serving"), once the first sync has programmed the dataplane
//   onRound   WATCHDOG=1 at half of WatchdogSec
//   exitCode  the config-file watch; when it ends the loop, STOPPING=1 at once
//   stopped() STOPPING=1 after the loop ended for any other reason (a signal)
//
// Threads: one, the serve loop's (main's).
#include <filesystem>
#include <string>

#include "control/serve_loop.hpp"
#include "daemon/config_watch.hpp"
#include "daemon/systemd_notify.hpp"

namespace nicproxy {

class Supervision {
 public:
  Supervision(std::filesystem::path configPath, std::string runningConfigText, ConfigFileWatch::Validate validate);
  // The hooks hold `this`.
  Supervision(const Supervision&) = delete;
  Supervision& operator=(const Supervision&) = delete;

  /// Chains this object's work after whatever `hooks` already holds; `*this` must
  /// outlive the serve loop.
  void addTo(ServeLoopHooks& hooks);
  /// The serve loop returned `exitCode` (or threw: nonzero): STOPPING=1 unless sent.
  void stopped(int exitCode);

 private:
  SystemdNotifier notifier_;
  ConfigFileWatch watch_;
  bool stoppingSent_ = false;
};

}  // namespace nicproxy
