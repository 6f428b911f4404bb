// Tests: control/sync_runner bounded-frequency timing (runIfDue, nextDue) with a
// hand-driven clock and a fake provider.
//   SyncTiming.BurstBecomesOneSyncAfterMinSyncPeriod
//   SyncTiming.PeriodicFullSync
//   SyncTiming.FailureRetriedFullAfterRetryDelay
//   SyncTiming.CountersForMetrics
//   SyncTiming.FullSyncPeriodIsNotPutOffByChanges  the kernel modes' cadence: full every
//                                       fullSyncPeriod however often changes sync
//   SyncTiming.CanaryLossRewritesThatProviderOnly  the canary every canaryPeriod; only the
//                                       provider whose state is gone gets a full sync
// Addresses: cluster IPs 10.96.0.1-10.96.0.5 (services default/s1..s5, port 80).
#include <gtest/gtest.h>

#include <stdexcept>

#include "control/sync_runner.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;
using Clock = SyncRunner::Clock;

class CountingProvider : public Provider {
 public:
  std::string name() const override { return "counting"; }
  void sync(const ServiceTable& table, const ChangedPorts&, bool fullSync) override {
    calls.push_back({table.size(), fullSync});
    if (failuresLeft > 0) {
      --failuresLeft;
      throw std::runtime_error("injected failure");
    }
  }
  std::vector<std::pair<size_t, bool>> calls;  // (ports, full)
  int failuresLeft = 0;
};

k8s::Service service(int i) {
  k8s::Service s;
  s.meta.namespaceName = "default";
  s.meta.name = "s" + std::to_string(i);
  s.clusterIPs = {parseIpv4("10.96.0." + std::to_string(i)).value()};
  k8s::ServicePortSpec spec;
  spec.port = 80;
  spec.targetPort = uint16_t{8080};
  s.ports = {spec};
  return s;
}

TEST(SyncTiming, BurstBecomesOneSyncAfterMinSyncPeriod) {
  ChangeTracker tracker;
  CountingProvider provider;
  SyncRunner runner(tracker, {&provider}, SyncTiming{1s, 0s});
  const Clock::time_point t0{};
  tracker.upsertService(service(1));
  EXPECT_EQ(runner.nextDue(t0), t0);
  runner.runIfDue(t0);
  ASSERT_EQ(provider.calls.size(), 1u);
  // A burst of four changes within the next second: nothing until t0 + 1 s, then one sync.
  for (int i = 2; i <= 5; ++i) {
    tracker.upsertService(service(i));
    runner.runIfDue(t0 + i * 100ms);
  }
  EXPECT_EQ(provider.calls.size(), 1u);
  EXPECT_EQ(runner.nextDue(t0 + 500ms), t0 + 1s);
  runner.runIfDue(t0 + 1s);
  ASSERT_EQ(provider.calls.size(), 2u);
  EXPECT_EQ(provider.calls[1], std::make_pair(size_t{5}, false));
  EXPECT_EQ(runner.nextDue(t0 + 2s), Clock::time_point::max());  // nothing pending, no syncPeriod
  runner.runIfDue(t0 + 5s);
  EXPECT_EQ(provider.calls.size(), 2u);
}

TEST(SyncTiming, PeriodicFullSync) {
  ChangeTracker tracker;
  CountingProvider provider;
  SyncRunner runner(tracker, {&provider}, SyncTiming{1s, 30s});
  const Clock::time_point t0{};
  tracker.upsertService(service(1));
  runner.runIfDue(t0);
  EXPECT_EQ(runner.nextDue(t0 + 1s), t0 + 30s);
  runner.runIfDue(t0 + 29s);
  EXPECT_EQ(provider.calls.size(), 1u);
  runner.runIfDue(t0 + 30s);
  ASSERT_EQ(provider.calls.size(), 2u);
  EXPECT_TRUE(provider.calls[1].second);
  EXPECT_EQ(runner.counters().periodicSyncs.load(), 1u);
}

