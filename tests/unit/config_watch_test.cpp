// Tests: daemon/config_watch (ConfigFileWatch), with real files in a fresh folder and
// the real configuration parser as the validator.
//   ConfigWatch.UnchangedKeepsRunning     the same content, read again and again: no exit
//   ConfigWatch.ReadsOncePerPeriod        a change before the period is over is not seen yet
//   ConfigWatch.GoodEditExitsZero         a different, valid content: exit code 0, logged
//   ConfigWatch.BadEditKeepsRunning       an invalid content: no exit, the errors logged with
//                                         their key path, once per distinct content
//   ConfigWatch.RevertThenSameBadAgain    back to the running content, then the same bad
//                                         content: logged again
//   ConfigWatch.MissingFileKeepsRunning   the file gone: no exit, logged once
//   ConfigWatch.ConfigMapSymlinkSwap      ..data swapped to a new ..<timestamp> folder holding
//                                         a new file with the old mtime: exit code 0
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "control/config.hpp"
#include "daemon/config_watch.hpp"

namespace nicproxy {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = ConfigFileWatch::Clock;

const std::string kRunning =
    R"({"mode": "nftables", "nodeName": "n", "servicesFile": "services.json"})";
const std::string kGood =
    R"({"mode": "nftables", "nodeName": "n", "servicesFile": "services.json", "nftables": {"minSyncPeriod": "2s"}})";
const std::string kBad =
    R"({"mode": "nftables", "nodeName": "n", "servicesFile": "services.json", "nftables": {"minSyncPeriod": "fast"}})";
const std::string kOtherBad = R"({"mode": "nftables", "nodeName": "n")";

void write(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::trunc) << text; }

// A fresh folder, a watch on `dir/config.json` with the real parser, and the log captured.
class ConfigWatch : public ::testing::Test {
 protected:
  void SetUp() override {
    char folder[] = "/tmp/nicproxy-config-watch-XXXXXX";
    ASSERT_NE(mkdtemp(folder), nullptr);
    dir_ = folder;
    file_ = dir_ / "config.json";
    previous_ = spdlog::default_logger();
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log_)));
  }
  void TearDown() override {
    spdlog::set_default_logger(previous_);
    fs::remove_all(dir_);
  }
  std::unique_ptr<ConfigFileWatch> watch(const fs::path& path) {
    const fs::path base = dir_;
    return std::make_unique<ConfigFileWatch>(
        path, kRunning, [base](const std::string& text) { return parseConfig(text, base).errors; }, 2s);
  }
  size_t logCount(const std::string& needle) const {
    const std::string text = log_.str();
    size_t count = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
    return count;
  }

  fs::path dir_, file_;
  std::ostringstream log_;
  std::shared_ptr<spdlog::logger> previous_;
  const Clock::time_point t0_ = Clock::now();
};

TEST_F(ConfigWatch, UnchangedKeepsRunning) {
  write(file_, kRunning);
  auto w = watch(file_);
  for (int i = 1; i <= 5; ++i) EXPECT_EQ(w->exitCode(t0_ + i * 2s), std::nullopt);
  EXPECT_EQ(log_.str(), "");
}

TEST_F(ConfigWatch, ReadsOncePerPeriod) {
  write(file_, kRunning);
  auto w = watch(file_);
  EXPECT_EQ(w->exitCode(t0_), std::nullopt);  // the first call reads
  write(file_, kGood);
  EXPECT_EQ(w->exitCode(t0_ + 1s), std::nullopt);
  EXPECT_EQ(w->exitCode(t0_ + 2s), 0);
}

TEST_F(ConfigWatch, GoodEditExitsZero) {
  write(file_, kRunning);
  auto w = watch(file_);
  write(file_, kGood);
  EXPECT_EQ(w->exitCode(t0_ + 2s), 0);
  EXPECT_EQ(w->exitCode(t0_ + 3s), 0);  // stays decided
  EXPECT_EQ(logCount("changed: exiting so that the supervisor restarts nicproxy with it"), 1u) << log_.str();
}

TEST_F(ConfigWatch, BadEditKeepsRunning) {
  write(file_, kRunning);
  auto w = watch(file_);
  write(file_, kBad);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(w->exitCode(t0_ + i * 2s), std::nullopt);
  EXPECT_EQ(logCount("the running configuration stays in force"), 1u) << log_.str();
  EXPECT_EQ(logCount("nftables.minSyncPeriod"), 1u) << log_.str();
  write(file_, kOtherBad);
  EXPECT_EQ(w->exitCode(t0_ + 8s), std::nullopt);
  EXPECT_EQ(logCount("the running configuration stays in force"), 2u) << log_.str();
  // A good file after bad ones still restarts.
  write(file_, kGood);
  EXPECT_EQ(w->exitCode(t0_ + 10s), 0);
}

TEST_F(ConfigWatch, RevertThenSameBadAgain) {
  write(file_, kRunning);
  auto w = watch(file_);
  write(file_, kBad);
  EXPECT_EQ(w->exitCode(t0_ + 2s), std::nullopt);
  write(file_, kRunning);
  EXPECT_EQ(w->exitCode(t0_ + 4s), std::nullopt);
  write(file_, kBad);
  EXPECT_EQ(w->exitCode(t0_ + 6s), std::nullopt);
  EXPECT_EQ(logCount("the running configuration stays in force"), 2u) << log_.str();
}

TEST_F(ConfigWatch, MissingFileKeepsRunning) {
  write(file_, kRunning);
  auto w = watch(file_);
  fs::remove(file_);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(w->exitCode(t0_ + i * 2s), std::nullopt);
  EXPECT_EQ(logCount("No such file or directory"), 1u) << log_.str();
  write(file_, kRunning);
  EXPECT_EQ(w->exitCode(t0_ + 8s), std::nullopt);
}

// What the kubelet does to a ConfigMap volume: config.json -> ..data/config.json,
// ..data -> ..2026_12_04_10_00_00.1; an update writes a new timestamped folder, points a
// temporary link at it and renames that over ..data.
TEST_F(ConfigWatch, ConfigMapSymlinkSwap) {
  fs::create_directory(dir_ / "..2026_12_04_10_00_00.1");
  write(dir_ / "..2026_12_04_10_00_00.1" / "config.json", kRunning);
  fs::create_directory_symlink("..2026_12_04_10_00_00.1", dir_ / "..data");
  fs::create_symlink("..data/config.json", file_);
  auto w = watch(file_);
  EXPECT_EQ(w->exitCode(t0_ + 2s), std::nullopt);

  const fs::file_time_type oldTime = fs::last_write_time(dir_ / "..2026_12_04_10_00_00.1" / "config.json");
  fs::create_directory(dir_ / "..2026_12_04_10_05_00.2");
  write(dir_ / "..2026_12_04_10_05_00.2" / "config.json", kGood);
  fs::last_write_time(dir_ / "..2026_12_04_10_05_00.2" / "config.json", oldTime);
  fs::create_directory_symlink("..2026_12_04_10_05_00.2", dir_ / "..data_tmp");
  fs::rename(dir_ / "..data_tmp", dir_ / "..data");
  fs::remove_all(dir_ / "..2026_12_04_10_00_00.1");
  EXPECT_EQ(w->exitCode(t0_ + 4s), 0);
}

}  // namespace
}  // namespace nicproxy
