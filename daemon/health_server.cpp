#include "daemon/health_server.hpp"

#include <httplib.h>

#include <ctime>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "control/proxy_metrics.hpp"

namespace nicproxy {

namespace {

const char* boolText(bool value) { return value ? "true" : "false"; }

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

HealthServer::HealthServer(BindAddress address, ProxierHealth& health, ProxyMetrics* metrics,
                           std::chrono::milliseconds bindRetry)
    : address_(std::move(address)),
      bindRetry_(bindRetry),
      health_(health),
      metrics_(metrics),
      server_(std::make_unique<httplib::Server>()) {
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
  if (listener_ || !server_) return;  // serving already, or stopped for good
  spdlog::info("/healthz and /livez: health timeout {} s", health_.healthTimeout().count() / 1000.0);
  listener_ = std::make_unique<HttpListener>("/healthz and /livez server", address_, std::move(server_), bindRetry_);
}

void HealthServer::stop() { listener_.reset(); }

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
