// Tests: control/serve_loop (serve, the services-file source), with a fake provider, a
// real services file in a temporary folder, real signals raised at this process, and
// the loop driven (and ended) by hooks.exitCode.
//   ServeLoop.FirstSyncThenReadyThenExitCode  one full sync before onReady, onReady once, the hook's code returned
//   ServeLoop.SighupReloadsTheServicesFile    SIGHUP applies the rewritten file; a bad rewrite keeps the state
//   ServeLoop.StopSignalEndsWithZero          SIGTERM ends the loop with 0
//   ServeLoop.CanaryLossGetsAFullSync         a provider whose canary is gone is rewritten in full
//   ServeLoop.BadFileOrFailedFirstSyncThrows  nothing starts on a bad file or a failed first sync
//   ServeLoop.NothingSyncedBeforeTheSourceIsReady  an API-server-like source: onRound while waiting,
//                                             the first sync only once it is complete; exit while waiting
//   ServeLoop.HealthFollowsOwedSyncs          hooks.health: healthy after the first sync; a change whose sync
//                                             fails stays owed (unhealthy with a 0 s timeout) until the retry
//                                             succeeds; lastUpdated moves only then
//   ServeLoop.HealthOwesChangesAndFailuresNotTheFirstSync  seen from inside each sync: the first sync
//                                             is not owed (kube-proxy), a periodic full sync is not, its
//                                             failure is (the retry runs owed), a later change is
// Addresses: cluster IPs 10.96.0.1-10.96.0.3 (services default/s1..s3, port 80),
// endpoints 10.244.0.1-10.244.0.3.
#include <gtest/gtest.h>

#include <array>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

#include "control/proxier_health.hpp"
#include "control/serve_loop.hpp"
#include "control/signals.hpp"

namespace nicproxy {
namespace {

using namespace std::chrono_literals;

class FakeProvider : public Provider {
 public:
  std::string name() const override { return "fake"; }
  void sync(const ServiceTable& table, const ChangedPorts&, bool fullSync) override {
    if (failNext) {
      failNext = false;
      throw std::runtime_error("injected failure");
    }
    syncs.push_back({table.size(), fullSync});
  }
  std::optional<std::string> checkCanary() override {
    ++canaryChecks;
    if (!canaryLost) return std::nullopt;
    canaryLost = false;
    return "table gone";
  }
  struct Sync {
    size_t ports;
    bool full;
  };
  std::vector<Sync> syncs;
  bool failNext = false;
  bool canaryLost = false;
  int canaryChecks = 0;
};

std::string servicesList(int count) {
  std::string items;
  for (int i = 1; i <= count; ++i) {
    const std::string n = std::to_string(i);
    if (!items.empty()) items += ",";
    items += R"({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "default", "name": "s)" + n +
             R"("}, "spec": {"clusterIP": "10.96.0.)" + n + R"(", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"namespace": "default", "name": "s)" +
             n + R"(-1", "labels": {"kubernetes.io/service-name": "s)" + n +
             R"("}}, "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}], "endpoints": [{"addresses": ["10.244.0.)" +
             n + R"("]}]})";
  }
  return R"({"apiVersion": "v1", "kind": "List", "items": [)" + items + "]}";
}

// Real handlers for the test's duration (serve installs them); the previous ones back after.
class ServeLoop : public ::testing::Test {
 protected:
  void SetUp() override {
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], nullptr, &saved_[i]);
    dir_ = std::filesystem::temp_directory_path() / ("serve_loop_test." + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    file_ = dir_ / "services.json";
    writeFile(servicesList(1));
  }
  void TearDown() override {
    while (takePendingSignal() != 0) {
    }
    for (size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &saved_[i], nullptr);
    std::filesystem::remove_all(dir_);
  }
  void writeFile(const std::string& text) { std::ofstream(file_) << text; }

  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> saved_{};
  std::filesystem::path dir_, file_;
  ChangeTracker tracker_;
  FakeProvider provider_;
};

