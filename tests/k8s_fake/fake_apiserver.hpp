#pragma once
// A fake Kubernetes API server for tests: a real HTTPS server (cpp-httplib over
// OpenSSL) on a loopback address that checks a bearer token, serves paged lists of
// Services, EndpointSlices and Nodes, one Node by name, and streams watch events with
// chunked encoding.
// Tests script it: objects are applied and removed (each change is an event with a
// new resourceVersion), history can be compacted (watches from older versions get 410,
// open watches an ERROR event), continue tokens can be expired, raw bytes can be
// written into open watch streams (split events, garbage) and streams can be closed.
//
// With control endpoints on (the standalone fake_apiserver program), the same is
// reachable over HTTPS under /fake/... for shell scripts.
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/value.hpp>

#include "tests/k8s_fake/request_record.hpp"

namespace httplib {
class Server;
}

namespace nicproxy::testing {

struct FakeApiServerOptions {
  std::string certFile, keyFile;  // PEM, for the server's TLS
  std::string token;              // required as "Authorization: Bearer <token>"
  std::string host = "127.0.0.1";
  int port = 0;                   // 0: any free port
  bool controlEndpoints = false;  // serve /fake/* (apply, delete, compact, ...)
};

class FakeApiServer {
 public:
  explicit FakeApiServer(FakeApiServerOptions options);
  ~FakeApiServer();
  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;

  /// Binds and serves on a thread; throws std::runtime_error when it cannot bind.
  /// After stop(), start() again serves the same state on the same port (a restart).
  void start();
  /// Ends every open watch, stops serving, joins.
  void stop();
  int port() const { return port_; }

  // Resources: "services", "endpointslices", "nodes". Objects are keyed by
  // metadata.namespace/metadata.name; apply() sets metadata.resourceVersion.
  uint64_t apply(const std::string& resource, boost::json::value object);  // ADDED or MODIFIED
  uint64_t remove(const std::string& resource, const std::string& namespaceName, const std::string& name);
  uint64_t resourceVersion() const;

  void setToken(std::string token);
  /// Forgets the history: a watch from an older version is answered 410 Gone, and
  /// every open watch gets an ERROR event with a 410 Status and ends.
  void compact();
  /// The next watch request is answered with HTTP 410 (whatever its version).
  void failNextWatchWith410();
  /// Every request for `resource` is answered `status` (0: back to normal).
  void setFailing(const std::string& resource, int status);
  /// The next list request carrying a continue token is answered 410.
  void expireNextContinue();
  /// A BOOKMARK at the current version to every open watch of `resource`.
  void sendBookmark(const std::string& resource);
  /// Each string is written as its own chunk to every open watch of `resource`.
  void sendRaw(const std::string& resource, const std::vector<std::string>& chunks);
  /// Ends every open watch stream (as an API server does at timeoutSeconds).
  void closeWatches();

  size_t openWatches(const std::string& resource) const;
  /// The objects stored now, as a list would return them (no selector).
  std::vector<boost::json::value> objects(const std::string& resource) const;
  uint64_t listRequests(const std::string& resource) const;
  uint64_t watchRequests(const std::string& resource) const;
  uint64_t unauthorizedRequests() const;
  /// Every request's method, path and query, in order ("GET /api/v1/services?limit=500...").
  std::vector<std::string> requests() const;
  /// Every request outside /fake/, in order, as RBAC sees it (verb, group, resource,
  /// namespace); the control endpoint GET /fake/requests serves it as a JSON array.
  std::vector<ApiRequestRecord> apiRequests() const;

  /// One event line as the API server writes it: {"type":..., "object":...}\n.
  static std::string eventLine(const std::string& type, const boost::json::value& object);

 private:
  struct Watch {
    std::string resource;
    std::vector<std::string> chunks;  // waiting to be written
    bool closed = false;
  };
  struct Event {
    uint64_t rv;
    std::string resource, type;
    boost::json::value object;
  };
  void install(httplib::Server& server);
  void installControl(httplib::Server& server);  // fake_apiserver_control.cpp
  void pushToWatches(const std::string& resource, const std::string& chunk);

  FakeApiServerOptions options_;
  int port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, std::map<std::string, boost::json::value>> objects_;  // resource -> key -> object
  std::vector<Event> history_;
  uint64_t rv_ = 1000;
  uint64_t compactedRv_ = 0;
  bool failNextWatch_ = false;
  bool expireNextContinue_ = false;
  bool stopping_ = false;
  std::vector<std::shared_ptr<Watch>> watches_;
  std::map<std::string, uint64_t> lists_, watchCount_;
  uint64_t unauthorized_ = 0;
  std::map<std::string, int> failing_;
  std::vector<std::string> requests_;
  std::vector<ApiRequestRecord> apiRequests_;
};

/// Makes a self-signed CA and a server certificate for 127.0.0.1 with the openssl
/// command-line tool, in `dir`: ca.crt, server.crt, server.key. Throws on failure.
void makeTestCertificates(const std::string& dir);

}  // namespace nicproxy::testing
