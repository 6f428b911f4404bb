// Tests: tests/k8s_fake/request_record (describeApiRequest), the fake API server's
// reading of a request as RBAC sees it; the RBAC e2e test (tests/e2e/rbac_test.sh)
// trusts it. Cases from the API server's RequestInfoFactory.
//   FakeRequestRecord.CollectionGetIsListOrWatch   ?watch=true|1 makes a watch; cluster-wide
//   FakeRequestRecord.NamespacedAndNamed           namespace, name, subresource, group
//   FakeRequestRecord.MethodsToVerbs               POST/PUT/PATCH/DELETE; DELETE on a collection
//   FakeRequestRecord.FieldSelectorNamesTheObject  metadata.name=X on a list gives the name
//   FakeRequestRecord.NonResourceUrls              /version, /api, /apis/g/v
#include <gtest/gtest.h>

#include "tests/k8s_fake/request_record.hpp"

namespace nicproxy::testing {
namespace {

TEST(FakeRequestRecord, CollectionGetIsListOrWatch) {
  ApiRequestRecord r = describeApiRequest("GET", "/api/v1/services", "", "");
  EXPECT_TRUE(r.resourceRequest);
  EXPECT_EQ(r.verb, "list");
  EXPECT_EQ(r.apiGroup, "");
  EXPECT_EQ(r.resource, "services");
  EXPECT_EQ(r.namespaceName, "");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/services", "true", "").verb, "watch");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/services", "1", "").verb, "watch");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/services", "false", "").verb, "list");
  r = describeApiRequest("GET", "/apis/discovery.k8s.io/v1/endpointslices", "true", "");
  EXPECT_EQ(r.verb, "watch");
  EXPECT_EQ(r.apiGroup, "discovery.k8s.io");
  EXPECT_EQ(r.apiVersion, "v1");
  EXPECT_EQ(r.resource, "endpointslices");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/watch/services", "", "").verb, "watch");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/watch/services", "", "").resource, "services");
}

TEST(FakeRequestRecord, NamespacedAndNamed) {
  ApiRequestRecord r = describeApiRequest("GET", "/api/v1/namespaces/demo/services/web", "", "");
  EXPECT_EQ(r.verb, "get");
  EXPECT_EQ(r.namespaceName, "demo");
  EXPECT_EQ(r.resource, "services");
  EXPECT_EQ(r.name, "web");
  r = describeApiRequest("GET", "/api/v1/nodes/node-a", "", "");
  EXPECT_EQ(r.verb, "get");
  EXPECT_EQ(r.namespaceName, "");
  EXPECT_EQ(r.resource, "nodes");
  EXPECT_EQ(r.name, "node-a");
  r = describeApiRequest("PATCH", "/apis/events.k8s.io/v1/namespaces/kube-system/events/e1/status", "", "");
  EXPECT_EQ(r.verb, "patch");
  EXPECT_EQ(r.apiGroup, "events.k8s.io");
  EXPECT_EQ(r.namespaceName, "kube-system");
  EXPECT_EQ(r.resource, "events");
  EXPECT_EQ(r.subresource, "status");
  r = describeApiRequest("GET", "/api/v1/namespaces/demo", "", "");  // the namespace object itself
  EXPECT_EQ(r.resource, "namespaces");
  EXPECT_EQ(r.name, "demo");
  EXPECT_EQ(r.verb, "get");
  r = describeApiRequest("PUT", "/api/v1/namespaces/demo/finalize", "", "");
  EXPECT_EQ(r.resource, "namespaces");
  EXPECT_EQ(r.subresource, "finalize");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/namespaces/demo/services", "", "").verb, "list");
}

TEST(FakeRequestRecord, MethodsToVerbs) {
  EXPECT_EQ(describeApiRequest("POST", "/api/v1/namespaces/kube-system/events", "", "").verb, "create");
  EXPECT_EQ(describeApiRequest("PUT", "/api/v1/nodes/n", "", "").verb, "update");
  EXPECT_EQ(describeApiRequest("PATCH", "/api/v1/nodes/n", "", "").verb, "patch");
  EXPECT_EQ(describeApiRequest("DELETE", "/api/v1/nodes/n", "", "").verb, "delete");
  EXPECT_EQ(describeApiRequest("DELETE", "/api/v1/namespaces/x/pods", "", "").verb, "deletecollection");
}

TEST(FakeRequestRecord, FieldSelectorNamesTheObject) {
  ApiRequestRecord r = describeApiRequest("GET", "/api/v1/nodes", "true", "metadata.name=node-a");
  EXPECT_EQ(r.verb, "watch");
  EXPECT_EQ(r.name, "node-a");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/nodes", "", "spec.unschedulable=false,metadata.name==b").name, "b");
  EXPECT_EQ(describeApiRequest("GET", "/api/v1/nodes", "", "spec.unschedulable=false").name, "");
}

TEST(FakeRequestRecord, NonResourceUrls) {
  for (const char* path : {"/version", "/api", "/api/v1", "/apis/discovery.k8s.io/v1", "/healthz"}) {
    const ApiRequestRecord r = describeApiRequest("GET", path, "", "");
    EXPECT_FALSE(r.resourceRequest) << path;
    EXPECT_EQ(r.verb, "get") << path;
    EXPECT_EQ(r.resource, "") << path;
  }
}

}  // namespace
}  // namespace nicproxy::testing
