#pragma once
// HTTP(S) requests to the API server with libcurl: TLS as the Connection says,
// bearer token re-read per request (never sent over plain http:// unless the
// Connection allows it), dead-connection detection, a size bound on what is read, and
// a stop flag that aborts a transfer in progress (a watch may otherwise block for minutes).
// One ApiClient per thread (a CURL easy handle is not shared between threads).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "control/k8s/kubeconfig.hpp"

namespace nicproxy::k8s {

struct HttpResult {
  long status = 0;          // HTTP status; 0 when no response came (transport error)
  std::string body;         // the body of a plain request; for a watch, only of a non-200 answer
  std::string error;        // transport error ("Connection refused", "SSL certificate problem..."), else empty
  bool aborted = false;     // the data callback or the stop flag ended the transfer
  bool tooLarge = false;    // a body or a watch event passed maxResponseBytes (see `error`)
};

/// Bounds on one request, in time and in size.
struct ClientTimeouts {
  std::chrono::seconds connect{10};
  /// A plain request (a list page) fails when fewer than 1 byte/s arrive for this long.
  std::chrono::seconds lowSpeedTime{30};
  /// TCP keepalive on watches, whose streams are legitimately idle between events:
  /// probes after `keepaliveIdle`, every `keepaliveInterval`, 3 unanswered -> dead.
  std::chrono::seconds keepaliveIdle{15};
  std::chrono::seconds keepaliveInterval{5};
  /// The largest body of a plain request (a list page, an error Status) and the largest
  /// single event of a watch (one line), counted after gzip decompression. Past it the
  /// transfer is aborted with an error naming the URL and the limit; a watch is not
  /// bounded as a whole, as it legitimately carries any number of events.
  uint64_t maxResponseBytes = uint64_t{256} << 20;
};

class ApiClient {
 public:
  ApiClient(Connection connection, const std::atomic<bool>& stop, ClientTimeouts timeouts = {});
  ~ApiClient();
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  /// GET `pathAndQuery` (starting with '/'); the whole body in the result.
  HttpResult get(const std::string& pathAndQuery);
  /// GET a watch: a 200 answer's body is handed to `onData` as it arrives (return
  /// false to end the transfer); `maxDuration` bounds the whole transfer.
  HttpResult stream(const std::string& pathAndQuery, const std::function<bool(std::string_view)>& onData,
                    std::chrono::seconds maxDuration);

  const Connection& connection() const { return connection_; }

 private:
  HttpResult perform(const std::string& pathAndQuery, const std::function<bool(std::string_view)>* onData,
                     std::chrono::seconds maxDuration);

  Connection connection_;
  const std::atomic<bool>& stop_;
  ClientTimeouts timeouts_;
  struct CurlDeleter {
    void operator()(void* handle) const;
  };
  std::unique_ptr<void, CurlDeleter> curl_;
};

/// "%"-escapes a query value (label selectors hold '!', ',' and '=').
std::string urlEncode(std::string_view text);

}  // namespace nicproxy::k8s
