#pragma once
// nicproxy's own metrics of the control side (issue 12), beside kube-proxy's
// (proxy_metrics.hpp): the API source's reflector counters and nicproxy_build_info.
//
// ApiSourceMetrics reads ApiSourceCounters (relaxed atomics the reflector threads
// increment) when Prometheus scrapes: nothing is done per event for it. One series per
// resource (services, endpointslices, nodes), never per object, so that the size of a
// scrape does not grow with the cluster.
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace prometheus {
class Registry;
}

namespace nicproxy {

struct ApiSourceCounters;  // control/api_source.hpp

/// nicproxy_api_*_total{resource}: lists, list requests and failures, watches and their
/// failures, events, bookmarks, relists, decode failures, auth failures, conflicts.
/// `counters` must outlive it (the ApiSource does; remove this from the scrape first).
class ApiSourceMetrics : public prometheus::Collectable {
 public:
  explicit ApiSourceMetrics(const ApiSourceCounters& counters) : counters_(counters) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const ApiSourceCounters& counters_;
};

/// nicproxy_build_info{version,mode} 1, as Kubernetes components export their
/// *_build_info: a constant series whose labels say what runs.
void addBuildInfo(prometheus::Registry& registry, const std::string& version, const std::string& mode);

}  // namespace nicproxy
