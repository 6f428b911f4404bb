#pragma once
// Exits for a restart when the configuration file changes, as kube-proxy does: the
// supervisor (the DaemonSet's kubelet, systemd's Restart=always) starts nicproxy again
// with the new file, so no setting ever needs a live reload path of its own.
//
// The file is re-read every `period` and compared by content, not by mtime: a ConfigMap
// update swaps the ..data symlink to a new timestamped folder, and the file nicproxy
// names keeps the same path (and may keep an old mtime). A changed file is validated
// with the same checks as at start: a bad one is logged, once per distinct content, and
// the running configuration stays in force; a good one ends the serve loop with exit
// code 0.
//
// Threads: one, the serve loop's.
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace nicproxy {

class ConfigFileWatch {
 public:
  using Clock = std::chrono::steady_clock;
  /// The errors of a configuration text (empty: good), "key.path: message" each.
  using Validate = std::function<std::vector<std::string>(const std::string& text)>;

  /// `runningText`: the file's content as read before the running configuration was
  /// parsed from it (read it first, so that an edit in between is seen as a change).
  ConfigFileWatch(std::filesystem::path path, std::string runningText, Validate validate,
                  std::chrono::milliseconds period = std::chrono::seconds(2));

  /// Called every serve-loop round; reads the file on the first call and then when
  /// `period` has passed since the last read. 0 once the file holds a different, valid configuration; nullopt else.
  std::optional<int> exitCode(Clock::time_point now = Clock::now());

 private:
  void check();

  const std::filesystem::path path_;
  const std::string runningText_;
  const Validate validate_;
  const std::chrono::milliseconds period_;
  Clock::time_point lastRead_{};  // the clock's epoch: the first call reads
  std::optional<std::string> lastRejected_;  // invalid content already logged
  std::string lastReadError_;                // read error already logged; empty: none
  bool changed_ = false;
};

}  // namespace nicproxy