TEST(SyncTiming, FailureRetriedFullAfterRetryDelay) {
  ChangeTracker tracker;
  CountingProvider provider;
  SyncRunner runner(tracker, {&provider}, SyncTiming{0ms, 0s});
  const Clock::time_point t0{};
  tracker.upsertService(service(1));
  runner.runIfDue(t0);
  tracker.upsertService(service(2));
  provider.failuresLeft = 1;
  EXPECT_FALSE(runner.runIfDue(t0 + 10ms));
  // minSyncPeriod 0, but a failed provider is not retried in a tight loop.
  EXPECT_EQ(runner.nextDue(t0 + 20ms), t0 + 10ms + SyncRunner::kRetryDelay);
  runner.runIfDue(t0 + 500ms);
  EXPECT_EQ(provider.calls.size(), 2u);
  EXPECT_TRUE(runner.runIfDue(t0 + 10ms + SyncRunner::kRetryDelay));
  ASSERT_EQ(provider.calls.size(), 3u);
  EXPECT_EQ(provider.calls[2], std::make_pair(size_t{2}, true));
}

TEST(SyncTiming, CountersForMetrics) {
  ChangeTracker tracker;
  CountingProvider provider;
  SyncRunner runner(tracker, {&provider}, SyncTiming{0ms, 0s});
  const Clock::time_point t0{};
  tracker.upsertService(service(1));
  runner.runIfDue(t0);
  tracker.upsertService(service(2));
  provider.failuresLeft = 1;
  runner.runIfDue(t0 + 1ms);
  runner.runIfDue(t0 + 2s);
  tracker.upsertService(service(3));
  runner.runIfDue(t0 + 3s);
  EXPECT_EQ(runner.counters().syncs.load(), 3u);
  EXPECT_EQ(runner.counters().failures.load(), 1u);
  EXPECT_EQ(runner.counters().fullSyncs.load(), 2u);  // the first and the retry
}

TEST(SyncTiming, FullSyncPeriodIsNotPutOffByChanges) {
  ChangeTracker tracker;
  CountingProvider provider;
  SyncTiming timing{1s, 0s};
  timing.fullSyncPeriod = 10s;
  SyncRunner runner(tracker, {&provider}, timing);
  const Clock::time_point t0{};
  tracker.upsertService(service(1));
  runner.runIfDue(t0);
  EXPECT_EQ(runner.nextDue(t0 + 1s), t0 + 10s);
  // A change every 3 s: each syncs incrementally, and the full sync still comes at 10 s.
  for (int i = 1; i <= 3; ++i) {
    tracker.upsertService(service(1 + i));
    runner.runIfDue(t0 + i * 3s);
  }
  ASSERT_EQ(provider.calls.size(), 4u);
  EXPECT_FALSE(provider.calls[3].second);
  runner.runIfDue(t0 + 10s);
  ASSERT_EQ(provider.calls.size(), 5u);
  EXPECT_TRUE(provider.calls[4].second);
  EXPECT_EQ(runner.nextDue(t0 + 11s), t0 + 20s);
  EXPECT_EQ(runner.counters().periodicSyncs.load(), 1u);
}

class CanaryProvider : public CountingProvider {
 public:
  std::optional<std::string> checkCanary() override {
    ++checks;
    if (!lost) return std::nullopt;
    lost = false;
    return "chain gone";
  }
  bool lost = false;
  int checks = 0;
};

TEST(SyncTiming, CanaryLossRewritesThatProviderOnly) {
  ChangeTracker tracker;
  CanaryProvider intact, flushed;
  SyncTiming timing{1s, 0s};
  timing.canaryPeriod = 30s;
  SyncRunner runner(tracker, {&intact, &flushed}, timing);
  const Clock::time_point t0{};
  tracker.upsertService(service(1));
  runner.runIfDue(t0);
  EXPECT_EQ(intact.checks, 0);
  EXPECT_EQ(runner.nextDue(t0 + 1s), t0 + 30s);
  flushed.lost = true;
  runner.runIfDue(t0 + 29s);
  EXPECT_EQ(flushed.checks, 0);
  runner.runIfDue(t0 + 30s);
  EXPECT_EQ(intact.checks, 1);
  EXPECT_EQ(flushed.checks, 1);
  EXPECT_EQ(intact.calls.size(), 1u);
  ASSERT_EQ(flushed.calls.size(), 2u);
  EXPECT_TRUE(flushed.calls[1].second);
  EXPECT_EQ(runner.counters().canaryLosses.load(), 1u);
}

}  // namespace
}  // namespace nicproxy
