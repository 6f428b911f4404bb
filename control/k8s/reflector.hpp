#pragma once
// A reflector for one resource, modelled on client-go's: list in pages, then watch
// from the list's resourceVersion; on 410 Gone (HTTP status, ERROR event, or an
// expired continue token) list again; when a watch ends, watch again from the last
// resourceVersion seen (bookmarks advance it). Errors back off exponentially with
// jitter; a success resets the backoff.
//
// Threads: run() on its own thread (start()); the handler is called on that thread.
// Counters are atomics any thread may read.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/value.hpp>

#include "control/k8s/api_client.hpp"
#include "control/k8s/backoff.hpp"
#include "control/k8s/watch_stream.hpp"

namespace nicproxy::k8s {

/// What a metrics endpoint reads per resource. relaxed atomics: independent counts.
struct ReflectorCounters {
  std::atomic<uint64_t> lists{0};          // complete lists (first or relist)
  std::atomic<uint64_t> listPages{0};      // page requests, failed ones included
  std::atomic<uint64_t> listFailures{0};
  std::atomic<uint64_t> watches{0};        // watch requests
  std::atomic<uint64_t> watchFailures{0};  // transport errors and non-200 answers
  std::atomic<uint64_t> events{0};         // ADDED / MODIFIED / DELETED handled
  std::atomic<uint64_t> bookmarks{0};
  std::atomic<uint64_t> relists{0};        // 410 Gone: status, ERROR event or expired continue
  std::atomic<uint64_t> decodeErrors{0};   // bad lines, bad events, bad objects
  std::atomic<uint64_t> authFailures{0};   // 401 / 403
  std::atomic<uint64_t> conflicts{0};      // objects refused for a frontend another Service has
};

class ReflectorHandler {
 public:
  virtual ~ReflectorHandler() = default;
  /// A complete list: it replaces everything handed over before.
  virtual void onList(std::vector<boost::json::value>&& items) = 0;
  /// ADDED, MODIFIED or DELETED (bookmarks and errors stay inside the reflector).
  virtual void onEvent(WatchEventType type, boost::json::value&& object) = 0;
};

struct ReflectorOptions {
  std::string resource;        // "services", for messages
  std::string path;            // "/api/v1/services"
  std::string labelSelector;   // kube-proxy's, e.g. "!service.kubernetes.io/headless"
  std::string fieldSelector;   // "metadata.name=node-a" for this node
  uint32_t pageSize = 500;     // client-go's default page size
  std::chrono::seconds watchTimeout{300};  // timeoutSeconds; the server ends the watch after it
  std::chrono::milliseconds backoffInitial{800};
  std::chrono::milliseconds backoffMax{30000};
  ClientTimeouts timeouts;
};

class Reflector {
 public:
  Reflector(Connection connection, ReflectorOptions options, ReflectorHandler& handler, ReflectorCounters& counters);
  ~Reflector();  // stops and joins
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  /// Ends a transfer in progress and any backoff wait; joins the thread.
  void stop();

  /// The resourceVersion the next watch would start from (empty before the first list).
  std::string lastResourceVersion() const;

 private:
  enum class WatchOutcome { Ended, EndedEarly, Relist, Failed };
  void run();
  bool listAll();
  WatchOutcome watchOnce();
  void reportFailure(const char* what, const HttpResult& result);
  void sleepFor(std::chrono::milliseconds delay);
  std::string selectors() const;
  void setResourceVersion(std::string rv);

  ReflectorOptions options_;
  ReflectorHandler& handler_;
  ReflectorCounters& counters_;
  std::atomic<bool> stop_{false};
  ApiClient client_;
  Backoff backoff_;
  bool authReported_ = false;  // a 401/403 streak is logged as an error once
  bool failureReported_ = false;
  mutable std::mutex mutex_;   // guards resourceVersion_ and the stop wait
  std::condition_variable wake_;
  std::string resourceVersion_;
  std::thread thread_;
};

/// metadata.resourceVersion of an object, or empty.
std::string resourceVersionOf(const boost::json::value& object);
/// The message and code of a Status body ({"kind": "Status", "code": 410, ...}), or
/// the start of the body when it is not a Status.
std::string statusMessage(const std::string& body);

}  // namespace nicproxy::k8s
