#include "daemon/supervision.hpp"

#include <utility>

namespace nicproxy {

Supervision::Supervision(std::filesystem::path configPath, std::string runningConfigText,
                         ConfigFileWatch::Validate validate)
    : watch_(std::move(configPath), std::move(runningConfigText), std::move(validate)) {}

void Supervision::addTo(ServeLoopHooks& hooks) {
  hooks.onReady = [this, before = std::move(hooks.onReady)] {
    if (before) before();
    notifier_.ready("serving");
  };
  hooks.onRound = [this, before = std::move(hooks.onRound)] {
    if (before) before();
    notifier_.onRound();
  };
  hooks.exitCode = [this, before = std::move(hooks.exitCode)]() -> std::optional<int> {
    if (before) {
      if (const auto code = before()) return code;
    }
    const std::optional<int> code = watch_.exitCode();
    if (code && !stoppingSent_) {
      // Said now, not after the teardown: systemd then knows the exit is intended.
      notifier_.stopping("configuration file changed: exiting for a restart with it");
      stoppingSent_ = true;
    }
    return code;
  };
}

void Supervision::stopped(int exitCode) {
  if (stoppingSent_) return;
  notifier_.stopping(exitCode == 0 ? "stopping" : "stopping after an error (exit code " + std::to_string(exitCode) + ")");
  stoppingSent_ = true;
}

}  // namespace nicproxy
