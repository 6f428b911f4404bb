#pragma once
// Runs a configured cpp-httplib server on its own thread, as kube-proxy runs its metrics
// and health servers: a failure to bind (address in use, address not on this host) is
// logged with the address and the errno text and retried every 5 s, never fatal, so
// that a second nicproxy on the same node (tests run several) keeps working.
// The destructor stops the server and joins the thread: the objects the handlers read
// must outlive the listener.
#include <atomic>
#include <chrono>
#include <condition_variable>
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

  /// True once the socket is bound (tests wait for it).
  bool bound() const { return bound_.load(std::memory_order_acquire); }

 private:
  void run();

  std::string what_;
  BindAddress address_;
  std::chrono::milliseconds bindRetry_;
  std::unique_ptr<httplib::Server> server_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // under mutex_
  std::atomic<bool> bound_{false};
  std::atomic<bool> finished_{false};
  std::thread thread_;  // last: started once every member above exists
};

}  // namespace nicproxy
