#!/usr/bin/env bash
# metrics_test.sh: nicproxy's /metrics scraped by a real Prometheus (Debian's), both in a
# network namespace of this test's own, nicproxy in mode nftables fed by a services file
# (SIGHUP reloads it).
#
# Addresses: the namespace's loopback only: nicproxy's metricsBindAddress 127.0.0.1:10249
# (kube-proxy's default), Prometheus on 127.0.0.1:9090. Services (cluster IPs, no traffic):
# default/web 10.96.3.10:80 -> 10.244.3.5:8080; after the reload also default/api
# 10.96.3.11:80 -> 10.244.3.6:8080, whose EndpointSlice carries
# endpoints.kubernetes.io/last-change-trigger-time = the time of the reload.
#
# Checks: the metrics address in use at start is logged and retried, nicproxy runs on and
# serves once it is free; GET /metrics is text format 0.0.4 and `promtool check metrics`
# prints nothing about it; /proxyMode says nftables, other paths 404; through
# Prometheus's HTTP API the target is up and kubeproxy_sync_proxy_rules_duration_seconds_count
# grows after a Services change (SIGHUP), as do the service and endpoint change totals;
# kubeproxy_network_programming_duration_seconds_count counts the new slice. Then the same
# with nicproxy following the fake API server (127.0.0.1:6443 in the namespace): a slice
# applied with a trigger time through the watch is observed once, its deletion is not.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
FAKE=${FAKE:-$BUILD_DIR/tests/fake_apiserver}

NS=npmetrics$$
WORK=$(mktemp -d /tmp/nicproxy-metrics.XXXXXX)
NP_PID=""
PROM_PID=""
BLOCKER_PID=""
METRICS=127.0.0.1:10249
PROM=127.0.0.1:9090

in_ns() { ip netns exec "$NS" "$@"; }

cleanup() {
    [[ -n $BLOCKER_PID ]] && kill "$BLOCKER_PID" 2>/dev/null
    [[ -n $PROM_PID ]] && kill "$PROM_PID" 2>/dev/null && wait "$PROM_PID" 2>/dev/null
    stop_fake_api
    if [[ -n $NP_PID ]]; then
        kill -INT "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
        in_ns "$NICPROXY" --cleanup --config "$WORK/config.json" >/dev/null 2>&1
    fi
    ip netns del "$NS" 2>/dev/null
    if [[ ${KEEP_WORK:-0} == 1 || $FAILED -ne 0 ]]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ ! -x $NICPROXY ]]; then fail "nicproxy built" "$NICPROXY missing"; exit 1; fi
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    echo "SKIP: metrics_test.sh needs Debian's prometheus package (scripts/setup.sh installs it)"
    exit 0
fi
ip netns add "$NS" || { fail "namespace" "ip netns add $NS failed"; exit 1; }
in_ns ip link set lo up

# services FILE TRIGGER_TIME: web always; api (with its slice's trigger time) when TRIGGER_TIME is set.
services() {
    python3 - "$1" "${2:-}" <<'PY'
import json, sys
path, trigger = sys.argv[1], sys.argv[2]
def service(name, ip):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}}
def slice_(name, ip, annotations):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name + "-abc", "namespace": "default", "annotations": annotations,
                         "labels": {"kubernetes.io/service-name": name}},
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-b"}]}
items = [service("web", "10.96.3.10"), slice_("web", "10.244.3.5", {})]
if trigger:
    items += [service("api", "10.96.3.11"),
              slice_("api", "10.244.3.6", {"endpoints.kubernetes.io/last-change-trigger-time": trigger})]
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(path, "w"))
PY
}
services "$WORK/services.json"
cat >"$WORK/config.json" <<JSON
{"mode": "nftables", "nodeName": "node-a", "servicesFile": "services.json", "metricsBindAddress": "$METRICS",
 "nftables": {"minSyncPeriod": "100ms"}}
JSON

# The metrics address taken before nicproxy starts: kube-proxy logs and retries.
# (`ip netns exec` execs the program, so $! is its pid: not through in_ns, a function.)
ip netns exec "$NS" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 10249)); s.listen(1); print("listening", flush=True); time.sleep(600)' >"$WORK/blocker.log" 2>&1 &
BLOCKER_PID=$!
for _ in $(seq 50); do grep -qs listening "$WORK/blocker.log" && break; sleep 0.1; done

ip netns exec "$NS" env --default-signal=INT,QUIT "$NICPROXY" --config "$WORK/config.json" >"$WORK/nicproxy.log" 2>&1 &
NP_PID=$!
for _ in $(seq 100); do grep -qs "kernel proxy ready" "$WORK/nicproxy.log" && break; sleep 0.1; done
REASON="log: $(tail -n 3 "$WORK/nicproxy.log" | tr '\n' ';')"
check "nicproxy runs while its metrics address is in use" grep -q "kernel proxy ready" "$WORK/nicproxy.log"
REASON="log: $(grep -m1 metrics "$WORK/nicproxy.log")"
check "the bind failure is logged with the address and the errno text" \
    grep -q "metrics server cannot listen on $METRICS: Address already in use; retrying every 5 s" "$WORK/nicproxy.log"
