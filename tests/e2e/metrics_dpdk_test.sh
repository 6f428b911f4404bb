#!/usr/bin/env bash
# metrics_dpdk_test.sh: a real Prometheus (Debian's) scraping nicproxy in DPDK mode.
#
# Topology (scripts/netns_topology.sh, as dpdk_services_test.sh): client 10.50.0.100,
# backends 10.50.0.11-13, nicproxy on the node veth through net_af_packet answering for
# 10.50.0.1. nicproxy serves /metrics on its default metricsBindAddress 127.0.0.1:10249
# inside the node namespace; Prometheus runs in the same namespace (127.0.0.1:9090, its
# TSDB in the test's temp dir) and scrapes it every second. Every check goes through
# Prometheus's HTTP API (/api/v1/targets, /api/v1/query), as a dashboard would see it.
# Services: tests/e2e/e2e-services.json (web 10.96.0.10:80 -> 3 backends).
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
# Root only. Traffic stays inside the namespaces this script creates.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"

PREFIX="npm$$"
WORK=$(mktemp -d /tmp/nicproxy-metrics-dpdk.XXXXXX)
LOG="$WORK/nicproxy.log"
PROM_PID=""

stop_prometheus() {
    if [[ -n $PROM_PID ]]; then
        kill "$PROM_PID" 2>/dev/null
        wait "$PROM_PID" 2>/dev/null
        PROM_PID=""
    fi
}
# Prometheus first: it lives in the node namespace that the harness's cleanup removes.
e2e_before_cleanup() { stop_prometheus; }
e2e_install_traps

in_node() { h_in_ns "$PREFIX" node "$@"; }
in_client() { h_in_ns "$PREFIX" client "$@"; }

# prom_query EXPR: the value of the first sample of an instant query, empty when none.
prom_query() {
    in_node curl -sS --max-time 3 --data-urlencode "query=$1" http://127.0.0.1:9090/api/v1/query 2>/dev/null |
        python3 -c '
import json, sys
try:
    result = json.load(sys.stdin)["data"]["result"]
    print(result[0]["value"][1] if result else "")
except Exception:
    print("")'
}

# wait_query EXPR CONDITION SECS: polls until the value satisfies the awk CONDITION on v
# (e.g. "v > 3"); prints the last value; returns 1 on timeout.
wait_query() {
    local expr=$1 cond=$2 secs=$3 v deadline
    deadline=$((SECONDS + secs))
    while :; do
        v=$(prom_query "$expr")
        if [[ -n $v ]] && awk -v v="$v" "BEGIN { exit !($cond) }"; then
            echo "$v"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            echo "${v:-none}"
            return 1
        fi
        sleep 0.5
    done
}

CHECKS=(
    "startup: nicproxy in DPDK mode, Prometheus up"
    "target: Prometheus's /api/v1/targets reports nicproxy up"
    "promtool check metrics: nothing to say about a scrape (but kube-proxy's own gauge named _total)"
    "build info: nicproxy_build_info{mode=\"dpdk\"} is 1"
    "sync: kubeproxy_sync_proxy_rules_duration_seconds_count grows after a Services change (SIGHUP)"
    "data path: sum(nicproxy_port_rx_packets_total) grows with 40 curls through 10.96.0.10"
    "data path: the rx growth is at least the 40 requests' packets"
)

# ---- prerequisites --------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "no nicproxy binary at $NICPROXY" 0
    exit 1
fi
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    fail_all_from "prometheus and promtool are not installed (scripts/setup.sh installs Debian's prometheus)" 0
    exit 1
fi

# ---- bring up -------------------------------------------------------------------------
if ! topo_up "$PREFIX"; then
    fail_all_from "topology setup failed" 0
    exit 1
fi
if ! h_start_backends "$PREFIX" "$WORK"; then
    fail_all_from "backend servers did not start" 0
    exit 1
fi
CONFIG=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/tests/e2e/e2e-services.json" \
    "$(topo_node_if "$PREFIX")" "$WORK") || {
    fail_all_from "could not write the config" 0
    exit 1
}
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    1) fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
    *) fail_all_from "nicproxy exited before 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac

# The scrape config docs/observability.md gives, with a 1 s interval for the test.
cat >"$WORK/prometheus.yml" <<'EOF'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: nicproxy
    static_configs:
      - targets: ["127.0.0.1:10249"]
EOF
in_node prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address=127.0.0.1:9090 --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
if up=$(wait_query 'up{job="nicproxy"}' 'v == 1' 30); then
    pass "${CHECKS[0]}"
else
    fail_all_from "Prometheus did not report up{job=\"nicproxy\"} 1 within 30 s (last: $up); prometheus log: $(tail -n 3 "$WORK/prometheus.log" | tr '\n' '|')" 0
    exit 1
fi

