#pragma once
// What the daemon hands every mode so that it can be watched and health-checked as
// kube-proxy is (issue 12): the metrics registry, kube-proxy's sync metrics, the state
// behind /healthz and /livez, and the providers that follow the snapshots beside the
// mode's own (the health-check node ports of eTP Local load balancers).
// The daemon owns every object named here; they outlive the serve loop. Every member
// may be null (empty): unit tests and benchmarks run without them.
#include <vector>

namespace prometheus {
class Registry;
}

namespace nicproxy {

class ProxyMetrics;   // control/proxy_metrics.hpp
class ProxierHealth;  // control/proxier_health.hpp
class ScrapeCollectables;  // control/scrape_collectables.hpp
class Provider;       // control/provider.hpp

struct Observability {
  prometheus::Registry* registry = nullptr;  // where a mode adds its own collectables (the data path's)
  ProxyMetrics* metrics = nullptr;           // kubeproxy_* sync metrics
  ProxierHealth* health = nullptr;           // /healthz and /livez
  /// Collectables read at scrape time that the registry cannot hold (it holds only the
  /// Families it builds): the metrics server exposes registry + collectables.
  ScrapeCollectables* collectables = nullptr;
  /// Synced after the mode's own providers, from the same snapshots. They must not throw
  /// for trouble of their own (a port in use): that is logged and retried by them, so
  /// that it never makes the dataplane's sync count as failed.
  std::vector<Provider*> companions;
};

}  // namespace nicproxy
