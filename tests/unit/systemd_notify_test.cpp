// Tests: daemon/systemd_notify, against a real unix datagram socket standing in for
// systemd's NOTIFY_SOCKET (the protocol is one datagram per sd_notify call).
//   SystemdNotify.ReadyStoppingAndStatus  READY=1 and STOPPING=1, each with its STATUS= line
//   SystemdNotify.WatchdogAtHalfTheTimeout WATCHDOG_USEC=200ms: a keep-alive on the first
//                                         round, none 99 ms later, the next at 100 ms
//   SystemdNotify.WatchdogForAnotherPid    WATCHDOG_PID of another process: no keep-alives
//   SystemdNotify.NoSocketNoEffect         without NOTIFY_SOCKET every call is harmless
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "daemon/systemd_notify.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;

// A bound datagram socket in a fresh folder, named in NOTIFY_SOCKET for the test.
class SystemdNotify : public ::testing::Test {
 protected:
  void SetUp() override {
    char folder[] = "/tmp/nicproxy-notify-XXXXXX";
    ASSERT_NE(mkdtemp(folder), nullptr);
    dir_ = folder;
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const std::string path = (dir_ / "notify").string();
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    ASSERT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    setenv("NOTIFY_SOCKET", path.c_str(), 1);
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
  }
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    close(fd_);
    std::filesystem::remove_all(dir_);
  }
  // The next datagram, or nullopt when none is waiting (sd_notify sends synchronously).
  std::optional<std::string> next() {
    char buffer[4096];
    const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }

  std::filesystem::path dir_;
  int fd_ = -1;
};

TEST_F(SystemdNotify, ReadyStoppingAndStatus) {
  SystemdNotifier notifier;
  EXPECT_FALSE(notifier.watchdogEnabled());
  notifier.ready("serving 3 service ports");
  EXPECT_EQ(next(), "READY=1\nSTATUS=serving 3 service ports");
  notifier.onRound();  // no WatchdogSec: no keep-alive
  EXPECT_EQ(next(), std::nullopt);
  notifier.stopping("signal 15");
  EXPECT_EQ(next(), "STOPPING=1\nSTATUS=signal 15");
}

TEST_F(SystemdNotify, WatchdogAtHalfTheTimeout) {
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  SystemdNotifier notifier;
  ASSERT_TRUE(notifier.watchdogEnabled());
  EXPECT_EQ(notifier.watchdogInterval(), 100ms);
  const auto t0 = SystemdNotifier::Clock::now();
  notifier.onRound(t0);
  EXPECT_EQ(next(), "WATCHDOG=1");
  notifier.onRound(t0 + 99ms);
  EXPECT_EQ(next(), std::nullopt);
  notifier.onRound(t0 + 100ms);
  EXPECT_EQ(next(), "WATCHDOG=1");
  EXPECT_EQ(notifier.watchdogsSent(), 2u);
}

TEST_F(SystemdNotify, WatchdogForAnotherPid) {
  setenv("WATCHDOG_USEC", "200000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid() + 1).c_str(), 1);
  SystemdNotifier notifier;
  EXPECT_FALSE(notifier.watchdogEnabled());
  notifier.onRound();
  EXPECT_EQ(next(), std::nullopt);
}

TEST_F(SystemdNotify, NoSocketNoEffect) {
  unsetenv("NOTIFY_SOCKET");
  SystemdNotifier notifier;
  notifier.ready("x");
  notifier.onRound();
  notifier.stopping("y");
  EXPECT_EQ(next(), std::nullopt);
}

}  // namespace
}  // namespace nicproxy
