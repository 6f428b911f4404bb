#pragma once
// kube-proxy's metrics server on metricsBindAddress (default 127.0.0.1:10249):
// GET /metrics, the Prometheus text format 0.0.4 from `sources` (the registry of
// kube-proxy's metrics and the collectables read at scrape time); GET /proxyMode, the
// mode's name as kube-proxy answers it; 404 elsewhere. One thread of its own (see
// http_listener.hpp); `sources` must outlive the server.
#include <memory>
#include <string>

#include "control/bind_address.hpp"
#include "daemon/http_listener.hpp"

namespace prometheus {
class Collectable;
}

namespace nicproxy {

/// kube-proxy's default metrics port (ports.ProxyStatusPort).
constexpr uint16_t kDefaultMetricsPort = 10249;

class MetricsServer {
 public:
  MetricsServer(const BindAddress& address, const prometheus::Collectable& sources, std::string proxyMode,
                std::chrono::milliseconds bindRetry = HttpListener::kBindRetry);

  bool bound() const { return listener_.bound(); }

 private:
  HttpListener listener_;
};

/// The text exposition (format 0.0.4) of everything `sources` holds now.
std::string renderMetrics(const prometheus::Collectable& sources);

}  // namespace nicproxy
