// Tests: control/services_file (parseServicesList, loadServicesFile).
//   ServicesFile.MixedListWithBadItem     good items load; the bad one is reported with its name and field
//   ServicesFile.SkippedItemsWarn         other kinds, headless services, IPv6 slices, old apiVersions
//   ServicesFile.SingleObjectAndTypedList a lone Service; a ServiceList whose items have no kind
//   ServicesFile.UnreadableInput          invalid JSON, not an object, items not an array, missing file
//   ServicesFile.MissingOrNullItemsIsAnError  {}, "items": null, a List without items: errors, not "no services"
//   ServicesFile.ClashesBetweenItems      the same Service or slice twice, one clusterIP, one externalIP and
//                                         port, one node port, a node port out of range: key paths of both
//   ServicesFileReload.ReloadIsAllOrNothing  loadServicesFileInto keeps the state in force for a file with one bad
//                                         item, {} or a clash; applies a good one; refuses to start on a bad one
// Addresses: clusterIPs 10.96.0.0/16, endpoints 10.244.0.0/16, externalIPs 192.0.2.0/24.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "control/change_tracker.hpp"
#include "control/services_file.hpp"

namespace nicproxy {
namespace {

using Strings = std::vector<std::string>;

constexpr const char* kMixedList = R"({
  "apiVersion": "v1", "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"namespace": "shop", "name": "cart"},
     "spec": {"clusterIP": "10.96.1.1", "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
    {"apiVersion": "v1", "kind": "Service",
     "metadata": {"namespace": "shop", "name": "broken"},
     "spec": {"clusterIP": "10.96.1.2", "ports": [{"name": "http", "port": 80}, {"name": "x", "port": 70000}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"namespace": "shop", "name": "cart-1", "labels": {"kubernetes.io/service-name": "cart"}},
     "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
     "endpoints": [{"addresses": ["10.244.0.1"]}]},
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"namespace": "default", "name": "foo"}}
  ]
})";

TEST(ServicesFile, MixedListWithBadItem) {
  const auto contents = parseServicesList(kMixedList);
  EXPECT_FALSE(contents.unreadable);
  ASSERT_EQ(contents.services.size(), 1u);
  EXPECT_EQ(contents.services[0].meta.key(), "shop/cart");
  ASSERT_EQ(contents.slices.size(), 1u);
  EXPECT_EQ(contents.slices[0].serviceName, "cart");
  EXPECT_EQ(contents.errors, Strings{"items[1].spec.ports[1].port: 70000 is not a valid port (Service shop/broken)"});
  EXPECT_EQ(contents.warnings, Strings{"items[3]: skipping kind ConfigMap default/foo"});
  EXPECT_FALSE(contents.ok());
}

TEST(ServicesFile, SkippedItemsWarn) {
  const auto contents = parseServicesList(R"({"kind": "List", "items": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "db", "name": "pg"},
     "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "web-v6", "labels": {"kubernetes.io/service-name": "web"}},
     "addressType": "IPv6", "endpoints": [{"addresses": ["fd00::1"]}]},
    {"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice", "metadata": {"name": "old"}},
    {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"}},
    "not an object",
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": "lost"},
     "addressType": "IPv4"}
  ]})");
  EXPECT_FALSE(contents.unreadable);
  EXPECT_TRUE(contents.services.empty());
  EXPECT_TRUE(contents.slices.empty());
  EXPECT_EQ(contents.warnings,
            (Strings{"items[0]: skipping headless or ExternalName Service db/pg",
                     "items[1]: skipping EndpointSlice default/web-v6: addressType IPv6 (nicproxy is IPv4-only)",
                     "items[2]: skipping EndpointSlice default/old: apiVersion discovery.k8s.io/v1beta1 is not supported",
                     "items[3]: skipping kind Endpoints default/web"}));
  EXPECT_EQ(contents.errors,
            (Strings{R"(items[4]: expected an object, got "not an object")",
                     "items[5].metadata.labels: missing kubernetes.io/service-name (the slice's service) "
                     "(EndpointSlice default/lost)"}));
}

