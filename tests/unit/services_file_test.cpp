// Tests: control/services_file (parseServicesList, loadServicesFile).
//   ServicesFile.MixedListWithBadItem     good items load; the bad one is reported with its name and field
//   ServicesFile.SkippedItemsWarn         other kinds, headless services, IPv6 slices, old apiVersions
//   ServicesFile.SingleObjectAndTypedList a lone Service; a ServiceList whose items have no kind
//   ServicesFile.UnreadableInput          invalid JSON, not an object, items not an array, missing file
#include <gtest/gtest.h>

#include <filesystem>

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
  EXPECT_EQ(contents.errors, Strings{"item 1: Service shop/broken: spec.ports[1].port: 70000 is not a valid port"});
  EXPECT_EQ(contents.warnings, Strings{"item 3: skipping kind ConfigMap default/foo"});
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
            (Strings{"item 0: skipping headless or ExternalName Service db/pg",
                     "item 1: skipping EndpointSlice default/web-v6: addressType IPv6 (nicproxy is IPv4-only)",
                     "item 2: skipping EndpointSlice default/old: apiVersion discovery.k8s.io/v1beta1 is not supported",
                     "item 3: skipping kind Endpoints default/web"}));
  EXPECT_EQ(contents.errors,
            (Strings{R"(item 4: expected an object, got "not an object")",
                     "item 5: EndpointSlice default/lost: metadata.labels: missing kubernetes.io/service-name "
                     "(the slice's service)"}));
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

  const auto empty = parseServicesList(R"({"kind": "List", "items": []})");
  EXPECT_FALSE(empty.unreadable);
  EXPECT_TRUE(empty.errors.empty() && empty.warnings.empty() && empty.services.empty());
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

}  // namespace
}  // namespace nicproxy
