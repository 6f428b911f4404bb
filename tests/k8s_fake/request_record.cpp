#include "tests/k8s_fake/request_record.hpp"

#include <algorithm>
#include <cctype>
#include <vector>

namespace nicproxy::testing {
namespace {

std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Go's strconv.ParseBool, which the API server uses to decode ?watch=.
bool truthy(const std::string& v) { return v == "1" || v == "t" || v == "T" || v == "true" || v == "TRUE" || v == "True"; }

// The name a field selector pins, as fields.Selector.RequiresExactMatch("metadata.name").
std::string nameFromFieldSelector(const std::string& selector) {
  size_t start = 0;
  while (start <= selector.size()) {
    size_t comma = selector.find(',', start);
    if (comma == std::string::npos) comma = selector.size();
    const std::string term = selector.substr(start, comma - start);
    for (const std::string prefix : {"metadata.name==", "metadata.name="}) {
      if (term.rfind(prefix, 0) == 0) return term.substr(prefix.size());
    }
    start = comma + 1;
  }
  return {};
}

std::string verbOfMethod(const std::string& method) {
  if (method == "POST") return "create";
  if (method == "GET" || method == "HEAD") return "get";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return lower(method);
}

}  // namespace

boost::json::object ApiRequestRecord::toJson() const {
  return {{"method", method},     {"path", path},           {"resourceRequest", resourceRequest},
          {"verb", verb},         {"apiGroup", apiGroup},   {"apiVersion", apiVersion},
          {"resource", resource}, {"subresource", subresource}, {"namespace", namespaceName},
          {"name", name}};
}

ApiRequestRecord describeApiRequest(const std::string& method, const std::string& path, const std::string& watch,
                                    const std::string& fieldSelector) {
  ApiRequestRecord r;
  r.method = method;
  r.path = path;
  r.verb = lower(method);  // stays so for a non-resource URL
  std::vector<std::string> parts = segments(path);
  // /api/v1/<rest> (the core group) or /apis/<group>/<version>/<rest>, with <rest> not
  // empty; anything else (/version, /api, /apis/g/v) is a non-resource URL.
  size_t restAt = 0;
  if (parts.size() >= 3 && parts[0] == "api") {
    r.apiVersion = parts[1];
    restAt = 2;
  } else if (parts.size() >= 4 && parts[0] == "apis") {
    r.apiGroup = parts[1];
    r.apiVersion = parts[2];
    restAt = 3;
  } else {
    return r;
  }
  r.resourceRequest = true;
  std::vector<std::string> rest(parts.begin() + static_cast<long>(restAt), parts.end());
  r.verb = verbOfMethod(method);
  // The deprecated /api/v1/watch/... form.
  if (rest.size() >= 2 && rest[0] == "watch" && r.verb == "get") {
    r.verb = "watch";
    rest.erase(rest.begin());
  }
  // namespaces/<ns>/<resource>/...; namespaces/<ns> and its own subresources (status,
  // finalize) are the namespace object itself.
  if (rest[0] == "namespaces" && rest.size() >= 2) {
    r.namespaceName = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize") rest.erase(rest.begin(), rest.begin() + 2);
  }
  r.resource = rest[0];
  if (rest.size() >= 2) r.name = rest[1];
  if (rest.size() >= 3) r.subresource = rest[2];
  // A watch query parameter makes any GET a watch (the brief's rule; the API server
  // itself only looks at it on a collection).
  if (r.verb == "get" && truthy(watch)) r.verb = "watch";
  if (r.name.empty()) {
    if (r.verb == "get") r.verb = "list";
    if (r.verb == "list" || r.verb == "watch") r.name = nameFromFieldSelector(fieldSelector);
    if (r.verb == "delete") r.verb = "deletecollection";
  }
  return r;
}

}  // namespace nicproxy::testing
