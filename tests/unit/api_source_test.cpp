// Tests: control/api_source and control/k8s/reflector against the fake API server
// (tests/k8s_fake): real HTTPS on 127.0.0.1 with certificates made by openssl, a
// bearer token, paged lists and chunked watch streams.
//   ApiSource.InitialPagedListThenWatch        3 pages of 2, kube-proxy's selector, then a watch event
//   ApiSource.NothingBeforeBothLists           services listed, slices failing: not synced
//   ApiSource.SplitEventAndManyEventsPerChunk  one event over two chunks, two events in one chunk
//   ApiSource.BookmarkAdvancesResourceVersion
//   ApiSource.GoneAsStatusRelists              watch answered 410: relist, same final state
//   ApiSource.GoneAsErrorEventRelists          ERROR event with a 410 Status: relist
//   ApiSource.ExpiredContinueRestartsList
//   ApiSource.ServerRestartSurvived            stream closed, server down, changes made, back up
//   ApiSource.BadTokenReportedOnceAndRetried   401: one error per reflector, token never logged
//   ApiSource.GarbageLineAndBadObjectSkipped   the stream goes on after both
//   ApiSource.OtherProxysAndHeadlessSkipped    service-proxy-name label, headless label, clusterIP None
//   ApiSource.BadNewVersionKeepsTheLastGoodOne invalid MODIFIED Service and slice (bad port, martian clusterIP,
//                                              bad name) and a relist holding the bad version: the good one stays
//   ApiSource.ClashingServiceRefused           a Service on another one's clusterIP and port is refused and
//                                              counted until the first one is deleted
//   ApiSource.NodeAddressesAndZone
//   ApiSource.NodeEligibility                  KEP-3836: ToBeDeletedByClusterAutoscaler taint, deletionTimestamp,
//                                              deletion make the node not eligible; the listener hears each
//   ApiSource.MetricsReadTheCountersAtScrapeTime  nicproxy_api_*{resource} (control/nicproxy_metrics)
//                                              after 401s, a garbage line and a 410
//   ApiSource.OversizeEventRelistsAndKeepsTheLastState  clientConnection.maxResponseBytes: an event over it
//                                                       ends the watch, the list fails too, the old state
//                                                       stays; once the object shrinks, it is picked up
// Addresses: ClusterIPs 10.96.0.0/16, endpoints 10.244.0.0/16, API server 127.0.0.1:<any port>.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <boost/json/serialize.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <prometheus/text_serializer.h>

#include "control/api_source.hpp"
#include "control/nicproxy_metrics.hpp"
#include "control/services_file.hpp"
#include "tests/k8s_fake/fake_apiserver.hpp"
#include "tests/k8s_fake/objects.hpp"