TEST(ServicesFile, SingleObjectAndTypedList) {
  const auto single = parseServicesList(R"({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                            "spec": {"clusterIP": "10.96.0.10", "ports": [{"port": 80}]}})");
  EXPECT_TRUE(single.errors.empty());
  ASSERT_EQ(single.services.size(), 1u);
  EXPECT_EQ(single.services[0].meta.key(), "default/web");

  // What the API server returns for GET /api/v1/services: items carry no kind.
  const auto typed = parseServicesList(R"({"apiVersion": "v1", "kind": "ServiceList", "items": [
    {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}},
    {"metadata": {"name": "b"}, "spec": {"clusterIP": "10.96.0.2", "ports": [{"port": 80}]}}]})");
  EXPECT_TRUE(typed.errors.empty());
  EXPECT_EQ(typed.services.size(), 2u);

  // An explicit empty list is allowed (it removes every Service), with a warning.
  const auto empty = parseServicesList(R"({"kind": "List", "items": []})");
  EXPECT_TRUE(empty.ok());
  EXPECT_TRUE(empty.services.empty());
  EXPECT_EQ(empty.warnings, Strings{"items: the list is empty: no Service is served"});
}

TEST(ServicesFile, UnreadableInput) {
  const auto badJson = parseServicesList(R"({"kind": "List", "items": [)");
  EXPECT_TRUE(badJson.unreadable);
  ASSERT_EQ(badJson.errors.size(), 1u);
  EXPECT_EQ(badJson.errors[0].rfind("invalid JSON at line 1, column ", 0), 0u) << badJson.errors[0];

  const auto notObject = parseServicesList("[]");
  EXPECT_TRUE(notObject.unreadable);
  EXPECT_EQ(notObject.errors, Strings{"expected a Kubernetes List object, got an array"});

  const auto itemsNotArray = parseServicesList(R"({"kind": "List", "items": {}})");
  EXPECT_TRUE(itemsNotArray.unreadable);
  EXPECT_EQ(itemsNotArray.errors, Strings{"items: expected an array, got an object"});

  const auto path = std::filesystem::temp_directory_path() / "nicproxy-services-file-test-absent.json";
  const auto missing = loadServicesFile(path);
  EXPECT_TRUE(missing.unreadable);
  EXPECT_EQ(missing.errors, Strings{"cannot read: No such file or directory"});
}

TEST(ServicesFile, MissingOrNullItemsIsAnError) {
  const std::string required =
      R"(items: required (a Kubernetes List of Services and EndpointSlices; "items": [] removes every Service))";
  const std::string null =
      R"(items: must not be null (a Kubernetes List of Services and EndpointSlices; "items": [] removes every Service))";
  for (const auto& [text, error] : {std::pair{"{}", required}, std::pair{R"({"kind": "List"})", required},
                                    std::pair{R"({"apiVersion": "v1", "kind": "List", "items": null})", null},
                                    std::pair{R"({"kind": "ServiceList", "metadata": {}})", required}}) {
    SCOPED_TRACE(text);
    const auto contents = parseServicesList(text);
    EXPECT_FALSE(contents.ok());
    EXPECT_EQ(contents.errors, Strings{error});
  }
}

std::string serviceItem(const std::string& ns, const std::string& name, const std::string& clusterIp,
                        const std::string& ports, const std::string& extra = {}) {
  return R"({"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": ")" + ns + R"(", "name": ")" + name +
         R"("}, "spec": {"clusterIP": ")" + clusterIp + R"(", "ports": )" + ports + extra + "}}";
}

std::string sliceItem(const std::string& ns, const std::string& name, const std::string& service,
                      const std::string& address) {
  return R"({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"namespace": ")" + ns +
         R"(", "name": ")" + name + R"(", "labels": {"kubernetes.io/service-name": ")" + service +
         R"("}}, "addressType": "IPv4", "ports": [{"port": 8080}], "endpoints": [{"addresses": [")" + address +
         R"("]}]})";
}

std::string list(const std::vector<std::string>& items) {
  std::string text = R"({"apiVersion": "v1", "kind": "List", "items": [)";
  for (size_t i = 0; i < items.size(); ++i) text += (i == 0 ? "" : ",\n") + items[i];
  return text + "]}";
}

