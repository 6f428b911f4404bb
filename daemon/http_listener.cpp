#include "daemon/http_listener.hpp"

#include <cerrno>
#include <cstring>

#include <httplib.h>
#include <spdlog/spdlog.h>

namespace nicproxy {

HttpListener::HttpListener(std::string what, BindAddress address, std::unique_ptr<httplib::Server> server,
                           std::chrono::milliseconds bindRetry)
    : what_(std::move(what)),
      address_(std::move(address)),
      bindRetry_(bindRetry),
      server_(std::move(server)),
      thread_([this] { run(); }) {}

HttpListener::~HttpListener() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  // httplib's stop() only acts on a server already inside its accept loop; the thread
  // may be between bind and listen, so ask again until it has left.
  while (!finished_.load(std::memory_order_acquire)) {
    server_->stop();
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, std::chrono::milliseconds(5));
  }
  thread_.join();
}

void HttpListener::run() {
  const std::string where = formatBindAddress(address_);
  while (true) {
    {
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    errno = 0;
    if (server_->bind_to_port(address_.host, address_.port)) {
      bound_.store(true, std::memory_order_release);
      spdlog::info("{} listening on {}", what_, where);
      const bool clean = server_->listen_after_bind();
      bound_.store(false, std::memory_order_release);
      const std::lock_guard lock(mutex_);
      if (stopping_) break;
      spdlog::error("{} on {} stopped accepting ({}); listening again in {:g} s", what_, where,
                    clean ? "no error" : std::strerror(errno), bindRetry_.count() / 1000.0);
    } else {
      const int error = errno;
      spdlog::error("{} cannot listen on {}: {}; retrying every {:g} s", what_, where,
                    error != 0 ? std::strerror(error) : "bind failed", bindRetry_.count() / 1000.0);
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, bindRetry_, [this] { return stopping_; });
  }
  finished_.store(true, std::memory_order_release);
}

}  // namespace nicproxy
