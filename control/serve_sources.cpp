// The two sources of the serve loop (serve_loop.hpp): a services file and an API server.
#include <thread>

#include <spdlog/spdlog.h>

#include "control/api_source.hpp"
#include "control/nicproxy_metrics.hpp"
#include "control/scrape_collectables.hpp"
#include "control/serve_loop.hpp"
#include "control/services_file.hpp"

namespace nicproxy {

namespace {

class ServicesFileSource : public ServeSource {
 public:
  explicit ServicesFileSource(std::filesystem::path path) : path_(std::move(path)) {}
  void start(ChangeTracker& tracker) override { loadServicesFileInto(path_, tracker, false); }
  bool ready() const override { return true; }
  void reload(ChangeTracker& tracker) override {
    spdlog::info("SIGHUP: reloading {}", path_.string());
    loadServicesFileInto(path_, tracker, true);
  }
  void drainInto(ChangeTracker&) override {}
  void waitUntil(Clock::time_point deadline) override { std::this_thread::sleep_until(deadline); }
  void stop() override {}

 private:
  std::filesystem::path path_;
};

class ApiServerSource : public ServeSource {
 public:
  ApiServerSource(std::unique_ptr<ApiSource> source, ScrapeCollectables* collectables)
      : source_(std::move(source)), metrics_(source_->counters()), collectables_(collectables) {
    if (collectables_ != nullptr) collectables_->add(&metrics_);
  }
  // Off the scrape before the counters it reads go (remove() waits out a scrape).
  ~ApiServerSource() override {
    if (collectables_ != nullptr) collectables_->remove(&metrics_);
  }
  ApiServerSource(const ApiServerSource&) = delete;
  ApiServerSource& operator=(const ApiServerSource&) = delete;
  void start(ChangeTracker&) override { source_->start(); }
  bool ready() const override { return source_->synced(); }
  void reload(ChangeTracker&) override {
    spdlog::info("SIGHUP: nothing to reload, the services come from the API server");
  }
  void drainInto(ChangeTracker& tracker) override { source_->drainInto(tracker); }
  void waitUntil(Clock::time_point deadline) override { source_->waitForUpdates(deadline); }
  void stop() override { source_->stop(); }
  void setNodeListener(std::function<void(const NodeInfo&)> listener) override {
    source_->setNodeListener(std::move(listener));
  }
  const ApiSource* api() const override { return source_.get(); }

 private:
  std::unique_ptr<ApiSource> source_;
  ApiSourceMetrics metrics_;
  ScrapeCollectables* collectables_;
};

}  // namespace

std::unique_ptr<ServeSource> makeServicesFileSource(std::filesystem::path path) {
  return std::make_unique<ServicesFileSource>(std::move(path));
}

std::unique_ptr<ServeSource> makeApiServerSource(std::unique_ptr<ApiSource> source,
                                                 ScrapeCollectables* collectables) {
  return std::make_unique<ApiServerSource>(std::move(source), collectables);
}

std::unique_ptr<ServeSource> makeServeSource(const Config& config, ScrapeCollectables* collectables) {
  if (!config.usesApiServer()) return makeServicesFileSource(config.servicesFile);
  k8s::ConnectionResult connection = k8s::resolveConnection(config.clientConnection.kubeconfig);
  if (!connection.connection) throw std::runtime_error(connection.error);
  spdlog::info("following the API server {} ({}, {})", connection.connection->server, connection.connection->origin,
               connection.connection->describeCredentials());
  ApiSourceOptions options;
  options.nodeName = config.nodeName;
  options.serviceProxyName = config.serviceProxyName;
  options.tuning.timeouts.maxResponseBytes = config.clientConnection.maxResponseBytes;
  return makeApiServerSource(std::make_unique<ApiSource>(std::move(*connection.connection), std::move(options)),
                             collectables);
}

}  // namespace nicproxy
