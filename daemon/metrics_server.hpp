#pragma once
// kube-proxy's metrics server on metricsBindAddress (default 127.0.0.1:10249):
// GET /metrics, the Prometheus text format 0.0.4 from `sources` in order (the registry
// of kube-proxy's metrics, then the collectables read at scrape time); GET /proxyMode,
// the mode's name as kube-proxy answers it; 404 elsewhere. One thread of its own (see
// http_listener.hpp); what `sources` points to must outlive the server.
#include <memory>
#include <string>
#include <vector>

#include "control/bind_address.hpp"
#include "daemon/http_listener.hpp"

namespace prometheus {
class Collectable;
}

namespace nicproxy {

class MetricsServer {
 public:
  using Sources = std::vector<const prometheus::Collectable*>;
  MetricsServer(const BindAddress& address, Sources sources, std::string proxyMode,
                std::chrono::milliseconds bindRetry = HttpListener::kBindRetry);

  bool bound() const { return listener_.bound(); }

 private:
  HttpListener listener_;
};

/// The text exposition (format 0.0.4) of everything `sources` hold now, in order.
std::string renderMetrics(const MetricsServer::Sources& sources);

}  // namespace nicproxy
