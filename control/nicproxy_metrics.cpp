#include "control/nicproxy_metrics.hpp"

#include <atomic>
#include <cstdint>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "control/api_source.hpp"

namespace nicproxy {
namespace {

struct ApiCounterSpec {
  const char* name;
  const char* help;
  std::atomic<uint64_t> k8s::ReflectorCounters::*member;
};

// Every field of k8s::ReflectorCounters, in its order.
constexpr ApiCounterSpec kApiCounters[] = {
    {"nicproxy_api_lists_total", "Complete lists of the resource from the API server (the first and every relist)",
     &k8s::ReflectorCounters::lists},
    {"nicproxy_api_list_requests_total", "List page requests sent to the API server, failed ones included",
     &k8s::ReflectorCounters::listPages},
    {"nicproxy_api_list_failures_total", "List requests that failed (transport error or non-200 answer)",
     &k8s::ReflectorCounters::listFailures},
    {"nicproxy_api_watches_total", "Watch requests sent to the API server", &k8s::ReflectorCounters::watches},
    {"nicproxy_api_watch_failures_total", "Watches that failed (transport error or non-200 answer)",
     &k8s::ReflectorCounters::watchFailures},
    {"nicproxy_api_watch_events_total", "ADDED, MODIFIED and DELETED events handled", &k8s::ReflectorCounters::events},
    {"nicproxy_api_watch_bookmarks_total", "BOOKMARK events received", &k8s::ReflectorCounters::bookmarks},
    {"nicproxy_api_relists_total",
     "Lists started again because the API server no longer had the resourceVersion (410 Gone)",
     &k8s::ReflectorCounters::relists},
    {"nicproxy_api_decode_failures_total",
     "Objects, events or lines that did not decode (the object's last good version stays in force)",
     &k8s::ReflectorCounters::decodeErrors},
    {"nicproxy_api_auth_failures_total", "Requests the API server refused with 401 or 403",
     &k8s::ReflectorCounters::authFailures},
    {"nicproxy_api_conflicts_total", "Objects refused because another Service already has their frontend",
     &k8s::ReflectorCounters::conflicts},
};

}  // namespace

std::vector<prometheus::MetricFamily> ApiSourceMetrics::Collect() const {
  const std::pair<const char*, const k8s::ReflectorCounters*> resources[] = {
      {"services", &counters_.services}, {"endpointslices", &counters_.endpointSlices}, {"nodes", &counters_.node}};
  std::vector<prometheus::MetricFamily> families;
  families.reserve(std::size(kApiCounters));
  for (const ApiCounterSpec& spec : kApiCounters) {
    prometheus::MetricFamily family{spec.name, spec.help, prometheus::MetricType::Counter, {}};
    for (const auto& [resource, counters] : resources) {
      prometheus::ClientMetric metric;
      metric.label = {{"resource", resource}};
      // Relaxed: each counter is a count of its own; no other memory is read through it.
      metric.counter.value = static_cast<double>((counters->*spec.member).load(std::memory_order_relaxed));
      family.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(family));
  }
  return families;
}

void addBuildInfo(prometheus::Registry& registry, const std::string& version, const std::string& mode) {
  prometheus::BuildGauge()
      .Name("nicproxy_build_info")
      .Help("A metric with a constant '1' value labeled by the nicproxy version and the proxy mode it runs")
      .Register(registry)
      .Add({{"version", version}, {"mode", mode}})
      .Set(1);
}

}  // namespace nicproxy