namespace nicproxy {
namespace {

using testing::FakeApiServer;
using testing::serviceJson;
using testing::sliceJson;
constexpr const char* kToken = "s3cr3t-t0ken-value";

class ApiSourceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char pattern[] = "/tmp/nicproxy-apitest.XXXXXX";
    dir_ = mkdtemp(pattern);
    testing::makeTestCertificates(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  void SetUp() override {
    server_ = std::make_unique<FakeApiServer>(
        testing::FakeApiServerOptions{dir_ + "/server.crt", dir_ + "/server.key", kToken});
    server_->start();
  }
  void TearDown() override {
    source_.reset();
    server_.reset();
  }

  k8s::Connection connection(const std::string& token = kToken) const {
    k8s::Connection c;
    c.server = "https://127.0.0.1:" + std::to_string(server_->port());
    c.caFile = dir_ + "/ca.crt";
    c.token = token;
    c.origin = "test";
    return c;
  }

  ApiSource& startSource(const std::string& token = kToken, const std::string& proxyName = {},
                         std::function<void(const NodeInfo&)> nodeListener = {}) {
    ApiSourceOptions options;
    options.nodeName = "node-a";
    options.serviceProxyName = proxyName;
    options.tuning.pageSize = 2;
    options.tuning.backoffInitial = std::chrono::milliseconds(20);
    options.tuning.backoffMax = std::chrono::milliseconds(200);
    source_ = std::make_unique<ApiSource>(connection(token), options);
    source_->setNodeListener(std::move(nodeListener));
    source_->start();
    return *source_;
  }

  // Drains the source into the tracker until `done` holds; fails after 20 s (a bound
  // for a broken build, not a timing assertion).
  template <typename Pred>
  bool eventually(Pred done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      source_->drainInto(tracker_);
      if (done()) return true;
      source_->waitForUpdates(std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
    }
    return false;
  }

  bool hasService(const std::string& name) {
    tracker_.apply();
    return tracker_.current()->find(ServicePortName{"default", name, "http", Protocol::Tcp}) != nullptr;
  }
  size_t endpointsOf(const std::string& name) {
    tracker_.apply();
    const auto* port = tracker_.current()->find(ServicePortName{"default", name, "http", Protocol::Tcp});
    return port == nullptr ? 0 : port->endpoints.size();
  }

  // The table the tracker holds equals one built straight from the objects the server
  // stores now, decoded as a services file (another path, same decoder).
  void expectTableMatchesServer() {
    boost::json::array items;
    for (const char* resource : {"services", "endpointslices"}) {
      for (auto& object : server_->objects(resource)) items.push_back(std::move(object));
    }
    const boost::json::object list{{"kind", "List"}, {"items", items}};
    ServicesFileContents contents = parseServicesList(boost::json::serialize(list));
    ASSERT_TRUE(contents.errors.empty());
    ChangeTracker expected("node-a");
    expected.replaceAll(std::move(contents.services), std::move(contents.slices));
    expected.apply();
    tracker_.apply();
    const auto& want = expected.current()->ports();
    const auto& got = tracker_.current()->ports();
    ASSERT_EQ(got.size(), want.size());
    for (auto w = want.begin(), g = got.begin(); w != want.end(); ++w, ++g) {
      EXPECT_EQ(g->first, w->first);
      EXPECT_EQ(*g->second, *w->second) << w->first.toString();
    }
  }

  void seed(int services) {
    for (int i = 0; i < services; ++i) {
      const std::string name = "svc" + std::to_string(i);
      server_->apply("services", serviceJson("default", name, "10.96.0." + std::to_string(i + 1), 80, 8080));
      server_->apply("endpointslices", sliceJson("default", name + "-abc", name, {"10.244.0." + std::to_string(i + 1)},
                                                 8080));
    }
  }

  bool syncedWith(size_t ports) {
    return eventually([&] {
      if (!source_->synced()) return false;
      tracker_.apply();
      return tracker_.current()->size() == ports;
    });
  }

  static std::string dir_;
  std::unique_ptr<FakeApiServer> server_;
  std::unique_ptr<ApiSource> source_;
  ChangeTracker tracker_{"node-a"};
};

std::string ApiSourceTest::dir_;

size_t countContaining(const std::vector<std::string>& lines, const std::string& a, const std::string& b = {}) {
  size_t n = 0;
  for (const auto& l : lines) n += l.find(a) != std::string::npos && l.find(b) != std::string::npos ? 1 : 0;
  return n;
}

TEST_F(ApiSourceTest, InitialPagedListThenWatch) {
  seed(5);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(5));
  const auto requests = server_->requests();
  // 5 objects in pages of 2: three requests, the later two with a continue token.
  EXPECT_EQ(countContaining(requests, "GET /api/v1/services?", "limit=2"), 3u);
  EXPECT_EQ(countContaining(requests, "GET /api/v1/services?", "continue="), 2u);
  for (const auto& r : requests) {
    if (r.find("/api/v1/services?") == std::string::npos) continue;
    EXPECT_NE(r.find("labelSelector=!service.kubernetes.io/service-proxy-name,!service.kubernetes.io/headless"),
              std::string::npos) << r;
  }
  EXPECT_EQ(countContaining(requests, "GET /apis/discovery.k8s.io/v1/endpointslices?", "continue="), 2u);
  EXPECT_EQ(source.counters().services.lists.load(), 1u);
  EXPECT_EQ(source.counters().services.listPages.load(), 3u);

  ASSERT_TRUE(eventually([&] {
    return server_->openWatches("services") == 1 && server_->openWatches("endpointslices") == 1 &&
           server_->openWatches("nodes") == 1;
  }));
  const auto watches = server_->requests();
  EXPECT_EQ(countContaining(watches, "/api/v1/services?", "watch=true"), 1u);
  EXPECT_EQ(countContaining(watches, "allowWatchBookmarks=true", "timeoutSeconds=300"), 3u);  // + slices, node