// Ends the loop with `code` once `done` holds, or with 99 after 500 rounds (about 50 s
// at worst; a hang shows as a failure rather than a stuck test run).
std::function<std::optional<int>()> exitWhen(std::function<bool()> done, int code = 0) {
  return [done = std::move(done), code, rounds = 0]() mutable -> std::optional<int> {
    if (done()) return code;
    if (++rounds > 500) return 99;
    return std::nullopt;
  };
}

TEST_F(ServeLoop, FirstSyncThenReadyThenExitCode) {
  SyncRunner runner(tracker_, {&provider_}, SyncTiming{0ms, 0ms});
  auto source = makeServicesFileSource(file_);
  int ready = 0, rounds = 0;
  size_t syncsAtReady = 0;
  ServeLoopHooks hooks;
  hooks.onReady = [&] {
    ++ready;
    syncsAtReady = provider_.syncs.size();
  };
  hooks.onRound = [&] { ++rounds; };
  hooks.exitCode = exitWhen([&] { return rounds >= 3; }, 7);
  EXPECT_EQ(serve(*source, tracker_, runner, hooks), 7);
  EXPECT_EQ(ready, 1);
  ASSERT_EQ(syncsAtReady, 1u);
  EXPECT_EQ(provider_.syncs[0].ports, 1u);
  EXPECT_TRUE(provider_.syncs[0].full);
  EXPECT_EQ(provider_.syncs.size(), 1u);  // nothing changed afterwards
}

TEST_F(ServeLoop, SighupReloadsTheServicesFile) {
  SyncRunner runner(tracker_, {&provider_}, SyncTiming{0ms, 0ms});
  auto source = makeServicesFileSource(file_);
  int step = 0;
  ServeLoopHooks hooks;
  hooks.onRound = [&] {
    if (step == 0) {  // a good rewrite: three services
      writeFile(servicesList(3));
      std::raise(SIGHUP);
      step = 1;
    } else if (step == 1 && tracker_.current()->size() == 3) {  // a bad one: kept out
      writeFile(R"({"kind": "List", "items": [{"kind": "Service", "metadata": {"name": "x"}}]})");
      std::raise(SIGHUP);
      step = 2;
    } else if (step >= 2) {
      ++step;
    }
  };
  hooks.exitCode = exitWhen([&] { return step >= 5; });
  EXPECT_EQ(serve(*source, tracker_, runner, hooks), 0);
  ASSERT_EQ(provider_.syncs.size(), 2u);
  EXPECT_EQ(provider_.syncs[1].ports, 3u);
  EXPECT_FALSE(provider_.syncs[1].full);
  EXPECT_EQ(tracker_.current()->size(), 3u);
}

TEST_F(ServeLoop, StopSignalEndsWithZero) {
  SyncRunner runner(tracker_, {&provider_}, SyncTiming{0ms, 0ms});
  auto source = makeServicesFileSource(file_);
  ServeLoopHooks hooks;
  hooks.onRound = [] { std::raise(SIGTERM); };
  hooks.exitCode = exitWhen([] { return false; }, 5);
  EXPECT_EQ(serve(*source, tracker_, runner, hooks), 0);
}

TEST_F(ServeLoop, CanaryLossGetsAFullSync) {
  SyncTiming timing{0ms, 0ms};
  timing.canaryPeriod = 20ms;
  SyncRunner runner(tracker_, {&provider_}, timing);
  auto source = makeServicesFileSource(file_);
  ServeLoopHooks hooks;
  hooks.onReady = [&] { provider_.canaryLost = true; };
  hooks.exitCode = exitWhen([&] { return provider_.syncs.size() >= 2; });
  EXPECT_EQ(serve(*source, tracker_, runner, hooks), 0);
  ASSERT_EQ(provider_.syncs.size(), 2u);
  EXPECT_TRUE(provider_.syncs[1].full);
  EXPECT_EQ(runner.counters().canaryLosses.load(), 1u);
}

