// kube-proxy's sync metrics as the change tracker and the sync runner record them
// (control/change_tracker.hpp, control/sync_runner.hpp, control/proxy_metrics.hpp), read
// back from a real prometheus::Registry; and the trigger-time annotation
// (control/k8s/trigger_time.hpp, control/k8s/decode.cpp).
// Addresses: cluster IP 10.96.0.10 (default/web, port 80), endpoints 10.244.1.5 (on
// node-a, local) and 10.244.2.7 (on node-b); node port 30080 for the eTP Local case.
#include <gtest/gtest.h>

#include <stdexcept>

#include <boost/json.hpp>
#include <prometheus/registry.h>

#include "control/change_tracker.hpp"
#include "control/k8s/decode.hpp"
#include "control/k8s/trigger_time.hpp"
#include "control/proxy_metrics.hpp"
#include "control/sync_runner.hpp"

namespace nicproxy {
namespace {

using std::chrono::system_clock;

class FakeProvider : public Provider {
 public:
  std::string name() const override { return "fake"; }
  void sync(const ServiceTable&, const ChangedPorts&, bool) override {
    if (failuresLeft > 0) {
      --failuresLeft;
      throw std::runtime_error("injected failure");
    }
  }
  int failuresLeft = 0;
};

k8s::Service web(uint16_t port, TrafficPolicy internal = TrafficPolicy::Cluster) {
  k8s::Service s;
  s.meta.namespaceName = "default";
  s.meta.name = "web";
  s.clusterIPs = {parseIpv4("10.96.0.10").value()};
  s.internalTrafficPolicy = internal;
  k8s::ServicePortSpec spec;
  spec.name = "http";
  spec.port = port;
  spec.targetPort = uint16_t{8080};
  s.ports = {spec};
  return s;
}

k8s::EndpointSlice webSlice(const char* ip, const char* node, std::optional<system_clock::time_point> trigger = {}) {
  k8s::EndpointSlice slice;
  slice.meta.namespaceName = "default";
  slice.meta.name = "web-abc";
  slice.serviceName = "web";
  slice.addressType = "IPv4";
  slice.ports = {k8s::EndpointPort{"http", Protocol::Tcp, 8080}};
  k8s::SliceEndpoint endpoint;
  endpoint.addresses = {parseIpv4(ip).value()};
  endpoint.nodeName = node;
  slice.endpoints = {endpoint};
  slice.lastChangeTriggerTime = trigger;
  return slice;
}

struct Fixture {
  prometheus::Registry registry;
  ProxyMetrics metrics{registry};
  ChangeTracker tracker{"node-a"};
  FakeProvider provider;
  SyncRunner runner{tracker, {&provider}};
  Fixture() {
    tracker.setMetrics(&metrics);
    runner.setMetrics(&metrics);
  }
  static uint64_t count(prometheus::Histogram& histogram) { return histogram.Collect().histogram.sample_count; }
  static double sum(prometheus::Histogram& histogram) { return histogram.Collect().histogram.sample_sum; }
  double noLocal(const char* policy) { return metrics.noLocalEndpoints.Add({{"traffic_policy", policy}}).Value(); }
};

TEST(SyncMetrics, ChangesArePendingUntilTheSyncAndCountedOnce) {
  Fixture f;
  f.tracker.upsertService(web(80));
  f.tracker.upsertEndpointSlice(webSlice("10.244.1.5", "node-a"));
  EXPECT_EQ(f.metrics.serviceChangesPending.Value(), 1);
  EXPECT_EQ(f.metrics.endpointChangesPending.Value(), 1);
  EXPECT_GT(f.metrics.syncProxyRulesLastQueuedTimestamp.Value(), 0);
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(f.metrics.serviceChangesPending.Value(), 0);
  EXPECT_EQ(f.metrics.endpointChangesPending.Value(), 0);
  EXPECT_EQ(f.metrics.serviceChangesTotal.Value(), 1);
  EXPECT_EQ(f.metrics.endpointChangesTotal.Value(), 1);

  // Re-sent unchanged, one by one or as a relist: no change.
  f.tracker.upsertService(web(80));
  f.tracker.replaceAll({web(80)}, {webSlice("10.244.1.5", "node-a")});
  EXPECT_EQ(f.metrics.serviceChangesTotal.Value(), 1);
  EXPECT_EQ(f.metrics.endpointChangesTotal.Value(), 1);
  // A relist without the slice: one endpoint change (deleted).
  f.tracker.replaceAll({web(80)}, {});
  EXPECT_EQ(f.metrics.endpointChangesTotal.Value(), 2);
  f.tracker.deleteService("default", "web");
  EXPECT_EQ(f.metrics.serviceChangesTotal.Value(), 2);
}

TEST(SyncMetrics, EachSyncingRoundIsObservedAsFullOrPartial) {
  Fixture f;
  f.tracker.upsertService(web(80));
  ASSERT_TRUE(f.runner.syncIfNeeded());  // the first sync is full
  EXPECT_EQ(Fixture::count(f.metrics.syncProxyRulesDuration), 1u);
  EXPECT_EQ(Fixture::count(f.metrics.syncFullProxyRulesDuration), 1u);
  EXPECT_EQ(Fixture::count(f.metrics.syncPartialProxyRulesDuration), 0u);
  const double firstSuccess = f.metrics.syncProxyRulesLastTimestamp.Value();
  EXPECT_GT(firstSuccess, 0);

  f.tracker.upsertService(web(81));
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(Fixture::count(f.metrics.syncProxyRulesDuration), 2u);
  EXPECT_EQ(Fixture::count(f.metrics.syncPartialProxyRulesDuration), 1u);

  ASSERT_TRUE(f.runner.syncIfNeeded());  // nothing to do: no observation
  EXPECT_EQ(Fixture::count(f.metrics.syncProxyRulesDuration), 2u);

  // A failed round is timed too, but is not a successful sync.
  f.metrics.syncProxyRulesLastTimestamp.Set(1);
  f.provider.failuresLeft = 1;
  f.tracker.upsertService(web(82));
  EXPECT_FALSE(f.runner.syncIfNeeded());
  EXPECT_EQ(Fixture::count(f.metrics.syncProxyRulesDuration), 3u);
  EXPECT_EQ(f.metrics.syncProxyRulesLastTimestamp.Value(), 1);
  ASSERT_TRUE(f.runner.syncIfNeeded());  // the retry is full
  EXPECT_EQ(Fixture::count(f.metrics.syncFullProxyRulesDuration), 2u);
  EXPECT_GE(f.metrics.syncProxyRulesLastTimestamp.Value(), firstSuccess);
}

// kube-proxy's semantics: the latency from the slice's trigger time to the end of the
// sync that programmed it; never for a change from before the tracker started, and
// after the retry when the first round failed.
TEST(SyncMetrics, NetworkProgrammingLatencyIsObservedAfterTheSyncThatProgrammedIt) {
  Fixture f;
  f.tracker.upsertService(web(80));
  ASSERT_TRUE(f.runner.syncIfNeeded());
  f.tracker.upsertEndpointSlice(webSlice("10.244.1.5", "node-a", system_clock::now() - std::chrono::hours(1)));
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(Fixture::count(f.metrics.networkProgrammingDuration), 0u);  // before the start

  f.provider.failuresLeft = 1;
  f.tracker.upsertEndpointSlice(webSlice("10.244.2.7", "node-b", system_clock::now()));
  EXPECT_FALSE(f.runner.syncIfNeeded());
  EXPECT_EQ(Fixture::count(f.metrics.networkProgrammingDuration), 0u);  // not programmed yet
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(Fixture::count(f.metrics.networkProgrammingDuration), 1u);
  EXPECT_LT(Fixture::sum(f.metrics.networkProgrammingDuration), 5.0);
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(Fixture::count(f.metrics.networkProgrammingDuration), 1u);  // once
}

TEST(SyncMetrics, NoLocalEndpointsCountsLocalPoliciesWithEndpointsElsewhereOnly) {
  Fixture f;
  k8s::Service service = web(80, TrafficPolicy::Local);
  service.type = ServiceType::NodePort;
  service.ports[0].nodePort = 30080;
  service.externalTrafficPolicy = TrafficPolicy::Local;
  f.tracker.upsertService(service);
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(f.noLocal("internal"), 0);  // no endpoints at all: rejected, not counted (kube-proxy)
  EXPECT_EQ(f.noLocal("external"), 0);

  f.tracker.upsertEndpointSlice(webSlice("10.244.2.7", "node-b"));
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(f.noLocal("internal"), 1);
  EXPECT_EQ(f.noLocal("external"), 1);

  f.tracker.upsertEndpointSlice(webSlice("10.244.1.5", "node-a"));
  ASSERT_TRUE(f.runner.syncIfNeeded());
  EXPECT_EQ(f.noLocal("internal"), 0);
  EXPECT_EQ(f.noLocal("external"), 0);
}

TEST(TriggerTime, ParsesGoRfc3339Nano) {
  using namespace std::chrono;
  const auto base = sys_days(year(2026) / December / 4) + hours(20);
  EXPECT_EQ(k8s::parseRfc3339("2026-12-04T20:00:00Z"), base);
  EXPECT_EQ(k8s::parseRfc3339("2026-12-04T20:00:00.5Z"), base + milliseconds(500));
  EXPECT_EQ(k8s::parseRfc3339("2026-12-04T21:30:00.000000001+01:30"), base + nanoseconds(1));
  EXPECT_EQ(k8s::parseRfc3339("2026-12-04T18:00:00-02:00"), base);
  for (const char* bad : {"", "2026-12-04", "2026-12-04T20:00:00", "2026-13-04T20:00:00Z", "2026-12-04T20:00:00.Z",
                          "2026-12-04T20:00:00Zjunk", "yesterday"}) {
    EXPECT_FALSE(k8s::parseRfc3339(bad)) << bad;
  }
}

TEST(TriggerTime, DecodedFromTheSliceAnnotationAndIgnoredWhenBad) {
  const auto decode = [](const char* annotation) {
    const auto value = boost::json::parse(std::string(R"({"metadata": {"name": "web-abc", "namespace": "default",
      "labels": {"kubernetes.io/service-name": "web"},
      "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": ")") + annotation + R"("}},
      "addressType": "IPv4", "endpoints": [], "ports": []})");
    return std::get<k8s::EndpointSlice>(k8s::decodeEndpointSlice(value));
  };
  EXPECT_EQ(decode("2026-12-04T20:00:00Z").lastChangeTriggerTime, k8s::parseRfc3339("2026-12-04T20:00:00Z"));
  EXPECT_FALSE(decode("not a time").lastChangeTriggerTime);
}

}  // namespace
}  // namespace nicproxy
