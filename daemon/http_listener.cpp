#include "daemon/http_listener.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <httplib.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

HttpListener::HttpListener(std::string what, BindAddress address, std::unique_ptr<httplib::Server> server,
                           std::chrono::milliseconds bindRetry)
    : what_(std::move(what)), address_(std::move(address)), bindRetry_(bindRetry), server_(std::move(server)) {
  // SO_REUSEADDR only, instead of httplib's SO_REUSEPORT: a second owner of the
  // address:port (another nicproxy) must fail to bind, not share the port (see the header).
  server_->set_socket_options([](int fd) {
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  thread_ = std::thread([this] { run(); });
}

HttpListener::~HttpListener() {
  requestStop();
  thread_.join();
}

void HttpListener::requestStop() {
  {
    const std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  // httplib's stop() does nothing until listen_after_bind() has marked the server running,
  // and must be called once only (it asserts the socket is still open). Binds happen under
  // mutex_, so from here the thread binds no more; one that has bound is running within
  // microseconds, one that has not ends: wait for either, then close the socket.
  while (!finished() && !server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!finished()) server_->stop();
}

bool HttpListener::stopping() {
  const std::lock_guard lock(mutex_);
  return stopping_;
}

void HttpListener::run() {
  const std::string where = formatBindAddress(address_);
  const double retrySeconds = static_cast<double>(bindRetry_.count()) / 1000.0;
  int lastError = 0;  // the reason last logged; 0 when the last bind succeeded
  while (true) {
    int port = -1;
    int error = 0;
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
      errno = 0;
      if (address_.port == 0) {
        port = server_->bind_to_any_port(address_.host);
      } else if (server_->bind_to_port(address_.host, address_.port)) {
        port = address_.port;
      }
      error = errno;
    }
    if (port > 0) {
      lastError = 0;
      boundPort_.store(static_cast<uint16_t>(port), std::memory_order_release);
      spdlog::info("{} listening on {}", what_, formatBindAddress({address_.host, static_cast<uint16_t>(port)}));
      errno = 0;
      const bool clean = server_->listen_after_bind();  // until requestStop()
      const int listenError = errno;
      boundPort_.store(0, std::memory_order_release);
      if (stopping()) break;
      spdlog::error("{} on {} stopped accepting ({}); listening again in {:g} s", what_, where,
                    clean || listenError == 0 ? "no error" : std::strerror(listenError), retrySeconds);
    } else if ((error != 0 ? error : -1) != lastError) {
      lastError = error != 0 ? error : -1;
      spdlog::error("{} cannot listen on {}: {}; retrying every {:g} s", what_, where,
                    error != 0 ? std::strerror(error) : "bind failed", retrySeconds);
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, bindRetry_, [this] { return stopping_; })) break;
  }
  finished_.store(true, std::memory_order_release);
}

}  // namespace nicproxy