TEST_F(ServeLoop, BadFileOrFailedFirstSyncThrows) {
  SyncRunner runner(tracker_, {&provider_}, SyncTiming{0ms, 0ms});
  int ready = 0;
  ServeLoopHooks hooks;
  hooks.onReady = [&] { ++ready; };
  hooks.exitCode = exitWhen([] { return true; });
  provider_.failNext = true;
  auto source = makeServicesFileSource(file_);
  try {
    serve(*source, tracker_, runner, hooks);
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "the first fake sync failed");  // names the provider
  }
  writeFile("{");
  auto bad = makeServicesFileSource(file_);
  ChangeTracker fresh;
  SyncRunner freshRunner(fresh, {&provider_}, SyncTiming{0ms, 0ms});
  EXPECT_THROW(serve(*bad, fresh, freshRunner, hooks), std::runtime_error);
  EXPECT_EQ(ready, 0);
  EXPECT_TRUE(provider_.syncs.empty());
}

// Stands in for the API server source: complete after `roundsUntilReady` waits, when it
// hands over its first lists.
class SlowSource : public ServeSource {
 public:
  explicit SlowSource(int roundsUntilReady) : left_(roundsUntilReady) {}
  void start(ChangeTracker&) override { started = true; }
  bool ready() const override { return left_ <= 0; }
  void reload(ChangeTracker&) override {}
  void drainInto(ChangeTracker& tracker) override {
    if (left_ == 0 && !drained_) {
      k8s::Service s;
      s.meta.namespaceName = "default";
      s.meta.name = "s1";
      s.clusterIPs = {parseIpv4("10.96.0.1").value()};
      k8s::ServicePortSpec spec;
      spec.port = 80;
      s.ports = {spec};
      tracker.upsertService(s);
      drained_ = true;
    }
  }
  void waitUntil(Clock::time_point) override { --left_; }
  void stop() override { stopped = true; }
  bool started = false, stopped = false;

 private:
  int left_;
  bool drained_ = false;
};

TEST_F(ServeLoop, NothingSyncedBeforeTheSourceIsReady) {
  SyncRunner runner(tracker_, {&provider_}, SyncTiming{0ms, 0ms});
  SlowSource source(3);
  int rounds = 0, ready = 0;
  size_t syncsWhileWaiting = 0;
  ServeLoopHooks hooks;
  hooks.onRound = [&] {
    if (ready == 0) syncsWhileWaiting += provider_.syncs.size();
    ++rounds;
  };
  hooks.onReady = [&] { ++ready; };
  hooks.exitCode = exitWhen([&] { return ready == 1; });
  EXPECT_EQ(serve(source, tracker_, runner, hooks), 0);
  EXPECT_TRUE(source.started);
  EXPECT_TRUE(source.stopped);
  EXPECT_EQ(rounds, 3);  // the three rounds of waiting
  EXPECT_EQ(syncsWhileWaiting, 0u);
  ASSERT_EQ(provider_.syncs.size(), 1u);
  EXPECT_EQ(provider_.syncs[0].ports, 1u);

  // An exit asked for while waiting ends the loop before anything is programmed.
  SlowSource never(1000);
  FakeProvider untouched;
  ChangeTracker fresh;
  SyncRunner freshRunner(fresh, {&untouched}, SyncTiming{0ms, 0ms});
  ServeLoopHooks exitAtOnce;
  exitAtOnce.exitCode = [] { return std::optional<int>(3); };
  EXPECT_EQ(serve(never, fresh, freshRunner, exitAtOnce), 3);
  EXPECT_TRUE(untouched.syncs.empty());
  EXPECT_TRUE(never.stopped);
}

