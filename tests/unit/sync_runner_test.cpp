// Tests: control/sync_runner (SyncRunner) with a fake provider that can be told to fail.
// Addresses: cluster IP 10.96.0.10 (service default/web, port 80 -> endpoint 10.244.1.5:8080).
#include <gtest/gtest.h>

#include <stdexcept>

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

}  // namespace
}  // namespace nicproxy