  server_->apply("services", serviceJson("default", "late", "10.96.1.1", 80, 8080));
  server_->apply("endpointslices", sliceJson("default", "late-1", "late", {"10.244.1.1", "10.244.1.2"}, 8080));
  ASSERT_TRUE(eventually([&] { return endpointsOf("late") == 2; }));
  server_->remove("services", "default", "svc0");
  ASSERT_TRUE(eventually([&] { return !hasService("svc0"); }));
  EXPECT_GE(source.counters().services.events.load(), 2u);
  expectTableMatchesServer();
}

TEST_F(ApiSourceTest, NothingBeforeBothLists) {
  seed(3);
  server_->setFailing("endpointslices", 500);
  ApiSource& source = startSource();
  ASSERT_TRUE(eventually([&] { return source.counters().endpointSlices.listFailures.load() >= 3; }));
  source.drainInto(tracker_);
  EXPECT_EQ(source.counters().services.lists.load(), 1u);
  EXPECT_FALSE(source.synced());
  server_->setFailing("endpointslices", 0);
  ASSERT_TRUE(syncedWith(3));
  EXPECT_EQ(endpointsOf("svc1"), 1u);
}

TEST_F(ApiSourceTest, SplitEventAndManyEventsPerChunk) {
  seed(1);
  startSource();
  ASSERT_TRUE(syncedWith(1));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1; }));
  const std::string a = FakeApiServer::eventLine("ADDED", serviceJson("default", "a", "10.96.2.1", 80, 8080));
  const std::string b = FakeApiServer::eventLine("ADDED", serviceJson("default", "b", "10.96.2.2", 80, 8080));
  const std::string c = FakeApiServer::eventLine("ADDED", serviceJson("default", "c", "10.96.2.3", 80, 8080));
  // Event a over three chunks (the cut falls inside a string), then b and c in one chunk.
  server_->sendRaw("services", {a.substr(0, 17), a.substr(17, 40), a.substr(57)});
  ASSERT_TRUE(eventually([&] { return hasService("a"); }));
  server_->sendRaw("services", {b + c});
  ASSERT_TRUE(eventually([&] { return hasService("b") && hasService("c"); }));
  EXPECT_EQ(source_->counters().services.decodeErrors.load(), 0u);
}

TEST_F(ApiSourceTest, BookmarkAdvancesResourceVersion) {
  seed(1);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(1));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1; }));
  const std::string before = source.servicesResourceVersion();
  // Changes to other resources move the server's version; a bookmark tells the services watch.
  server_->apply("endpointslices", sliceJson("default", "x-1", "x", {"10.244.9.9"}, 8080));
  const std::string now = std::to_string(server_->resourceVersion());
  ASSERT_NE(before, now);
  server_->sendBookmark("services");
  ASSERT_TRUE(eventually([&] { return source.servicesResourceVersion() == now; }));
  EXPECT_EQ(source.counters().services.bookmarks.load(), 1u);
  // The next watch starts from the bookmark's version.
  server_->closeWatches();
  ASSERT_TRUE(eventually([&] {
    return countContaining(server_->requests(), "/api/v1/services?", "resourceVersion=" + now) == 1;
  }));
}

TEST_F(ApiSourceTest, GoneAsStatusRelists) {
  seed(3);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(3));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1; }));
  server_->failNextWatchWith410();
  server_->closeWatches();
  // Whichever reflector watches first (services, slices or node) gets the 410 and lists again.
  const auto& c = source.counters();
  const auto sum = [](const auto& a, const auto& b, const auto& d) { return a.load() + b.load() + d.load(); };
  ASSERT_TRUE(eventually([&] { return sum(c.services.lists, c.endpointSlices.lists, c.node.lists) == 4; }));
  EXPECT_EQ(sum(c.services.relists, c.endpointSlices.relists, c.node.relists), 1u);
  server_->apply("services", serviceJson("default", "after", "10.96.3.1", 80, 8080));
  ASSERT_TRUE(eventually([&] { return hasService("after"); }));
  expectTableMatchesServer();
}