kill "$BLOCKER_PID" 2>/dev/null; wait "$BLOCKER_PID" 2>/dev/null; BLOCKER_PID=""

scrape() { in_ns curl -sS --max-time 3 "$@"; }
for _ in $(seq 80); do scrape -o /dev/null "http://$METRICS/metrics" 2>/dev/null && break; sleep 0.1; done
check "served once the address is free (retried every 5 s)" scrape -o /dev/null "http://$METRICS/metrics"

headers=$(scrape -D - -o "$WORK/scrape.txt" "http://$METRICS/metrics" | tr -d '\r')
REASON="headers: $(echo "$headers" | tr '\n' ';')"
check "/metrics: 200, text format 0.0.4" grep -qi '^content-type: text/plain; version=0.0.4' <<<"$headers"
# One lint is kube-proxy's own: its kubeproxy_sync_proxy_rules_no_local_endpoints_total is
# a gauge named _total (dashboards use that name), and promtool says so about kube-proxy too.
lint=$(promtool check metrics <"$WORK/scrape.txt" 2>&1 |
    grep -v '^kubeproxy_sync_proxy_rules_no_local_endpoints_total non-counter metrics should not have "_total" suffix$')
REASON="promtool: $(echo "$lint" | head -n 5 | tr '\n' ';')"
check "promtool check metrics prints nothing (but kube-proxy's own gauge named _total)" test -z "$lint"
REASON="scrape: $(grep -c . "$WORK/scrape.txt") lines"
check "/metrics has kube-proxy's sync histogram" grep -q '^kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="0.001"}' "$WORK/scrape.txt"
mode=$(scrape "http://$METRICS/proxyMode")
REASON="got '$mode'"
check "/proxyMode answers nftables, as kube-proxy" test "$mode" = nftables
code=$(scrape -o /dev/null -w '%{http_code}' "http://$METRICS/debug")
REASON="got $code"
check "other paths: 404" test "$code" = 404

cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: kube-proxy
    static_configs:
      - targets: ["$METRICS"]
YAML
ip netns exec "$NS" prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="$PROM" >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

# query PROMQL: the value of the first sample, or nothing.
query() {
    in_ns curl -sS --max-time 3 "http://$PROM/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
        python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
}
target_health() {
    in_ns curl -sS --max-time 3 "http://$PROM/api/v1/targets" 2>/dev/null |
        python3 -c 'import json,sys; t=json.load(sys.stdin)["data"]["activeTargets"]; print(t[0]["health"] if t else "")' 2>/dev/null
}
# wait_for TEST...: retries the test for 20 s.
wait_for() { for _ in $(seq 100); do "$@" && return 0; sleep 0.2; done; return 1; }

health=""
up() { health=$(target_health); [[ $health == up ]]; }
wait_for up
REASON="health '$health'; $(tail -n 2 "$WORK/prometheus.log" | tr '\n' ';')"
check "Prometheus: the target is up (/api/v1/targets)" test "$health" = up
value=""
has_value() { value=$(query "$1"); [[ -n $value ]]; }
wait_for has_value 'up{job="kube-proxy"}'
REASON="got '$value'"
check "Prometheus: up{job=\"kube-proxy\"} is 1" test "$value" = 1

wait_for has_value kubeproxy_sync_proxy_rules_duration_seconds_count
syncs_before=$value
changes_before=$(query kubeproxy_sync_proxy_rules_service_changes_total)
endpoint_changes_before=$(query kubeproxy_sync_proxy_rules_endpoint_changes_total)
programmed_before=$(query kubeproxy_network_programming_duration_seconds_count)
REASON="syncs '$syncs_before', service changes '$changes_before'"
check "Prometheus has the sync count and the changes of the first sync" \
    test -n "$syncs_before" -a "${changes_before:-0}" = 1 -a "${endpoint_changes_before:-0}" = 1

# A Services change: api added, its slice triggered now.
services "$WORK/services.json" "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"
REASON="no new 'synced generation' line"
check "SIGHUP reloads the services file" hup_and_wait "$NP_PID" "$WORK/nicproxy.log" "synced generation"
grown() { value=$(query "$1"); [[ -n $value ]] && python3 -c "import sys; sys.exit(0 if float('$value') > float('$2') else 1)"; }
wait_for grown kubeproxy_sync_proxy_rules_duration_seconds_count "$syncs_before"
REASON="before $syncs_before, now '$value'"
check "Prometheus: kubeproxy_sync_proxy_rules_duration_seconds_count grows after a Services change" \
    grown kubeproxy_sync_proxy_rules_duration_seconds_count "$syncs_before"
