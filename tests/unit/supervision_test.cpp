// Tests: daemon/supervision (Supervision::addTo, stopped), with a real notify socket and
// a real config file; the validator is a fake (a text holding "bad" is invalid), the
// real parser's part is config_watch_test.cpp's.
//   Supervision.ChainsAfterExistingHooks  the hooks already set run first; READY=1 on onReady
//   Supervision.ConfigChangeSaysStopping  a good change: exit code 0 and STOPPING=1 at once,
//                                         not again from stopped()
//   Supervision.EarlierExitCodeWins       an exit code from the hooks already set is returned
//                                         without reading the file
//   Supervision.StoppedAfterSignal        no change: stopped(0) sends STOPPING=1
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "daemon/supervision.hpp"
#include "tests/unit/notify_socket.hpp"

namespace nicproxy {
namespace {

namespace fs = std::filesystem;

class SupervisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char folder[] = "/tmp/nicproxy-supervision-XXXXXX";
    ASSERT_NE(mkdtemp(folder), nullptr);
    dir_ = folder;
    write("running");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write(const std::string& text) { std::ofstream(dir_ / "config", std::ios::trunc) << text; }
  Supervision make() {
    return Supervision(dir_ / "config", "running", [](const std::string& text) {
      return text.find("bad") == std::string::npos ? std::vector<std::string>{} : std::vector<std::string>{"bad"};
    });
  }

  testing::NotifySocket socket_;
  fs::path dir_;
};

TEST_F(SupervisionTest, ChainsAfterExistingHooks) {
  std::vector<std::string> calls;
  ServeLoopHooks hooks;
  hooks.onReady = [&] { calls.push_back("ready"); };
  hooks.onRound = [&] { calls.push_back("round"); };
  hooks.exitCode = [&]() -> std::optional<int> {
    calls.push_back("exitCode");
    return std::nullopt;
  };
  Supervision supervision = make();
  supervision.addTo(hooks);
  hooks.onReady();
  EXPECT_EQ(socket_.next(), "READY=1\nSTATUS=serving");
  hooks.onRound();
  EXPECT_EQ(hooks.exitCode(), std::nullopt);
  EXPECT_EQ(calls, (std::vector<std::string>{"ready", "round", "exitCode"}));
  EXPECT_EQ(socket_.next(), std::nullopt);
}

TEST_F(SupervisionTest, ConfigChangeSaysStopping) {
  ServeLoopHooks hooks;
  Supervision supervision = make();
  supervision.addTo(hooks);
  write("changed");
  EXPECT_EQ(hooks.exitCode(), 0);  // the first call reads the file
  EXPECT_EQ(socket_.next(), "STOPPING=1\nSTATUS=configuration file changed: exiting for a restart with it");
  EXPECT_EQ(hooks.exitCode(), 0);
  supervision.stopped(0);
  EXPECT_EQ(socket_.next(), std::nullopt);
}

TEST_F(SupervisionTest, EarlierExitCodeWins) {
  ServeLoopHooks hooks;
  hooks.exitCode = [] { return std::optional<int>(3); };
  Supervision supervision = make();
  supervision.addTo(hooks);
  write("changed");
  EXPECT_EQ(hooks.exitCode(), 3);
  EXPECT_EQ(socket_.next(), std::nullopt);
}

TEST_F(SupervisionTest, StoppedAfterSignal) {
  ServeLoopHooks hooks;
  Supervision supervision = make();
  supervision.addTo(hooks);
  write("bad edit");
  EXPECT_EQ(hooks.exitCode(), std::nullopt);
  supervision.stopped(0);
  EXPECT_EQ(socket_.next(), "STOPPING=1\nSTATUS=stopping");
}

}  // namespace
}  // namespace nicproxy
