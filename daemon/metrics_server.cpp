#include "daemon/metrics_server.hpp"

#include <iterator>
#include <sstream>

#include <httplib.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace nicproxy {

namespace {

constexpr const char* kTextFormat = "text/plain; version=0.0.4; charset=utf-8";
// A scrape is one short request; two threads let a second scraper (or a slow client)
// not wait for the first, without httplib's default of one thread per core.
constexpr size_t kServerThreads = 2;

std::unique_ptr<httplib::Server> metricsHandlers(MetricsServer::Sources sources, std::string proxyMode) {
  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  server->Get("/metrics", [sources = std::move(sources)](const httplib::Request&, httplib::Response& response) {
    response.set_content(renderMetrics(sources), kTextFormat);
  });
  // kube-proxy answers the mode it runs in here (some tools and e2e suites read it).
  server->Get("/proxyMode", [mode = std::move(proxyMode)](const httplib::Request&, httplib::Response& response) {
    response.set_content(mode, "text/plain; charset=utf-8");
  });
  return server;
}

}  // namespace

std::string renderMetrics(const MetricsServer::Sources& sources) {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* source : sources) {
    std::vector<prometheus::MetricFamily> more = source->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return std::move(out).str();
}

MetricsServer::MetricsServer(const BindAddress& address, Sources sources, std::string proxyMode,
                             std::chrono::milliseconds bindRetry)
    : listener_("metrics server", address, metricsHandlers(std::move(sources), std::move(proxyMode)), bindRetry) {}

}  // namespace nicproxy
