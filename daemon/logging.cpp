#include "daemon/logging.hpp"

#include <chrono>
#include <string_view>

#include <boost/json.hpp>
#include <boost/locale/utf.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace nicproxy {

namespace {

// JSON text must be UTF-8 (RFC 8259) and Boost.JSON writes a string's bytes as they
// are, so a message holding other bytes (a file name, a peer's text) would make the
// line unreadable to a JSON parser. Each byte that does not start a valid sequence
// becomes U+FFFD, as zap's JSON encoder does.
std::string validUtf8(std::string_view text) {
  namespace utf = boost::locale::utf;
  std::string out;
  out.reserve(text.size());
  const char* it = text.data();
  const char* const end = it + text.size();
  while (it != end) {
    const char* const start = it;
    const utf::code_point c = utf::utf_traits<char>::decode(it, end);
    if (c == utf::illegal || c == utf::incomplete) {
      out += "\xEF\xBF\xBD";
      it = start + 1;
    } else {
      out.append(start, it);
    }
  }
  return out;
}

}  // namespace

std::optional<spdlog::level::level_enum> levelFromVerbosity(int verbosity) {
  if (verbosity < 0) return std::nullopt;
  if (verbosity <= 2) return spdlog::level::info;
  if (verbosity <= 4) return spdlog::level::debug;
  return spdlog::level::trace;
}

std::optional<int> verbosityOfLevel(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return 5;
    case spdlog::level::debug: return 3;
    case spdlog::level::info:
    case spdlog::level::warn: return 0;
    default: return std::nullopt;
  }
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
  boost::json::object line;
  line["level"] = std::string_view(level.data(), level.size());
  if (const auto v = verbosityOfLevel(msg.level)) line["v"] = *v;
  line["logger"] = validUtf8({msg.logger_name.data(), msg.logger_name.size()});
  line["msg"] = validUtf8({msg.payload.data(), msg.payload.size()});
  // "ts" first, in fixed notation as klog writes it ("ts":1733123456789.123):
  // Boost.JSON would write a double as 1.733123456789123E12. Everything else, and all
  // escaping, is Boost.JSON's: its object text is spliced in after the number.
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(msg.time.time_since_epoch()).count();
  const std::string rest = boost::json::serialize(line);  // "{...}", never empty
  fmt::format_to(std::back_inserter(dest), "{{\"ts\":{}.{:03},{}\n", micros / 1000, micros % 1000,
                 std::string_view(rest).substr(1));
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

std::optional<LogFormat> logFormatFromName(const std::string& name) {
  if (name == "text") return LogFormat::Text;
  if (name == "json") return LogFormat::Json;
  return std::nullopt;
}

void setUpLogging(LogFormat format, spdlog::level::level_enum level) {
  std::shared_ptr<spdlog::logger> logger;
  if (format == LogFormat::Json) {
    // No colour codes inside JSON: the plain stderr sink.
    logger = spdlog::stderr_logger_mt("nicproxy");
    logger->set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger = spdlog::stderr_color_mt("nicproxy");
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(level);
}

}  // namespace nicproxy
