#pragma once
// Runs a configured cpp-httplib server on its own thread, as kube-proxy runs its metrics,
// health and health-check node port servers; the one place nicproxy binds an HTTP server.
// - A failure to bind (address in use, address not on this host) is logged with the
//   address and the errno text, once per distinct reason (a port held for hours must not
//   flood the log), and retried every `bindRetry`, never fatal, so that a second nicproxy
//   on the same node (tests run several) keeps working.
// - The socket gets SO_REUSEADDR only, not cpp-httplib's default SO_REUSEPORT: with
//   SO_REUSEPORT a second process of the same user binding the same address:port would
//   silently share it and answer half the probes and scrapes; SO_REUSEADDR alone (what
//   Go's listeners, kube-proxy's, set) still rebinds at once over TIME_WAIT connections.
// - Port 0 binds a port the kernel picks (tests); port() tells which.
// - requestStop() closes the listening socket at once and returns without waiting for
//   connections in progress (a sync closing a health-check node port must not wait for a
//   client's keep-alive); the destructor stops and joins the thread. The objects the
//   handlers read must outlive the listener.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "control/bind_address.hpp"

namespace httplib {
class Server;
}

namespace nicproxy {

class HttpListener {
 public:
  static constexpr std::chrono::seconds kBindRetry{5};

  /// Starts serving `server` (its handlers set) on `address`; `what` names it in logs
  /// ("metrics server"). `bindRetry`: shorter in unit tests only.
  HttpListener(std::string what, BindAddress address, std::unique_ptr<httplib::Server> server,
               std::chrono::milliseconds bindRetry = kBindRetry);
  ~HttpListener();
  HttpListener(const HttpListener&) = delete;
  HttpListener& operator=(const HttpListener&) = delete;

  /// Closes the listening socket (or ends the retries) now; the thread ends once the
  /// connections in progress are answered (finished()). Idempotent.
  void requestStop();
  /// True once the thread has ended (after requestStop()).
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  /// True while the socket is bound (tests wait for it).
  bool bound() const { return port() != 0; }
  /// The port bound (the kernel's pick for port 0); 0 while not bound.
  uint16_t port() const { return boundPort_.load(std::memory_order_acquire); }

 private:
  void run();
  bool stopping();

  std::string what_;
  BindAddress address_;
  std::chrono::milliseconds bindRetry_;
  std::unique_ptr<httplib::Server> server_;
  std::mutex mutex_;  // guards stopping_ and each bind (see requestStop)
  std::condition_variable wake_;
  bool stopping_ = false;
  std::atomic<uint16_t> boundPort_{0};
  std::atomic<bool> finished_{false};
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace nicproxy
