#include "daemon/health_server.hpp"

#include <httplib.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"

namespace nicproxy {

namespace {

constexpr std::chrono::seconds kBindRetry{5};  // kube-proxy retries its health server this often

const char* boolText(bool value) { return value ? "true" : "false"; }

// "IP:port" or "[IPv6]:port" into host and port; throws naming the address.
std::pair<std::string, int> splitHostPort(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    throw std::invalid_argument("healthzBindAddress " + address + ": not IP:port");
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  try {
    size_t used = 0;
    port = std::stoi(address.substr(colon + 1), &used);
    if (used != address.size() - colon - 1) port = -1;
  } catch (const std::exception&) {
    port = -1;
  }
  if (port < 0 || port > 65535) throw std::invalid_argument("healthzBindAddress " + address + ": bad port");
  return {host, port};
}

// kube-proxy answers a healthy probe with lastUpdated = currentTime (what older releases
// meant by it), an unhealthy one with the time of the last completed sync.
std::string lastUpdatedText(const ProxierHealth::Status& status, bool healthy, ProxierHealth::Clock::time_point now) {
  return goTimeString(healthy ? now : status.lastUpdated);
}

void setHeaders(httplib::Response& res, const HealthAnswer& answer) {
  res.status = answer.status;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_content(answer.body, "application/json");
}

}  // namespace

std::string goTimeString(ProxierHealth::Clock::time_point time) {
  if (time == ProxierHealth::Clock::time_point{}) return "0001-01-01 00:00:00 +0000 UTC";
  const auto sinceEpoch = std::chrono::duration_cast<std::chrono::nanoseconds>(time.time_since_epoch());
  const auto seconds = std::chrono::floor<std::chrono::seconds>(sinceEpoch);
  const auto nanos = (sinceEpoch - seconds).count();
  const std::time_t t = seconds.count();
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &utc);
  std::string out = text;
  if (nanos != 0) {  // Go's .999999999: trailing zeros dropped
    std::string fraction = fmt::format("{:09d}", nanos);
    fraction.erase(fraction.find_last_not_of('0') + 1);
    out += "." + fraction;
  }
  return out + " +0000 UTC";
}

HealthAnswer healthzAnswer(const ProxierHealth::Status& status, bool nodeEligible, ProxierHealth::Clock::time_point now) {
  const bool healthy = status.healthy && nodeEligible;
  // kube-proxy's exact text, spacing included.
  return {healthy ? 200 : 503,
          fmt::format(R"({{"lastUpdated": "{}","currentTime": "{}", "nodeEligible": {}}})",
                      lastUpdatedText(status, healthy, now), goTimeString(now), boolText(nodeEligible))};
}

HealthAnswer livezAnswer(const ProxierHealth::Status& status, ProxierHealth::Clock::time_point now) {
  return {status.healthy ? 200 : 503, fmt::format(R"({{"lastUpdated": "{}","currentTime": "{}"}})",
                                                  lastUpdatedText(status, status.healthy, now), goTimeString(now))};
}

HealthServer::HealthServer(std::string bindAddress, ProxierHealth& health, ProxyMetrics* metrics)
    : address_(std::move(bindAddress)), health_(health), metrics_(metrics), server_(std::make_unique<httplib::Server>()) {
  std::tie(host_, port_) = splitHostPort(address_);
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };  // probes are few and cheap
  server_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    const auto now = ProxierHealth::Clock::now();
    const ProxierHealth::Status status = health_.status(now);
    const HealthAnswer answer = healthzAnswer(status, health_.nodeEligible(), now);
    logChange(status);
    if (metrics_ != nullptr) metrics_->healthzTotal.Add({{"code", std::to_string(answer.status)}}).Increment();
    setHeaders(res, answer);
  });
  server_->Get("/livez", [this](const httplib::Request&, httplib::Response& res) {
    const auto now = ProxierHealth::Clock::now();
    const ProxierHealth::Status status = health_.status(now);
    const HealthAnswer answer = livezAnswer(status, now);
    logChange(status);
    if (metrics_ != nullptr) metrics_->livezTotal.Add({{"code", std::to_string(answer.status)}}).Increment();
    setHeaders(res, answer);
  });
  // Go's mux answers other paths so; cpp-httplib's 404 has no body.
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404) res.set_content("404 page not found\n", "text/plain; charset=utf-8");
  });
}

HealthServer::~HealthServer() { stop(); }

void HealthServer::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void HealthServer::run() {
  std::string lastError;
  while (true) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    errno = 0;
    const int port = port_ == 0 ? server_->bind_to_any_port(host_) : (server_->bind_to_port(host_, port_) ? port_ : -1);
    if (port > 0) {
      boundPort_.store(port);
      spdlog::info("serving /healthz and /livez on {}:{} (health timeout {} s)", host_, port,
                   health_.healthTimeout().count() / 1000.0);
      lastError.clear();
      server_->listen_after_bind();  // until stop()
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      spdlog::error("the /healthz server on {} stopped; starting it again in {} s", address_, kBindRetry.count());
    } else {
      const std::string error = errno != 0 ? std::strerror(errno) : "cannot bind";
      // Once per distinct reason: a port held for hours must not flood the log.
      if (error != lastError) {
        spdlog::error("cannot serve /healthz and /livez on {}: {}; retrying every {} s", address_, error,
                      kBindRetry.count());
        lastError = error;
      }
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, kBindRetry, [this] { return stopping_; });
  }
  finished_.store(true);
}

void HealthServer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  // cpp-httplib's stop() only ends a server that already listens: the thread may be
  // between its bind and its listen, so wait for one or the other.
  while (!finished_.load()) {
    if (server_->is_running()) {
      server_->stop();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
}

void HealthServer::logChange(const ProxierHealth::Status& status) {
  std::string problems;
  for (const std::string& problem : status.problems) problems += (problems.empty() ? "" : "; ") + problem;
  std::lock_guard lock(mutex_);
  if (problems == lastProblems_) return;
  if (problems.empty()) {
    spdlog::info("/healthz and /livez: healthy again");
  } else {
    spdlog::warn("/healthz and /livez answer 503: {}", problems);
  }
  lastProblems_ = std::move(problems);
}

}  // namespace nicproxy