REASON="before $changes_before, now '$(query kubeproxy_sync_proxy_rules_service_changes_total)'"
check "Prometheus: service changes total counts the new Service (2)" \
    test "$(query kubeproxy_sync_proxy_rules_service_changes_total)" = 2
REASON="before $endpoint_changes_before, now '$(query kubeproxy_sync_proxy_rules_endpoint_changes_total)'"
check "Prometheus: endpoint changes total counts the new slice (2)" \
    test "$(query kubeproxy_sync_proxy_rules_endpoint_changes_total)" = 2
REASON="before '$programmed_before', now '$(query kubeproxy_network_programming_duration_seconds_count)'"
check "Prometheus: network programming latency observed once, for the slice with a trigger time" \
    test "$(query kubeproxy_network_programming_duration_seconds_count)" = 1
pending=$(query kubeproxy_sync_proxy_rules_endpoint_changes_pending)
REASON="got '$pending'"
check "Prometheus: no endpoint change pending after the sync" test "$pending" = 0

# ---- The fake API server as the source: the trigger time arrives through a watch.
kill -INT "$NP_PID" 2>/dev/null; wait "$NP_PID" 2>/dev/null; NP_PID=""
slice_json() { # NAME SERVICE ADDRESS [TRIGGER]
    printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"default","name":"%s","labels":{"kubernetes.io/service-name":"%s"},"annotations":{"endpoints.kubernetes.io/last-change-trigger-time":"%s"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}],"endpoints":[{"addresses":["%s"],"conditions":{"ready":true},"nodeName":"node-b"}]}' \
        "$1" "$2" "${4:-}" "$3"
}
metric() { scrape "http://$METRICS/metrics" | awk -v name="$1" '$1 == name {print $2}'; }
fake_api_credentials "$WORK" "token-$NS" >/dev/null && fake_api_kubeconfig "$WORK/kubeconfig"
if [[ ! -x $FAKE ]] || ! start_fake_api "$NS" "$WORK/fake.log"; then
    fail "fake API server: nicproxy follows it" "the fake did not start ($FAKE): $(tail -n 2 "$WORK/fake.log" 2>/dev/null | tr '\n' ';')"
    exit 1
fi
fake_api_request "$NS" POST "apply?resource=services" \
    '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default","name":"web"},"spec":{"clusterIP":"10.96.3.10","clusterIPs":["10.96.3.10"],"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]}}' >/dev/null
fake_api_request "$NS" POST "apply?resource=endpointslices" "$(slice_json web-abc web 10.244.3.5)" >/dev/null
cat >"$WORK/config-api.json" <<JSON
{"mode": "nftables", "nodeName": "node-a", "clientConnection": {"kubeconfig": "kubeconfig"},
 "metricsBindAddress": "$METRICS", "nftables": {"minSyncPeriod": "100ms"}}
JSON
ip netns exec "$NS" env --default-signal=INT,QUIT "$NICPROXY" --config "$WORK/config-api.json" >"$WORK/nicproxy-api.log" 2>&1 &
NP_PID=$!
for _ in $(seq 100); do grep -qs "kernel proxy ready" "$WORK/nicproxy-api.log" && break; sleep 0.1; done
for _ in $(seq 50); do [[ -n $(metric kubeproxy_network_programming_duration_seconds_count) ]] && break; sleep 0.1; done
REASON="log: $(tail -n 2 "$WORK/nicproxy-api.log" | tr '\n' ';')"
check "fake API server: nicproxy follows it and serves /metrics" \
    test "$(metric kubeproxy_network_programming_duration_seconds_count)" = 0
fake_api_request "$NS" POST "apply?resource=endpointslices" \
    "$(slice_json web-def web 10.244.3.7 "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)")" >/dev/null
observed() { [[ $(metric kubeproxy_network_programming_duration_seconds_count) == 1 ]]; }
wait_for observed
REASON="count '$(metric kubeproxy_network_programming_duration_seconds_count)', sum '$(metric kubeproxy_network_programming_duration_seconds_sum)'"
observed_quickly() {
    observed && python3 -c "import sys; sys.exit(0 if float('$(metric kubeproxy_network_programming_duration_seconds_sum)') < 5 else 1)"
}
check "fake API server: a watched slice's trigger time is observed once, in under 5 s" observed_quickly
fake_api_request "$NS" POST "delete?resource=endpointslices&namespace=default&name=web-def" >/dev/null
gone() { [[ $(metric kubeproxy_sync_proxy_rules_endpoint_changes_total) == 3 ]]; }
wait_for gone
REASON="endpoint changes '$(metric kubeproxy_sync_proxy_rules_endpoint_changes_total)', programmed '$(metric kubeproxy_network_programming_duration_seconds_count)'"
check "fake API server: the slice's deletion is a change, and no programming latency (as kube-proxy)" \
    test "$(metric kubeproxy_sync_proxy_rules_endpoint_changes_total)" = 3 -a \
    "$(metric kubeproxy_network_programming_duration_seconds_count)" = 1

exit $((FAILED > 0))