TEST_F(ApiSourceTest, GoneAsErrorEventRelists) {
  seed(3);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(3));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1 && server_->openWatches("endpointslices") == 1; }));
  // While the watches are told "too old", svc2 goes away; only a relist can tell.
  server_->compact();
  ASSERT_TRUE(eventually([&] {
    return source.counters().services.relists.load() == 1 && source.counters().endpointSlices.relists.load() == 1;
  }));
  server_->remove("services", "default", "svc2");
  server_->remove("endpointslices", "default", "svc2-abc");
  ASSERT_TRUE(eventually([&] { return !hasService("svc2"); }));
  EXPECT_EQ(source.counters().services.lists.load(), 2u);
  expectTableMatchesServer();
}

TEST_F(ApiSourceTest, ExpiredContinueRestartsList) {
  seed(5);
  server_->expireNextContinue();
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(5));
  EXPECT_EQ(source.counters().services.relists.load() + source.counters().endpointSlices.relists.load(), 1u);
  expectTableMatchesServer();
}

TEST_F(ApiSourceTest, ServerRestartSurvived) {
  seed(4);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(4));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1; }));
  server_->stop();  // streams end, connections refused
  server_->remove("services", "default", "svc3");
  server_->apply("endpointslices", sliceJson("default", "svc1-abc", "svc1", {"10.244.0.2", "10.244.7.7"}, 8080));
  server_->apply("services", serviceJson("default", "new", "10.96.4.1", 80, 8080));
  ASSERT_TRUE(eventually([&] { return source.counters().services.watchFailures.load() >= 1; }));
  // The last good state stays while the server is away.
  EXPECT_TRUE(hasService("svc3"));
  server_->start();
  ASSERT_TRUE(eventually([&] { return !hasService("svc3") && hasService("new") && endpointsOf("svc1") == 2; }));
  EXPECT_EQ(source.counters().services.lists.load(), 1u);  // picked up by watching again, no relist
  expectTableMatchesServer();
}

TEST_F(ApiSourceTest, BadTokenReportedOnceAndRetried) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  seed(2);
  ApiSource& source = startSource("wrong-token-value");
  ASSERT_TRUE(eventually([&] { return source.counters().services.authFailures.load() >= 4; }));
  source.drainInto(tracker_);
  EXPECT_FALSE(source.synced());
  server_->setToken("wrong-token-value");  // the cluster now accepts it
  ASSERT_TRUE(syncedWith(2));
  spdlog::default_logger()->sinks().pop_back();
  const std::string text = log.str();
  EXPECT_EQ(text.find("wrong-token-value"), std::string::npos) << "a token was logged";
  // One error per reflector (services, endpointslices, node) for the whole streak.
  size_t errors = 0;
  for (size_t at = text.find("answered 401"); at != std::string::npos; at = text.find("answered 401", at + 1)) ++errors;
  EXPECT_EQ(errors, 3u) << text;
  EXPECT_NE(text.find("a bearer token (inline) from test"), std::string::npos) << text;
}

TEST_F(ApiSourceTest, GarbageLineAndBadObjectSkipped) {
  seed(1);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(1));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1; }));
  boost::json::value bad = serviceJson("default", "bad", "10.96.5.1", 70000, 8080);
  server_->sendRaw("services", {"this is not an event\n", "{\"type\":\"ADDED\"}\n",
                                FakeApiServer::eventLine("ADDED", bad),
                                FakeApiServer::eventLine("ADDED", serviceJson("default", "good", "10.96.5.2", 80, 8080))});
  ASSERT_TRUE(eventually([&] { return hasService("good"); }));
  EXPECT_FALSE(hasService("bad"));
  EXPECT_EQ(source.counters().services.decodeErrors.load(), 3u);
  EXPECT_EQ(server_->watchRequests("services"), 1u);  // the same stream went on
}

