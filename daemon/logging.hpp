#pragma once
// The daemon's log set-up from kube-proxy's flags: `-v N` (klog's verbosity) picks the
// spdlog level, `--logging-format=json` writes one JSON object per line in the shape of
// Kubernetes' JSON log format (component-base logs/json), so that the log pipeline that
// reads kube-proxy's lines reads nicproxy's.
#include <memory>
#include <optional>
#include <string>

#include <spdlog/formatter.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

enum class LogFormat { Text, Json };

/// klog verbosity to spdlog level: 0-2 info, 3-4 debug, 5+ trace. kube-proxy logs each
/// sync's summary at V(2) ("SyncProxyRules complete"), change details at V(3)-V(4) and
/// the whole iptables-restore input at V(5); nicproxy's info, debug and trace hold the
/// same kinds of lines. A negative verbosity is nullopt.
std::optional<spdlog::level::level_enum> levelFromVerbosity(int verbosity);

/// The lowest -v that shows a message of `level`: the JSON line's "v" (0 for info and
/// warn, 3 for debug, 5 for trace). Errors have none, as in klog.
std::optional<int> verbosityOfLevel(spdlog::level::level_enum level);

/// One JSON object per line: {"ts": milliseconds since the epoch (a fraction, like
/// klog's), "level", "v" (not for errors), "logger", "msg"}. The message is escaped by
/// Boost.JSON; bytes that are not UTF-8 become U+FFFD, so every line is valid JSON.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

/// `text` or `json`; nullopt for anything else.
std::optional<LogFormat> logFormatFromName(const std::string& name);

/// Installs the default logger "nicproxy" on stderr: colours when stderr is a terminal
/// for text, the JsonLogFormatter for json.
void setUpLogging(LogFormat format, spdlog::level::level_enum level);

}  // namespace nicproxy
