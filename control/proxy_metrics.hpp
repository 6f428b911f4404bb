#pragma once
// kube-proxy's metrics (pkg/proxy/metrics in Kubernetes), with kube-proxy's names, types,
// help texts, label sets and histogram buckets, so that dashboards and alerts built for
// kube-proxy work unchanged. Every member lives in the registry given to the constructor.
// Thread-safe: prometheus-cpp's counters, gauges and histograms are (atomics and, for
// histograms, a mutex); they are updated by the control thread and the HTTP threads,
// never by a worker lcore.
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace nicproxy {

class ProxyMetrics {
 public:
  explicit ProxyMetrics(prometheus::Registry& registry);
  ProxyMetrics(const ProxyMetrics&) = delete;
  ProxyMetrics& operator=(const ProxyMetrics&) = delete;

  // The sync loop (control/sync_runner.cpp, control/change_tracker.cpp).
  prometheus::Histogram& syncProxyRulesDuration;         // kubeproxy_sync_proxy_rules_duration_seconds
  prometheus::Histogram& syncFullProxyRulesDuration;     // kubeproxy_sync_full_proxy_rules_duration_seconds
  prometheus::Histogram& syncPartialProxyRulesDuration;  // kubeproxy_sync_partial_proxy_rules_duration_seconds
  prometheus::Gauge& syncProxyRulesLastTimestamp;        // kubeproxy_sync_proxy_rules_last_timestamp_seconds
  prometheus::Gauge& syncProxyRulesLastQueuedTimestamp;  // kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds
  prometheus::Histogram& networkProgrammingDuration;     // kubeproxy_network_programming_duration_seconds
  prometheus::Gauge& endpointChangesPending;             // kubeproxy_sync_proxy_rules_endpoint_changes_pending
  prometheus::Counter& endpointChangesTotal;             // kubeproxy_sync_proxy_rules_endpoint_changes_total
  prometheus::Gauge& serviceChangesPending;              // kubeproxy_sync_proxy_rules_service_changes_pending
  prometheus::Counter& serviceChangesTotal;              // kubeproxy_sync_proxy_rules_service_changes_total
  prometheus::Family<prometheus::Gauge>& noLocalEndpoints;  // kubeproxy_sync_proxy_rules_no_local_endpoints_total{traffic_policy}

  // The kernel dataplanes (drivers/).
  prometheus::Counter& iptablesRestoreFailures;           // kubeproxy_sync_proxy_rules_iptables_restore_failures_total
  prometheus::Counter& iptablesPartialRestoreFailures;    // kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total
  prometheus::Family<prometheus::Gauge>& iptablesRulesTotal;  // kubeproxy_sync_proxy_rules_iptables_total{table}
  prometheus::Family<prometheus::Gauge>& iptablesRulesLast;   // kubeproxy_sync_proxy_rules_iptables_last{table}
  prometheus::Counter& nftablesSyncFailures;              // kubeproxy_sync_proxy_rules_nftables_sync_failures_total
  prometheus::Counter& nftablesCleanupFailures;           // kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total
  prometheus::Histogram& conntrackReconcileDuration;      // kubeproxy_conntrack_reconciler_sync_duration_seconds
  prometheus::Counter& conntrackReconcileDeleted;         // kubeproxy_conntrack_reconciler_deleted_entries_total

  // The health endpoints (daemon/).
  prometheus::Family<prometheus::Counter>& healthzTotal;  // kubeproxy_proxy_healthz_total{code}
  prometheus::Family<prometheus::Counter>& livezTotal;    // kubeproxy_proxy_livez_total{code}
};

}  // namespace nicproxy