TEST_F(ApiSourceTest, OtherProxysAndHeadlessSkipped) {
  seed(1);
  server_->apply("services", serviceJson("default", "theirs", "10.96.6.1", 80, 8080,
                                         {{"service.kubernetes.io/service-proxy-name", "other"}}));
  server_->apply("services", serviceJson("default", "ours", "10.96.6.2", 80, 8080,
                                         {{"service.kubernetes.io/service-proxy-name", "nicproxy"}}));
  boost::json::value headless = serviceJson("default", "headless", "None", 80, 8080);
  server_->apply("services", headless);
  ApiSource& source = startSource(kToken, "nicproxy");
  ASSERT_TRUE(syncedWith(2));
  EXPECT_TRUE(hasService("ours"));
  EXPECT_FALSE(hasService("theirs"));
  EXPECT_EQ(countContaining(server_->requests(), "/api/v1/services?", "labelSelector=!service.kubernetes.io/headless&limit="),
            2u);  // 4 services in pages of 2; "theirs" and clusterIP None are left out here, not by the server
  // Relabelled to another proxy: it goes away.
  server_->apply("services", serviceJson("default", "ours", "10.96.6.2", 80, 8080,
                                         {{"service.kubernetes.io/service-proxy-name", "other"}}));
  ASSERT_TRUE(eventually([&] { return !hasService("ours"); }));
  EXPECT_EQ(source.counters().services.decodeErrors.load(), 0u);
}

