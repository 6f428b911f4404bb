// Tests: control/sync_runner (SyncRunner) with a fake provider that can be told to fail,
// and control/watchdog (hang detection) with a provider whose sync blocks.
//   SyncRunner.HangingSyncIsReportedWithWhatItWaitsFor   a sync blocked in a nested step, 150 ms bound
//   Watchdog.QuickStepsAreNotReported                    steps shorter than the bound: no report
//   Watchdog.StepOnAnUnwatchedThreadDoesNothing
// Addresses: cluster IP 10.96.0.10 (service default/web, port 80 -> endpoint 10.244.1.5:8080).
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "control/sync_runner.hpp"

namespace nicproxy {
namespace {

struct Call {
  uint64_t generation;
  size_t ports;
  ChangedPorts changed;
  bool full;
};

class FakeProvider : public Provider {
 public:
  std::string name() const override { return "fake"; }
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override {
    calls.push_back(Call{table.generation(), table.size(), changed, fullSync});
    if (failuresLeft > 0) {
      --failuresLeft;
      throw std::runtime_error("injected failure");
    }
  }
  std::vector<Call> calls;
  int failuresLeft = 0;
};

k8s::Service web(uint16_t port) {
  k8s::Service s;
  s.meta.namespaceName = "default";
  s.meta.name = "web";
  s.clusterIPs = {parseIpv4("10.96.0.10").value()};
  k8s::ServicePortSpec spec;
  spec.name = "http";
  spec.port = port;
  spec.targetPort = uint16_t{8080};
  s.ports = {spec};
  return s;
}

TEST(SyncRunner, FirstSyncIsFullThenIncrementalThenNothing) {
  ChangeTracker tracker;
  FakeProvider provider;
  SyncRunner runner(tracker, {&provider});
  tracker.upsertService(web(80));
  ASSERT_TRUE(runner.syncIfNeeded());
  ASSERT_EQ(provider.calls.size(), 1u);
  EXPECT_TRUE(provider.calls[0].full);
  EXPECT_EQ(provider.calls[0].ports, 1u);

  tracker.upsertService(web(81));
  ASSERT_TRUE(runner.syncIfNeeded());
  ASSERT_EQ(provider.calls.size(), 2u);
  EXPECT_FALSE(provider.calls[1].full);
  EXPECT_EQ(provider.calls[1].changed.size(), 1u);

  ASSERT_TRUE(runner.syncIfNeeded());  // nothing pending: the provider is not called
  EXPECT_EQ(provider.calls.size(), 2u);
  tracker.upsertService(web(81));      // re-sent unchanged: still nothing to do
  ASSERT_TRUE(runner.syncIfNeeded());
  EXPECT_EQ(provider.calls.size(), 2u);
}

TEST(SyncRunner, FailedSyncIsRetriedAsFullSyncOfTheLatestState) {
  ChangeTracker tracker;
  FakeProvider provider;
  SyncRunner runner(tracker, {&provider});
  tracker.upsertService(web(80));
  ASSERT_TRUE(runner.syncIfNeeded());

  provider.failuresLeft = 1;
  tracker.upsertService(web(81));
  EXPECT_FALSE(runner.syncIfNeeded());
  EXPECT_TRUE(runner.retryPending());
  EXPECT_EQ(runner.failureCount(), 1u);

  // No new change, but the retry happens, as a full sync of the newest table.
  ASSERT_TRUE(runner.syncIfNeeded());
  ASSERT_EQ(provider.calls.size(), 3u);
  EXPECT_TRUE(provider.calls[2].full);
  EXPECT_EQ(provider.calls[2].generation, provider.calls[1].generation);
  EXPECT_FALSE(runner.retryPending());
}

TEST(SyncRunner, OneFailingProviderDoesNotHoldBackTheOthers) {
  ChangeTracker tracker;
  FakeProvider failing;
  FakeProvider healthy;
  failing.failuresLeft = 5;
  SyncRunner runner(tracker, {&failing, &healthy});
  tracker.upsertService(web(80));
  EXPECT_FALSE(runner.syncIfNeeded());
  tracker.upsertService(web(81));
  EXPECT_FALSE(runner.syncIfNeeded());
  ASSERT_EQ(healthy.calls.size(), 2u);
  EXPECT_TRUE(healthy.calls[0].full);
  EXPECT_FALSE(healthy.calls[1].full);
  ASSERT_EQ(failing.calls.size(), 2u);
  EXPECT_TRUE(failing.calls[1].full);
}

// A provider whose sync waits inside a nested step (as a provider waits on a command)
// until the test releases it.
class BlockingProvider : public Provider {
 public:
  std::string name() const override { return "blocking"; }
  void sync(const ServiceTable&, const ChangedPorts&, bool) override {
    const WatchedStep step("iptables-restore -w");
    std::unique_lock lock(mutex_);
    released_.wait(lock, [this] { return release_; });
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      release_ = true;
    }
    released_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  bool release_ = false;
};

TEST(SyncRunner, HangingSyncIsReportedWithWhatItWaitsFor) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  ChangeTracker tracker;
  BlockingProvider provider;
  SyncTiming timing;
  timing.hangWarning = std::chrono::milliseconds(150);
  SyncRunner runner(tracker, {&provider}, timing);
  ASSERT_NE(runner.watchdog(), nullptr);
  tracker.upsertService(web(80));
  std::thread loop([&] { runner.syncIfNeeded(); });
  // Three bounds: reported at 150 ms and 300 ms (later on a loaded machine), still running.
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  EXPECT_EQ(runner.watchdog()->currentSteps(), "blocking sync of generation 1 (full) > iptables-restore -w");
  const uint64_t reports = runner.watchdog()->overdueReports();
  provider.release();
  loop.join();
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_GE(reports, 2u);
  EXPECT_EQ(runner.watchdog()->currentSteps(), "");
  const std::string text = log.str();
  EXPECT_NE(text.find("[warning] control loop busy for 15"), std::string::npos) << text;  // 150 ms and a little
  EXPECT_NE(text.find(" ms (bound 150 ms), waiting in: blocking sync of generation 1 (full) > iptables-restore -w "
                      "(that for "),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("control loop: \"blocking sync of generation 1 (full)\" finished after "), std::string::npos)
      << text;
}

TEST(Watchdog, QuickStepsAreNotReported) {
  std::vector<std::string> reports;
  Watchdog watchdog("loop", std::chrono::milliseconds(200), [&](const std::string& line) { reports.push_back(line); });
  for (int i = 0; i < 5; ++i) {
    const WatchedStep step(&watchdog, "step " + std::to_string(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(250));  // idle: nothing to report either
  EXPECT_EQ(watchdog.overdueReports(), 0u);
  EXPECT_TRUE(reports.empty());
}

TEST(Watchdog, StepOnAnUnwatchedThreadDoesNothing) {
  Watchdog watchdog("loop", std::chrono::milliseconds(50), [](const std::string&) {});
  {
    const WatchedStep outer(&watchdog, "outer");
    std::thread other([&] {
      const WatchedStep inner("GET /api/v1/services");  // another thread: not this watchdog's
      EXPECT_EQ(watchdog.currentSteps(), "outer");
    });
    other.join();
    const WatchedStep inner("nft -f");
    EXPECT_EQ(watchdog.currentSteps(), "outer > nft -f");
  }
  EXPECT_EQ(watchdog.currentSteps(), "");
}

}  // namespace
}  // namespace nicproxy
