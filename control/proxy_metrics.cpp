#include "control/proxy_metrics.hpp"

#include <string>
#include <vector>

namespace nicproxy {

namespace {

using prometheus::Histogram;

// kube-proxy's sync histograms: metrics.ExponentialBuckets(0.001, 2, 15), 1 ms .. 16.384 s.
Histogram::BucketBoundaries syncBuckets() {
  Histogram::BucketBoundaries buckets;
  double bound = 0.001;
  for (int i = 0; i < 15; ++i, bound *= 2) buckets.push_back(bound);
  return buckets;
}

// kube-proxy's network programming histogram: MergeBuckets(LinearBuckets(0.25, 0.25, 2),
// LinearBuckets(1, 1, 59), LinearBuckets(60, 5, 12), LinearBuckets(120, 30, 7)).
Histogram::BucketBoundaries networkProgrammingBuckets() {
  Histogram::BucketBoundaries buckets{0.25, 0.5};
  for (int i = 0; i < 59; ++i) buckets.push_back(1.0 + i);
  for (int i = 0; i < 12; ++i) buckets.push_back(60.0 + 5 * i);
  for (int i = 0; i < 7; ++i) buckets.push_back(120.0 + 30 * i);
  return buckets;
}

Histogram& histogram(prometheus::Registry& registry, const std::string& name, const std::string& help,
                     const Histogram::BucketBoundaries& buckets) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry).Add({}, buckets);
}

prometheus::Gauge& gauge(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry).Add({});
}

prometheus::Counter& counter(prometheus::Registry& registry, const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

ProxyMetrics::ProxyMetrics(prometheus::Registry& registry)
    : syncProxyRulesDuration(histogram(registry, "kubeproxy_sync_proxy_rules_duration_seconds",
                                       "SyncProxyRules latency in seconds", syncBuckets())),
      syncFullProxyRulesDuration(histogram(registry, "kubeproxy_sync_full_proxy_rules_duration_seconds",
                                           "SyncProxyRules latency in seconds for full resyncs", syncBuckets())),
      syncPartialProxyRulesDuration(histogram(registry, "kubeproxy_sync_partial_proxy_rules_duration_seconds",
                                              "SyncProxyRules latency in seconds for partial resyncs", syncBuckets())),
      syncProxyRulesLastTimestamp(gauge(registry, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                                        "The last time proxy rules were successfully synced")),
      syncProxyRulesLastQueuedTimestamp(gauge(registry, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
                                              "The last time a sync of proxy rules was queued")),
      networkProgrammingDuration(histogram(registry, "kubeproxy_network_programming_duration_seconds",
                                           "In Cluster Network Programming Latency in seconds",
                                           networkProgrammingBuckets())),
      endpointChangesPending(gauge(registry, "kubeproxy_sync_proxy_rules_endpoint_changes_pending",
                                   "Pending proxy rules Endpoint changes")),
      endpointChangesTotal(counter(registry, "kubeproxy_sync_proxy_rules_endpoint_changes_total",
                                   "Cumulative proxy rules Endpoint changes")),
      serviceChangesPending(gauge(registry, "kubeproxy_sync_proxy_rules_service_changes_pending",
                                  "Pending proxy rules Service changes")),
      serviceChangesTotal(counter(registry, "kubeproxy_sync_proxy_rules_service_changes_total",
                                  "Cumulative proxy rules Service changes")),
      noLocalEndpoints(prometheus::BuildGauge()
                           .Name("kubeproxy_sync_proxy_rules_no_local_endpoints_total")
                           .Help("Number of services with a Local traffic policy and no endpoints")
                           .Register(registry)),
      iptablesRestoreFailures(counter(registry, "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
                                      "Cumulative proxy iptables restore failures")),
      iptablesPartialRestoreFailures(counter(registry,
                                             "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
                                             "Cumulative proxy iptables partial restore failures")),
      iptablesRulesTotal(prometheus::BuildGauge()
                             .Name("kubeproxy_sync_proxy_rules_iptables_total")
                             .Help("Total number of iptables rules owned by kube-proxy")
                             .Register(registry)),
      iptablesRulesLast(prometheus::BuildGauge()
                            .Name("kubeproxy_sync_proxy_rules_iptables_last")
                            .Help("Number of iptables rules written by kube-proxy in last sync")
                            .Register(registry)),
      nftablesSyncFailures(counter(registry, "kubeproxy_sync_proxy_rules_nftables_sync_failures_total",
                                   "Cumulative proxy nftables sync failures")),
      nftablesCleanupFailures(counter(registry, "kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total",
                                      "Cumulative proxy nftables cleanup failures")),
      conntrackReconcileDuration(histogram(registry, "kubeproxy_conntrack_reconciler_sync_duration_seconds",
                                           "ReconcileConntrackFlowsLatency latency in seconds", syncBuckets())),
      conntrackReconcileDeleted(counter(registry, "kubeproxy_conntrack_reconciler_deleted_entries_total",
                                        "Cumulative conntrack flows deleted by conntrack reconciler")),
      healthzTotal(prometheus::BuildCounter()
                       .Name("kubeproxy_proxy_healthz_total")
                       .Help("Cumulative proxy healthz HTTP status")
                       .Register(registry)),
      livezTotal(prometheus::BuildCounter()
                     .Name("kubeproxy_proxy_livez_total")
                     .Help("Cumulative proxy livez HTTP status")
                     .Register(registry)) {}

}  // namespace nicproxy
