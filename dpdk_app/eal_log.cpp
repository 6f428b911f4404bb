#include "dpdk_app/eal_log.hpp"

#include <stdio.h>  // fopencookie (glibc)
#include <sys/types.h>

#include <string_view>

#include <rte_log.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

namespace {

spdlog::level::level_enum levelOf(uint32_t dpdkLevel) {
  if (dpdkLevel <= RTE_LOG_ERR) return spdlog::level::err;  // EMERG, ALERT, CRIT, ERR
  if (dpdkLevel == RTE_LOG_WARNING) return spdlog::level::warn;
  if (dpdkLevel == RTE_LOG_DEBUG) return spdlog::level::debug;
  return spdlog::level::info;  // NOTICE, INFO
}

// rte_vlog formats one message into the stream and flushes it, so one call here holds
// the whole message (the stream's buffer is larger than any EAL line); each of its
// lines becomes one spdlog line at the message's level, which DPDK keeps per thread.
ssize_t writeToSpdlog(void* /*cookie*/, const char* buffer, size_t size) {
  const spdlog::level::level_enum level = levelOf(static_cast<uint32_t>(rte_log_cur_msg_loglevel()));
  std::string_view text(buffer, size);
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string_view line = text.substr(0, end);
    if (!line.empty()) spdlog::log(level, "dpdk: {}", line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return static_cast<ssize_t>(size);
}

}  // namespace

void routeDpdkLogsToSpdlog() {
  static FILE* const stream = [] {
    cookie_io_functions_t functions{};
    functions.write = writeToSpdlog;
    return fopencookie(nullptr, "w", functions);
  }();
  if (stream != nullptr) rte_openlog_stream(stream);
}

}  // namespace nicproxy
