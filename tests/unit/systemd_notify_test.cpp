// Tests: daemon/systemd_notify, against a real unix datagram socket standing in for
// systemd's NOTIFY_SOCKET (the protocol is one datagram per sd_notify call).
//   SystemdNotify.ReadyStoppingAndStatus  READY=1 and STOPPING=1, each with its STATUS= line
//   SystemdNotify.WatchdogAtHalfTheTimeout WATCHDOG_USEC=200ms: a keep-alive on the first
//                                         round, none 99 ms later, the next at 100 ms
//   SystemdNotify.WatchdogForAnotherPid    WATCHDOG_PID of another process: no keep-alives
//   SystemdNotify.NoSocketNoEffect         without NOTIFY_SOCKET every call is harmless
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "daemon/systemd_notify.hpp"
#include "tests/unit/notify_socket.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;

class SystemdNotify : public ::testing::Test {
 protected:
  std::optional<std::string> next() { return socket_.next(); }
  testing::NotifySocket socket_;
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