TEST(ServicesFile, ClashesBetweenItems) {
  const std::string http = R"([{"name": "http", "port": 80}])";
  const std::string nodePort = R"([{"name": "http", "port": 80, "nodePort": 30080}])";
  const struct {
    const char* description;
    std::vector<std::string> items;
    Strings errors;
  } cases[] = {
      {"the same Service twice",
       {serviceItem("shop", "cart", "10.96.1.1", http), serviceItem("shop", "cart", "10.96.1.2", http)},
       {R"(items[1].metadata.name: Duplicate value: "cart": Service shop/cart is already defined by items[0])"}},
      {"the same name in two namespaces is fine",
       {serviceItem("shop", "cart", "10.96.1.1", http), serviceItem("shop2", "cart", "10.96.1.2", http)},
       {}},
      {"two Services on one clusterIP",
       {serviceItem("shop", "cart", "10.96.1.1", http),
        serviceItem("shop", "pay", "10.96.1.1", R"([{"name": "https", "port": 443}])")},
       {R"(items[1].spec.clusterIPs: Invalid value: "10.96.1.1": provided IP is already allocated (to Service )"
        "shop/cart (items[0]))"}},
      {"an externalIP and port another Service serves",
       {serviceItem("shop", "cart", "10.96.1.1", http, R"(, "externalIPs": ["192.0.2.10"])"),
        serviceItem("shop", "pay", "10.96.1.2", http, R"(, "externalIPs": ["192.0.2.10"])")},
       {R"(items[1].spec.externalIPs: Invalid value: "192.0.2.10": port 80/TCP (spec.ports[0]) is already served at )"
        "this address by Service shop/cart (items[0])"}},
      {"one externalIP, other ports or protocols: fine",
       {serviceItem("shop", "cart", "10.96.1.1", http, R"(, "externalIPs": ["192.0.2.10"])"),
        serviceItem("shop", "pay", "10.96.1.2", R"([{"port": 80, "protocol": "UDP"}])",
                    R"(, "externalIPs": ["192.0.2.10"])"),
        serviceItem("shop", "ship", "10.96.1.3", R"([{"port": 81}])", R"(, "externalIPs": ["192.0.2.10"])")},
       {}},
      {"an externalIP that is another Service's clusterIP and port",
       {serviceItem("shop", "cart", "10.96.1.1", http),
        serviceItem("shop", "pay", "10.96.1.2", http, R"(, "externalIPs": ["10.96.1.1"])")},
       {R"(items[1].spec.externalIPs: Invalid value: "10.96.1.1": port 80/TCP (spec.ports[0]) is already served at )"
        "this address by Service shop/cart (items[0])"}},
      {"one node port twice",
       {serviceItem("shop", "cart", "10.96.1.1", nodePort, R"(, "type": "NodePort")"),
        serviceItem("shop", "pay", "10.96.1.2", nodePort, R"(, "type": "NodePort")")},
       {"items[1].spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated (to Service "
        "shop/cart (items[0]))"}},
      {"a node port out of range",
       {serviceItem("shop", "cart", "10.96.1.1", R"([{"port": 80, "nodePort": 8080}])", R"(, "type": "NodePort")"),
        serviceItem("shop", "pay", "10.96.1.2", R"([{"port": 80, "nodePort": 32768}])", R"(, "type": "NodePort")"),
        serviceItem("shop", "ok", "10.96.1.3", R"([{"port": 80, "nodePort": 30000}])", R"(, "type": "NodePort")"),
        serviceItem("shop", "ok2", "10.96.1.4", R"([{"port": 80, "nodePort": 32767}])", R"(, "type": "NodePort")")},
       {"items[0].spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of "
        "valid ports is 30000-32767",
        "items[1].spec.ports[0].nodePort: Invalid value: 32768: provided port is not in the valid range. The range of "
        "valid ports is 30000-32767"}},
      {"a healthCheckNodePort on a Service no load balancer probes",
       {serviceItem("shop", "cart", "10.96.1.1", nodePort, R"(, "type": "NodePort", "healthCheckNodePort": 31000)"),
        serviceItem("shop", "pay", "10.96.1.2", http,
                    R"(, "type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 31001)")},
       {"items[0].spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' and "
        "`externalTrafficPolicy` is 'Local'",
        "items[1].spec.healthCheckNodePort: Invalid value: 31001: may only be set when `type` is 'LoadBalancer' and "
        "`externalTrafficPolicy` is 'Local'"}},
      {"a healthCheckNodePort out of range, or another Service's node port",
       {serviceItem("shop", "cart", "10.96.1.1", nodePort, R"(, "type": "NodePort")"),
        serviceItem("shop", "pay", "10.96.1.2", http,
                    R"(, "type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 30080)"),
        serviceItem("shop", "ship", "10.96.1.3", http,
                    R"(, "type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 10256)"),
        serviceItem("shop", "ok", "10.96.1.4", http,
                    R"(, "type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000)")},
       {"items[1].spec.healthCheckNodePort: Invalid value: 30080: provided port is already allocated (to Service "
        "shop/cart (items[0]))",
        "items[2].spec.healthCheckNodePort: Invalid value: 10256: provided port is not in the valid range. The range "
        "of valid ports is 30000-32767"}},
      {"the same EndpointSlice twice",
       {sliceItem("shop", "cart-1", "cart", "10.244.0.1"), sliceItem("shop", "cart-1", "cart", "10.244.0.2")},
       {R"(items[1].metadata.name: Duplicate value: "cart-1": EndpointSlice shop/cart-1 is already defined by items[0])"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.description);
    const auto contents = parseServicesList(list(c.items));
    EXPECT_EQ(contents.errors, c.errors);
    EXPECT_EQ(contents.ok(), c.errors.empty());
  }
}

class ServicesFileReload : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/nicproxy-services-reload.XXXXXX";
    dir_ = mkdtemp(pattern);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path write(const std::string& text) {
    const auto path = dir_ / "services.json";
    std::ofstream(path) << text;
    return path;
  }

  std::filesystem::path dir_;
};

TEST_F(ServicesFileReload, ReloadIsAllOrNothing) {
  const std::string http = R"([{"name": "http", "port": 80, "targetPort": 8080}])";
  const std::string good = list({serviceItem("shop", "cart", "10.96.1.1", http),
                                 sliceItem("shop", "cart-1", "cart", "10.244.0.1"),
                                 serviceItem("shop", "pay", "10.96.1.2", http),
                                 sliceItem("shop", "pay-1", "pay", "10.244.0.2")});
  ChangeTracker tracker;
  ASSERT_TRUE(loadServicesFileInto(write(good), tracker, false));
  const auto inForce = tracker.apply().table;
  ASSERT_EQ(inForce->size(), 2u);

  const ServicePortName cart{"shop", "cart", "http", Protocol::Tcp};
  const std::vector<std::pair<const char*, std::string>> refused = {
      {"one other item invalid (port 70000)",
       list({serviceItem("shop", "cart", "10.96.1.1", http), sliceItem("shop", "cart-1", "cart", "10.244.0.1"),
             serviceItem("shop", "pay", "10.96.1.2", R"([{"name": "http", "port": 70000}])")})},
      {"an invalid name", list({serviceItem("shop", "cart", "10.96.1.1", http),
                                serviceItem("a/b", "pay", "10.96.1.2", http)})},
      {"{}", "{}"},
      {"items null", R"({"kind": "List", "items": null})"},
      {"a clash", list({serviceItem("shop", "cart", "10.96.1.1", http),
                        serviceItem("shop", "pay", "10.96.1.1", http)})},
      {"invalid JSON", R"({"kind": "List", "items": [)"},
  };
  for (const auto& [description, text] : refused) {
    SCOPED_TRACE(description);
    EXPECT_FALSE(loadServicesFileInto(write(text), tracker, true));
    EXPECT_FALSE(tracker.hasPendingChanges());
    EXPECT_EQ(tracker.apply().table, inForce);
    EXPECT_THROW(loadServicesFileInto(write(text), tracker, false), std::runtime_error);  // at start-up
  }

  // A good change applies: pay goes, cart stays as it was.
  ASSERT_TRUE(loadServicesFileInto(
      write(list({serviceItem("shop", "cart", "10.96.1.1", http), sliceItem("shop", "cart-1", "cart", "10.244.0.1")})),
      tracker, true));
  const Snapshot snapshot = tracker.apply();
  EXPECT_EQ(snapshot.changed, (ChangedPorts{ServicePortName{"shop", "pay", "http", Protocol::Tcp}}));
  EXPECT_EQ(snapshot.table->ports().at(cart), inForce->ports().at(cart));

  // An explicit empty list is applied.
  ASSERT_TRUE(loadServicesFileInto(write(R"({"kind": "List", "items": []})"), tracker, true));
  EXPECT_EQ(tracker.apply().table->size(), 0u);
}

}  // namespace
}  // namespace nicproxy
