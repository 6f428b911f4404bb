#pragma once
// What an API request asks for in the terms of Kubernetes RBAC: verb, API group,
// resource, namespace. Read from the method, the path and two query parameters the way
// the API server's RequestInfoFactory does (k8s.io/apiserver/pkg/endpoints/request), so
// that a test can hold a ClusterRole against the requests nicproxy really made.
#include <string>

#include <boost/json/object.hpp>

namespace nicproxy::testing {

struct ApiRequestRecord {
  std::string method, path;      // as received, without the query
  bool resourceRequest = false;  // false: a non-resource URL (/version, /healthz, /api, ...)
  // get, list, watch, create, update, patch, delete, deletecollection; for a non-resource
  // URL the lower-case HTTP method, as RBAC's nonResourceURLs rules name it.
  std::string verb;
  std::string apiGroup;          // "" for the core group (/api/v1)
  std::string apiVersion;
  std::string resource, subresource;
  std::string namespaceName;     // "" for a cluster-wide request
  std::string name;              // from the path, or from fieldSelector=metadata.name=X on list/watch

  boost::json::object toJson() const;
};

/// `watch` and `fieldSelector` are the query parameters of those names ("" when absent).
ApiRequestRecord describeApiRequest(const std::string& method, const std::string& path, const std::string& watch,
                                    const std::string& fieldSelector);

}  // namespace nicproxy::testing