# ---- checks ---------------------------------------------------------------------------
targets=$(in_node curl -sS --max-time 3 http://127.0.0.1:9090/api/v1/targets 2>&1)
health=$(python3 -c '
import json, sys
targets = json.loads(sys.argv[1])["data"]["activeTargets"]
print(" ".join(t["scrapeUrl"] + "=" + t["health"] for t in targets))' "$targets" 2>&1)
if [[ $health == "http://127.0.0.1:10249/metrics=up" ]]; then
    pass "${CHECKS[1]}"
else
    fail "${CHECKS[1]}" "targets: $health"
fi

in_node curl -sS --max-time 3 -o "$WORK/scrape.txt" http://127.0.0.1:10249/metrics
# kube-proxy's kubeproxy_sync_proxy_rules_no_local_endpoints_total is a gauge named
# _total (dashboards use that name): promtool says so about kube-proxy too, and that
# line alone is let through (as metrics_test.sh does).
promtool_out=$(promtool check metrics <"$WORK/scrape.txt" 2>&1 |
    grep -v '^kubeproxy_sync_proxy_rules_no_local_endpoints_total non-counter metrics should not have "_total" suffix$')
if [[ -z $promtool_out && -s $WORK/scrape.txt ]]; then
    pass "${CHECKS[2]} ($(grep -c '^# TYPE' "$WORK/scrape.txt") families, $(wc -c <"$WORK/scrape.txt") bytes)"
else
    fail "${CHECKS[2]}" "$(head -n 5 <<<"$promtool_out" | tr '\n' '|')"
fi

if v=$(wait_query 'nicproxy_build_info{mode="dpdk"}' 'v == 1' 5); then
    pass "${CHECKS[3]}"
else
    fail "${CHECKS[3]}" "value $v"
fi

# A Services change: a new endpoint for demo/empty in the services file, then SIGHUP.
before=$(wait_query 'kubeproxy_sync_proxy_rules_duration_seconds_count' 'v >= 1' 10)
python3 - "$WORK/services.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    doc = json.load(f)
for item in doc["items"]:
    if item["kind"] == "EndpointSlice" and item["metadata"]["labels"].get("kubernetes.io/service-name") == "empty":
        item["endpoints"] = [{"addresses": ["10.50.0.12"], "conditions": {"ready": True}, "nodeName": "node-c"}]
        item["metadata"]["resourceVersion"] = "3004"
with open(path + ".new", "w") as f:
    json.dump(doc, f, indent=4)
PY
mv "$WORK/services.json.new" "$WORK/services.json"
kill -HUP "$H_NICPROXY_PID"
if [[ $before =~ ^[0-9.]+$ ]] && after=$(wait_query 'kubeproxy_sync_proxy_rules_duration_seconds_count' "v > $before" 15); then
    pass "${CHECKS[4]} ($before -> $after)"
else
    fail "${CHECKS[4]}" "count ${before} before the SIGHUP, ${after:-none} 15 s after"
fi

# Data path: rx packets on the DPDK port (part d's counters), before and after traffic.
rx='sum(nicproxy_port_rx_packets_total)'
rx_before=$(wait_query "$rx" 'v >= 0' 5)
if [[ ! $rx_before =~ ^[0-9.e+]+$ ]]; then
    fail "${CHECKS[5]}" "Prometheus has no nicproxy_port_rx_packets_total (the data path's metrics are not exposed)"
    fail "${CHECKS[6]}" "no data path counter"
else
    ok=0
    for _ in $(seq 40); do
        in_client curl -sS --max-time 2 -o /dev/null http://10.96.0.10/ 2>/dev/null && ok=$((ok + 1))
    done
    # Each request is at least 5 packets in from the client (SYN, ACK, request, FIN, ACK).
    min=$(awk -v b="$rx_before" 'BEGIN { printf "%d", b + 40 * 5 }')
    # Wait for a scrape taken after the last curl: the first one past rx_before may have
    # been taken while the curls were still running.
    # (On a timeout wait_query prints the last value it saw.)
    rx_after=$(wait_query "$rx" "v >= $min" 15) || true
    if [[ $rx_after =~ ^[0-9.e+]+$ ]] && awk -v v="$rx_after" -v b="$rx_before" 'BEGIN { exit !(v > b) }'; then
        pass "${CHECKS[5]} ($ok/40 answered; $rx_before -> $rx_after)"
        if awk -v v="$rx_after" -v m="$min" 'BEGIN { exit !(v >= m) }'; then
            pass "${CHECKS[6]}"
        else
            fail "${CHECKS[6]}" "$rx_before -> $rx_after, want >= $min"
        fi
    else
        fail "${CHECKS[5]}" "$ok/40 answered; $rx stayed at $rx_before (last: $rx_after)"
        fail "${CHECKS[6]}" "no growth"
    fi
fi

stop_prometheus
h_stop_nicproxy TERM 15
[[ $FAILED -eq 0 ]]