TEST_F(ServeLoop, HealthFollowsOwedSyncs) {
  SyncRunner runner(tracker_, {&provider_}, SyncTiming{0ms, 0ms});
  auto source = makeServicesFileSource(file_);
  ProxierHealth health(0ms);  // unhealthy as soon as anything is owed: no waiting in a unit test
  ServeLoopHooks hooks;
  hooks.health = &health;
  bool healthyAtReady = false, unhealthyAfterFailure = false;
  ProxierHealth::Clock::time_point updatedAtReady{}, updatedWhileFailing{};
  int step = 0;
  hooks.onReady = [&] {
    healthyAtReady = health.healthy(ProxierHealth::Clock::now());
    updatedAtReady = health.status(ProxierHealth::Clock::now()).lastUpdated;
  };
  hooks.onRound = [&] {
    if (step == 0) {  // a change whose sync fails
      provider_.failNext = true;
      writeFile(servicesList(2));
      std::raise(SIGHUP);
      step = 1;
    } else if (step == 1 && runner.failureCount() == 1) {
      const ProxierHealth::Status status = health.status(ProxierHealth::Clock::now());
      unhealthyAfterFailure = !status.healthy;
      updatedWhileFailing = status.lastUpdated;
      step = 2;
    }
  };
  // The retry (SyncRunner::kRetryDelay later) programs it.
  hooks.exitCode = exitWhen([&] { return step == 2 && provider_.syncs.size() == 2; });
  EXPECT_EQ(serve(*source, tracker_, runner, hooks), 0);
  EXPECT_TRUE(healthyAtReady);
  EXPECT_NE(updatedAtReady, ProxierHealth::Clock::time_point{});
  EXPECT_TRUE(unhealthyAfterFailure);
  EXPECT_EQ(updatedWhileFailing, updatedAtReady);
  const ProxierHealth::Status end = health.status(ProxierHealth::Clock::now());
  EXPECT_TRUE(end.healthy);
  EXPECT_GT(end.lastUpdated, updatedAtReady);
}

// Records, in each sync, whether `health` holds an owed update (with a 0 s timeout any
// owed update makes it unhealthy).
class HealthProbingProvider : public FakeProvider {
 public:
  explicit HealthProbingProvider(const ProxierHealth& health) : health_(health) {}
  void sync(const ServiceTable& table, const ChangedPorts& changed, bool fullSync) override {
    owedDuringSync.push_back(!health_.healthy(ProxierHealth::Clock::now()));
    FakeProvider::sync(table, changed, fullSync);
  }
  std::vector<bool> owedDuringSync;

 private:
  const ProxierHealth& health_;
};

TEST_F(ServeLoop, HealthOwesChangesAndFailuresNotTheFirstSync) {
  ProxierHealth health(0ms);
  HealthProbingProvider provider(health);
  SyncTiming timing{0ms, 0ms};
  timing.canaryPeriod = 20ms;
  SyncRunner runner(tracker_, {&provider}, timing);
  auto source = makeServicesFileSource(file_);
  ServeLoopHooks hooks;
  hooks.health = &health;
  bool unhealthyAfterFailure = false, changed = false;
  hooks.onReady = [&] {  // the canary finds the rules gone: a full sync, which fails
    provider.canaryLost = true;
    provider.failNext = true;
  };
  hooks.onRound = [&] {
    if (provider.owedDuringSync.size() == 2 && provider.syncs.size() == 1) {
      unhealthyAfterFailure = !health.healthy(ProxierHealth::Clock::now());
    }
    if (provider.syncs.size() == 2 && !changed) {  // the retry done: a change
      writeFile(servicesList(2));
      std::raise(SIGHUP);
      changed = true;
    }
  };
  hooks.exitCode = exitWhen([&] { return provider.syncs.size() == 3; });
  EXPECT_EQ(serve(*source, tracker_, runner, hooks), 0);
  // First sync, the failed full sync, its retry, the change's sync.
  EXPECT_EQ(provider.owedDuringSync, (std::vector<bool>{false, false, true, true}));
  EXPECT_TRUE(unhealthyAfterFailure);
  EXPECT_TRUE(health.healthy(ProxierHealth::Clock::now()));
}

}  // namespace
}  // namespace nicproxy