// A watch event or a list that carries an invalid version of an object in force is
// skipped and counted; the version in force stays (it used to be deleted).
TEST_F(ApiSourceTest, BadNewVersionKeepsTheLastGoodOne) {
  seed(3);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(3));
  ASSERT_TRUE(eventually(
      [&] { return server_->openWatches("services") == 1 && server_->openWatches("endpointslices") == 1; }));
  boost::json::value badSlice = sliceJson("default", "svc2-abc", "svc2", {"10.244.0.300"}, 8080);
  server_->apply("services", serviceJson("default", "svc0", "10.96.0.1", 70000, 8080));       // bad port
  server_->apply("services", serviceJson("default", "svc1", "127.0.0.1", 80, 8080));          // loopback clusterIP
  server_->apply("endpointslices", badSlice);                                                  // bad address
  server_->apply("services", serviceJson("default", "marker", "10.96.5.2", 80, 8080));
  server_->apply("endpointslices", sliceJson("default", "marker-abc", "marker", {"10.244.5.2"}, 8080));
  ASSERT_TRUE(eventually([&] { return endpointsOf("marker") == 1; }));
  for (const char* name : {"svc0", "svc1", "svc2"}) {
    EXPECT_TRUE(hasService(name)) << name;
    EXPECT_EQ(endpointsOf(name), 1u) << name;
  }
  EXPECT_EQ(source.counters().services.decodeErrors.load(), 2u);
  EXPECT_EQ(source.counters().endpointSlices.decodeErrors.load(), 1u);

  // A relist that holds the bad versions keeps the good ones too (compact(): every
  // watch ends with 410 Gone and every reflector lists again).
  const auto& c = source.counters();
  server_->compact();
  ASSERT_TRUE(eventually([&] { return c.services.lists.load() >= 2 && c.endpointSlices.lists.load() >= 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a list is counted just before it is queued
  source.drainInto(tracker_);
  for (const char* name : {"svc0", "svc1", "svc2", "marker"}) {
    EXPECT_TRUE(hasService(name)) << name;
    EXPECT_EQ(endpointsOf(name), 1u) << name;
  }

  // Deleting it still deletes it; and an object that stops being served goes.
  server_->remove("services", "default", "svc0");
  server_->apply("services", serviceJson("default", "svc1", "None", 80, 8080));  // headless now
  ASSERT_TRUE(eventually([&] { return !hasService("svc0") && !hasService("svc1"); }));
}

TEST_F(ApiSourceTest, ClashingServiceRefused) {
  seed(1);
  ApiSource& source = startSource();
  ASSERT_TRUE(syncedWith(1));
  server_->apply("services", serviceJson("default", "thief", "10.96.0.1", 80, 8080));  // svc0's clusterIP and port
  server_->apply("services", serviceJson("default", "marker", "10.96.5.2", 80, 8080));
  ASSERT_TRUE(eventually([&] { return hasService("marker"); }));
  EXPECT_FALSE(hasService("thief"));
  EXPECT_EQ(tracker_.current()->find(ServicePortName{"default", "svc0", "http", Protocol::Tcp})->clusterIPs,
            std::vector<Ipv4>{parseIpv4("10.96.0.1").value()});
  EXPECT_EQ(source.counters().services.conflicts.load(), 1u);
  server_->remove("services", "default", "svc0");
  ASSERT_TRUE(eventually([&] { return hasService("thief") && !hasService("svc0"); }));
}

TEST_F(ApiSourceTest, NodeAddressesAndZone) {
  server_->apply("nodes", testing::nodeJson("node-a", "192.0.2.10", "zone-1"));
  server_->apply("nodes", testing::nodeJson("node-b", "192.0.2.11", "zone-2"));
  ApiSource& source = startSource();
  ASSERT_TRUE(eventually([&] { return source.node().known; }));
  EXPECT_EQ(source.node().zone, "zone-1");
  EXPECT_EQ(source.node().addresses, std::vector<std::string>{"InternalIP 192.0.2.10"});
  EXPECT_EQ(countContaining(server_->requests(), "/api/v1/nodes?", "fieldSelector=metadata.name=node-a&limit="), 1u);
  server_->apply("nodes", testing::nodeJson("node-a", "192.0.2.10", "zone-9"));
  ASSERT_TRUE(eventually([&] { return source.node().zone == "zone-9"; }));
}

TEST_F(ApiSourceTest, NodeEligibility) {
  boost::json::value node = testing::nodeJson("node-a", "192.0.2.10", "zone-1");
  server_->apply("nodes", node);
  std::mutex mutex;
  std::vector<bool> heard;  // eligible(), per listener call
  ApiSource& source = startSource(kToken, {}, [&](const NodeInfo& info) {
    std::lock_guard lock(mutex);
    heard.push_back(info.eligible());
  });
  ASSERT_TRUE(eventually([&] { return source.node().known; }));
  EXPECT_TRUE(source.node().eligible());

  // Another taint: still eligible. The autoscaler's: not.
  const auto taint = [](const char* key) {
    return boost::json::object{{"key", key}, {"value", "1714557600"}, {"effect", "NoSchedule"}};
  };
  node.as_object()["spec"] = {{"taints", boost::json::array{taint("node.kubernetes.io/unschedulable")}}};
  server_->apply("nodes", node);
  ASSERT_TRUE(eventually([&] { return source.node().taints.size() == 1; }));
  EXPECT_TRUE(source.node().eligible());
  node.as_object()["spec"] = {
      {"taints", boost::json::array{taint("node.kubernetes.io/unschedulable"), taint(kToBeDeletedTaint)}}};
  server_->apply("nodes", node);
  ASSERT_TRUE(eventually([&] { return !source.node().eligible(); }));
  EXPECT_EQ(source.node().taints,
            (std::vector<std::string>{"node.kubernetes.io/unschedulable", "ToBeDeletedByClusterAutoscaler"}));

  // Untainted, then being deleted, then deleted.
  node.as_object().erase("spec");
  server_->apply("nodes", node);
  ASSERT_TRUE(eventually([&] { return source.node().eligible(); }));
  node.as_object()["metadata"].as_object()["deletionTimestamp"] = "2024-05-01T10:00:00Z";
  server_->apply("nodes", node);
  ASSERT_TRUE(eventually([&] { return source.node().deleting; }));
  EXPECT_FALSE(source.node().eligible());
  node.as_object()["metadata"].as_object().erase("deletionTimestamp");
  server_->apply("nodes", node);
  ASSERT_TRUE(eventually([&] { return source.node().eligible(); }));
  server_->remove("nodes", "", "node-a");
  ASSERT_TRUE(eventually([&] { return !source.node().eligible(); }));
  EXPECT_FALSE(source.node().known);

  std::lock_guard lock(mutex);
  // Every change heard (a relist may repeat a state): eligible, tainted, untainted,
  // deleting, back, deleted.
  heard.erase(std::unique(heard.begin(), heard.end()), heard.end());
  EXPECT_EQ(heard, (std::vector<bool>{true, false, true, false, true, false}));
}

TEST_F(ApiSourceTest, OversizeEventRelistsAndKeepsTheLastState) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  spdlog::default_logger()->sinks().push_back(sink);
  seed(2);
  ApiSourceOptions options;
  options.nodeName = "node-a";
  options.tuning.backoffInitial = std::chrono::milliseconds(20);
  options.tuning.backoffMax = std::chrono::milliseconds(200);
  options.tuning.timeouts.maxResponseBytes = 64 << 10;
  source_ = std::make_unique<ApiSource>(connection(), options);
  source_->start();
  ASSERT_TRUE(syncedWith(2));

  auto big = serviceJson("default", "big", "10.96.0.50", 80, 8080);
  big.as_object()["metadata"].as_object()["annotations"] =
      boost::json::object{{"example.com/padding", std::string(100 << 10, 'a')}};
  server_->apply("services", big);
  const auto& counters = source_->counters().services;
  ASSERT_TRUE(eventually([&] { return counters.relists.load() >= 1 && counters.listFailures.load() >= 2; }));
  EXPECT_TRUE(hasService("svc0"));
  EXPECT_TRUE(hasService("svc1"));
  EXPECT_FALSE(hasService("big"));

  server_->apply("services", serviceJson("default", "big", "10.96.0.50", 80, 8080));  // within the limit again
  ASSERT_TRUE(eventually([&] { return hasService("big"); }));
  EXPECT_TRUE(hasService("svc0"));
  spdlog::default_logger()->sinks().pop_back();
  EXPECT_NE(log.str().find("failed: a watch event from https://127.0.0.1:" + std::to_string(server_->port()) +
                           "/api/v1/services?watch=true"),
            std::string::npos)
      << log.str();
  EXPECT_NE(log.str().find("is larger than 65536 bytes (clientConnection.maxResponseBytes) after decompression"),
            std::string::npos)
      << log.str();
}

// What Prometheus reads is what the reflectors counted, per resource, at the time of
// the scrape: no copy is kept up to date on the side.
TEST_F(ApiSourceTest, MetricsReadTheCountersAtScrapeTime) {
  seed(2);
  ApiSource& source = startSource("wrong-token-value");
  const ApiSourceMetrics metrics(source.counters());
  const auto scrape = [&metrics] { return prometheus::TextSerializer().Serialize(metrics.Collect()); };
  const auto line = [](const char* name, const char* resource, uint64_t value) {
    return std::string(name) + "{resource=\"" + resource + "\"} " + std::to_string(value) + "\n";
  };
  ASSERT_TRUE(eventually([&] { return source.counters().services.authFailures.load() >= 2; }));
  EXPECT_EQ(scrape().find(line("nicproxy_api_lists_total", "services", 0)) != std::string::npos, true) << scrape();
  server_->setToken("wrong-token-value");
  ASSERT_TRUE(syncedWith(2));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1; }));
  server_->sendRaw("services", {"this is not an event\n"});
  ASSERT_TRUE(eventually([&] { return source.counters().services.decodeErrors.load() == 1; }));
  server_->failNextWatchWith410();
  server_->closeWatches();
  const auto& c = source.counters();
  ASSERT_TRUE(eventually([&] { return c.services.relists.load() + c.endpointSlices.relists.load() + c.node.relists.load() == 1; }));
  ASSERT_TRUE(eventually([&] { return server_->openWatches("services") == 1 && server_->openWatches("endpointslices") == 1; }));

  const std::string text = scrape();
  EXPECT_NE(text.find("# TYPE nicproxy_api_auth_failures_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find(line("nicproxy_api_auth_failures_total", "services", c.services.authFailures.load())),
            std::string::npos) << text;
  EXPECT_NE(text.find(line("nicproxy_api_decode_failures_total", "services", 1)), std::string::npos) << text;
  EXPECT_NE(text.find(line("nicproxy_api_decode_failures_total", "endpointslices", 0)), std::string::npos) << text;
  EXPECT_NE(text.find(line("nicproxy_api_lists_total", "nodes", c.node.lists.load())), std::string::npos) << text;
  const uint64_t relists = c.services.relists.load() + c.endpointSlices.relists.load() + c.node.relists.load();
  EXPECT_EQ(relists, 1u);
  for (const auto& [resource, counters] : {std::pair{"services", &c.services}, std::pair{"endpointslices", &c.endpointSlices}}) {
    EXPECT_NE(text.find(line("nicproxy_api_relists_total", resource, counters->relists.load())), std::string::npos)
        << text;
    EXPECT_NE(text.find(line("nicproxy_api_watches_total", resource, counters->watches.load())), std::string::npos)
        << text;
  }
  // One series per resource and name, whatever the number of objects.
  size_t series = 0;
  for (size_t at = text.find("\nnicproxy_api_"); at != std::string::npos; at = text.find("\nnicproxy_api_", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, 11u * 3u) << text;
}

}  // namespace
}  // namespace nicproxy
