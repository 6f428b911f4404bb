// Tests: control/signals (installSignalHandlers, takePendingSignal), with real signals
// raised at this process and the real handlers.
//   PendingSignals.NothingPending          0 when no signal came
//   PendingSignals.ReloadAlone             SIGHUP -> SIGHUP once, then 0
//   PendingSignals.StopWinsOverLaterReload SIGTERM then SIGHUP -> SIGTERM first (issue 10: the
//                                          SIGHUP used to overwrite the stop)
//   PendingSignals.StopWinsOverEarlierReload SIGHUP then SIGINT -> SIGINT first
//   PendingSignals.ReloadsCoalesce         three SIGHUPs -> one reload
#include <array>
#include <csignal>

#include <gtest/gtest.h>

#include "control/signals.hpp"

namespace nicproxy {
namespace {

// Installs the daemon's handlers for one test and puts the previous ones back after,
// so that a signal raised by another test is not swallowed.
class PendingSignals : public ::testing::Test {
 protected:
  void SetUp() override {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], nullptr, &saved_[i]);
    installSignalHandlers();
    while (takePendingSignal() != 0) {
    }
  }
  void TearDown() override {
    while (takePendingSignal() != 0) {
    }
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
  }

  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> saved_{};
};

TEST_F(PendingSignals, NothingPending) { EXPECT_EQ(takePendingSignal(), 0); }

TEST_F(PendingSignals, ReloadAlone) {
  ASSERT_EQ(std::raise(SIGHUP), 0);
  EXPECT_EQ(takePendingSignal(), SIGHUP);
  EXPECT_EQ(takePendingSignal(), 0);
}

TEST_F(PendingSignals, StopWinsOverLaterReload) {
  ASSERT_EQ(std::raise(SIGTERM), 0);
  ASSERT_EQ(std::raise(SIGHUP), 0);
  EXPECT_EQ(takePendingSignal(), SIGTERM);
  // The reload is a separate flag: still pending, for a caller that does not stop.
  EXPECT_EQ(takePendingSignal(), SIGHUP);
  EXPECT_EQ(takePendingSignal(), 0);
}

TEST_F(PendingSignals, StopWinsOverEarlierReload) {
  ASSERT_EQ(std::raise(SIGHUP), 0);
  ASSERT_EQ(std::raise(SIGINT), 0);
  EXPECT_EQ(takePendingSignal(), SIGINT);
  EXPECT_EQ(takePendingSignal(), SIGHUP);
  EXPECT_EQ(takePendingSignal(), 0);
}

TEST_F(PendingSignals, ReloadsCoalesce) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(std::raise(SIGHUP), 0);
  EXPECT_EQ(takePendingSignal(), SIGHUP);
  EXPECT_EQ(takePendingSignal(), 0);
}

}  // namespace
}  // namespace nicproxy
