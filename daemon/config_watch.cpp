#include "daemon/config_watch.hpp"

#include <utility>

#include <spdlog/spdlog.h>

#include "control/json_reader.hpp"

namespace nicproxy {

ConfigFileWatch::ConfigFileWatch(std::filesystem::path path, std::string runningText, Validate validate,
                                 std::chrono::milliseconds period)
    : path_(std::move(path)),
      runningText_(std::move(runningText)),
      validate_(std::move(validate)),
      period_(period) {}

std::optional<int> ConfigFileWatch::exitCode(Clock::time_point now) {
  if (!changed_ && now - lastRead_ >= period_) {
    lastRead_ = now;
    check();
  }
  if (changed_) return 0;
  return std::nullopt;
}

void ConfigFileWatch::check() {
  std::string readError;
  const std::optional<std::string> text = json::readFile(path_, readError);
  if (!text) {
    // Gone or unreadable (a half-done edit, a wrong mount): not a configuration to
    // restart with. Logged once per distinct error, like a bad content.
    if (lastReadError_ != readError) {
      spdlog::error("configuration file {}: {}; the running configuration stays in force", path_.string(),
                    readError);
      lastReadError_ = readError;
    }
    return;
  }
  lastReadError_.clear();
  if (*text == runningText_) {
    // Back to what runs: a bad content seen again later is news again.
    lastRejected_.reset();
    return;
  }
  if (*text == lastRejected_) return;
  const std::vector<std::string> errors = validate_(*text);
  if (!errors.empty()) {
    spdlog::error("configuration file {} changed, but the new content is not valid ({} error{}); the running "
                  "configuration stays in force:",
                  path_.string(), errors.size(), errors.size() == 1 ? "" : "s");
    for (const std::string& error : errors) spdlog::error("{}: {}", path_.string(), error);
    lastRejected_ = *text;
    return;
  }
  spdlog::info("configuration file {} changed: exiting so that the supervisor restarts nicproxy with it",
               path_.string());
  changed_ = true;
}

}  // namespace nicproxy
