// Tests: daemon/logging (-v to levels, the JSON log format).
//   Verbosity.KlogLevelsToSpdlog   0-2 info, 3-4 debug, 5+ trace, negative refused
//   JsonLog.EveryLineParsesBack    quotes, newline, backslash, tab, a control byte, UTF-8 and
//                                  bytes that are not UTF-8: one line per message, each valid
//                                  JSON (Boost.JSON parses it back) with the message intact
//   JsonLog.KlogFields             ts (ms since the epoch), level, v (not on errors), logger
//   JsonLog.LevelFilterFollowsV    -v 3 shows debug, hides trace
#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include "daemon/logging.hpp"

namespace nicproxy {
namespace {

TEST(Verbosity, KlogLevelsToSpdlog) {
  EXPECT_EQ(levelFromVerbosity(0), spdlog::level::info);
  EXPECT_EQ(levelFromVerbosity(2), spdlog::level::info);
  EXPECT_EQ(levelFromVerbosity(3), spdlog::level::debug);
  EXPECT_EQ(levelFromVerbosity(4), spdlog::level::debug);
  EXPECT_EQ(levelFromVerbosity(5), spdlog::level::trace);
  EXPECT_EQ(levelFromVerbosity(10), spdlog::level::trace);
  EXPECT_EQ(levelFromVerbosity(-1), std::nullopt);
}

// A logger named "nicproxy" writing JSON lines into a string.
struct JsonCapture {
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> logger;
  JsonCapture() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
    logger = std::make_shared<spdlog::logger>("nicproxy", sink);
    logger->set_formatter(std::make_unique<JsonLogFormatter>());
    logger->set_level(spdlog::level::trace);
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> result;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) result.push_back(line);
    return result;
  }
};

boost::json::object parseLine(const std::string& line) {
  boost::system::error_code error;
  boost::json::value value = boost::json::parse(line, error);  // validates UTF-8 as well
  EXPECT_FALSE(error) << error.message() << " in: " << line;
  EXPECT_TRUE(value.is_object()) << line;
  return value.is_object() ? value.as_object() : boost::json::object{};
}

TEST(JsonLog, EveryLineParsesBack) {
  JsonCapture capture;
  const std::string tricky = "say \"hi\"\nnext line\\path\ttab \x01 caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC";
  capture.logger->info("{}", tricky);
  capture.logger->warn("{}", "bad bytes: \xFF\xFE and a cut sequence \xC3");
  capture.logger->error("{}", "end\r\n");

  const std::vector<std::string> lines = capture.lines();
  ASSERT_EQ(lines.size(), 3u) << capture.out.str();
  EXPECT_EQ(parseLine(lines[0]).at("msg").as_string(), tricky);
  // Each byte that starts no valid sequence is one U+FFFD.
  EXPECT_EQ(parseLine(lines[1]).at("msg").as_string(),
            "bad bytes: \xEF\xBF\xBD\xEF\xBF\xBD and a cut sequence \xEF\xBF\xBD");
  EXPECT_EQ(parseLine(lines[2]).at("msg").as_string(), "end\r\n");
}

TEST(JsonLog, KlogFields) {
  JsonCapture capture;
  const auto before = std::chrono::system_clock::now();
  capture.logger->info("one");
  capture.logger->debug("two");
  capture.logger->trace("three");
  capture.logger->error("four");
  const auto after = std::chrono::system_clock::now();
  const std::vector<std::string> lines = capture.lines();
  ASSERT_EQ(lines.size(), 4u);

  const boost::json::object info = parseLine(lines[0]);
  // klog's JSON lines start with "ts".
  EXPECT_EQ(lines[0].rfind("{\"ts\":", 0), 0u) << lines[0];
  const double ts = info.at("ts").to_number<double>();
  const auto ms = [](auto t) {
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count()) / 1000.0;
  };
  EXPECT_GE(ts, ms(before) - 1.0);
  EXPECT_LE(ts, ms(after) + 1.0);
  EXPECT_EQ(info.at("level").as_string(), "info");
  EXPECT_EQ(info.at("v").as_int64(), 0);
  EXPECT_EQ(info.at("logger").as_string(), "nicproxy");
  EXPECT_EQ(info.at("msg").as_string(), "one");

  EXPECT_EQ(parseLine(lines[1]).at("v").as_int64(), 3);
  EXPECT_EQ(parseLine(lines[2]).at("v").as_int64(), 5);
  const boost::json::object error = parseLine(lines[3]);
  EXPECT_EQ(error.at("level").as_string(), "error");
  EXPECT_FALSE(error.contains("v"));
}

TEST(JsonLog, LevelFilterFollowsV) {
  JsonCapture capture;
  capture.logger->set_level(*levelFromVerbosity(3));
  capture.logger->debug("shown");
  capture.logger->trace("hidden");
  const std::vector<std::string> lines = capture.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(parseLine(lines[0]).at("msg").as_string(), "shown");
}

}  // namespace
}  // namespace nicproxy
