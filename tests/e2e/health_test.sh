#!/usr/bin/env bash
# health_test.sh: /healthz and /livez as kube-proxy serves them (issue 12), nicproxy in
# iptables mode following the fake API server (build/tests/fake_apiserver), both in a
# network namespace made here; curl asks 127.0.0.1:10256 (kube-proxy's default
# healthzBindAddress, 0.0.0.0:10256) inside it.
#
# kube-proxy's semantics, checked one by one:
# - port 10256 held by another program when nicproxy starts: logged with the address and
#   the reason, retried every 5 s, never fatal (the first sync goes on); served once free;
# - both answer 200 with kube-proxy's JSON (lastUpdated, currentTime, and nodeEligible on
#   /healthz) and headers (application/json, nosniff);
# - an API server that stalls owes no sync: nothing changed, both stay 200;
# - a change whose sync cannot complete (another program holds the xtables lock: the real
#   iptables-legacy waits 5 s and fails, and the retries too) turns both 503 once it is
#   older than the health timeout, 2 x iptables.syncPeriod = 4 s here, not before; both
#   are 200 again when the lock goes and the retried sync programs the change;
# - the Node tainted ToBeDeletedByClusterAutoscaler, or marked for deletion
#   (deletionTimestamp), turns /healthz 503 with nodeEligible false while /livez stays 200;
# - SIGTERM: exit 0, the port closes.
#
# Real iptables-legacy (it takes the xtables lock; the lock is a private file,
# XTABLES_LOCKFILE, so nothing outside the test waits on it). No data traffic: the rules
# are read back with iptables-save. Prints "PASS: name" or "FAIL: name (reason)" per
# check; exits non-zero if any failed. Root only.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
FAKE=${FAKE_APISERVER:-$BUILD_DIR/tests/fake_apiserver}

CHECKS=(
    "port 10256 held by another program at start: the error names address and reason, proxying goes on, served once free"
    "/healthz answers 200 with kube-proxy's JSON (lastUpdated = currentTime, nodeEligible true) and headers"
    "/livez answers 200 with lastUpdated and currentTime only"
    "the API server stalled longer than the health timeout, nothing owed: /healthz and /livez stay 200"
    "a change whose sync is blocked (xtables lock held): still 200 before the 4 s health timeout"
    "the blocked change older than the timeout: /healthz and /livez 503, lastUpdated older than currentTime"
    "the lock released: the retried sync programs the change, /healthz and /livez 200 again"
    "the Node tainted ToBeDeletedByClusterAutoscaler: /healthz 503 with nodeEligible false, /livez 200"
    "the taint removed: /healthz 200 with nodeEligible true"
    "the Node marked for deletion (deletionTimestamp): /healthz 503, /livez 200"
    "SIGTERM: nicproxy exits 0 and port 10256 closes"
)
NS=npxhealth$$
WORK=$(mktemp -d /tmp/nicproxy-health.XXXXXX)
NP_PID=""
FAKE_PID=""
HOLDER_PID=""
PORT_HOLDER_PID=""
NODE=node-h

stop_holder() {
    # flock runs `sleep` as its child and holds the lock through it: end both.
    [[ -n $HOLDER_PID ]] || return 0
    pkill -P "$HOLDER_PID" 2>/dev/null
    kill "$HOLDER_PID" 2>/dev/null
    wait "$HOLDER_PID" 2>/dev/null
    HOLDER_PID=""
}
# shellcheck disable=SC2317  # called from the trap
cleanup() {
    [[ -n $NP_PID ]] && kill -KILL "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    [[ -n $FAKE_PID ]] && kill -CONT "$FAKE_PID" 2>/dev/null
    [[ -n $PORT_HOLDER_PID ]] && kill "$PORT_HOLDER_PID" 2>/dev/null && wait "$PORT_HOLDER_PID" 2>/dev/null
    stop_fake_api
    stop_holder
    ip netns del "$NS" 2>/dev/null
    if [[ $FAILED -eq 0 && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: health_test.sh needs root (network namespace, iptables)"
    exit 0
fi
for tool in iptables-legacy-restore flock curl jq openssl; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: health_test.sh needs $tool"
        exit 0
    fi
done
if [[ ! -x $NICPROXY || ! -x $FAKE ]]; then
    fail_all_from "$NICPROXY or $FAKE missing" 0
    exit 1
fi

# iptables, iptables-save and iptables-restore are the legacy ones for nicproxy.
mkdir -p "$WORK/bin"
for command in iptables iptables-save iptables-restore; do
    ln -s "$(command -v "${command/iptables/iptables-legacy}")" "$WORK/bin/$command"
done
export XTABLES_LOCKFILE=$WORK/xtables.lock
in_ns() { ip netns exec "$NS" env PATH="$WORK/bin:$PATH" XTABLES_LOCKFILE="$XTABLES_LOCKFILE" "$@"; }
hold_lock() {
    flock "$XTABLES_LOCKFILE" sleep 120 &
    HOLDER_PID=$!
    sleep 0.3
}

# fake PATH [BODY]: one control request to the fake API server (POST /fake/PATH).
fake() { fake_api_request "$NS" POST "$1" "${2:-}" >/dev/null; }
service_json() { # NAME CLUSTERIP
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"demo","name":"%s"},"spec":{"type":"ClusterIP","clusterIP":"%s","clusterIPs":["%s"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}}' \
        "$1" "$2" "$2"
}
slice_json() { # NAME SERVICE ADDRESS
    printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"demo","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}],"endpoints":[{"addresses":["%s"],"conditions":{"ready":true},"nodeName":"%s"}]}' \
        "$1" "$2" "$3" "$NODE"
}
node_json() { # SPEC_JSON EXTRA_METADATA_JSON (both may be empty)
    printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s"%s},%s"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.5"}]}}' \
        "$NODE" "${2:+,$2}" "${1:+\"spec\":$1,}"
}

# probe PATH: sets CODE, HEADERS and BODY from one GET of http://127.0.0.1:10256/PATH.
probe() {
    local out
    out=$(in_ns curl -sS --max-time 2 -D "$WORK/headers" "http://127.0.0.1:10256/$1" 2>&1)
    BODY=$out
    CODE=$(awk 'NR == 1 {print $2}' "$WORK/headers" 2>/dev/null)
    HEADERS=$(tr -d '\r' <"$WORK/headers" 2>/dev/null)
    REASON="$1: HTTP ${CODE:-none}, body $BODY"
}
# wait_code PATH CODE SECONDS: probes until PATH answers CODE.
wait_code() {
    local deadline=$((SECONDS + $3))
    while true; do
        probe "$1"
        [[ $CODE == "$2" ]] && return 0
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}
# Go's time.String() in UTC, as kube-proxy prints it (read by the checks' eval).
# shellcheck disable=SC2034
GO_TIME='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)? \+0000 UTC$'
json_keys() { jq -r 'keys_unsorted | join(",")' <<<"$BODY" 2>/dev/null; }
json_field() { jq -r ".$1" <<<"$BODY" 2>/dev/null; }
kube_proxy_headers() {
    grep -qi '^Content-Type: application/json$' <<<"$HEADERS" && grep -qi '^X-Content-Type-Options: nosniff$' <<<"$HEADERS"
}
now_ms() { date +%s%3N; }

ip netns add "$NS" || { fail_all_from "ip netns add failed" 0; exit 1; }
ip -n "$NS" link set lo up
fake_api_credentials "$WORK" "e2e-token-$$-$RANDOM" || { fail_all_from "openssl failed: $(tail -n 3 "$WORK/openssl.log")" 0; exit 1; }
fake_api_kubeconfig "$WORK/kubeconfig"
if ! start_fake_api "$NS" "$WORK/fake.log"; then
    fail_all_from "the fake API server did not start: $(tr '\n' '|' <"$WORK/fake.log")" 0
    exit 1
fi
fake "apply?resource=nodes" "$(node_json "" "")"
fake "apply?resource=services" "$(service_json web 10.96.5.10)"
fake "apply?resource=endpointslices" "$(slice_json web-1 web 10.21.0.2)"

# syncPeriod 2s: kube-proxy's health timeout is 2 x syncPeriod, 4 s.
cat >"$WORK/config.json" <<JSON
{"mode": "iptables", "nodeName": "$NODE", "clusterCIDR": "10.20.0.0/14",
 "clientConnection": {"kubeconfig": "kubeconfig"},
 "iptables": {"minSyncPeriod": "100ms", "syncPeriod": "2s"}}
JSON
# Another program listens on 10256 first (as a second nicproxy on the node would).
ip netns exec "$NS" python3 -c 'import socket, time
s = socket.socket()
s.bind(("0.0.0.0", 10256))
s.listen()
print("holding", flush=True)
time.sleep(120)' >"$WORK/port-holder.log" 2>&1 &
PORT_HOLDER_PID=$!
for _ in $(seq 50); do grep -qs holding "$WORK/port-holder.log" && break; sleep 0.1; done
# Not through in_ns: $! must be nicproxy itself (ip netns exec and env exec it in place).
ip netns exec "$NS" env PATH="$WORK/bin:$PATH" XTABLES_LOCKFILE="$XTABLES_LOCKFILE" \
    "$NICPROXY" --config "$WORK/config.json" >"$WORK/nicproxy.log" 2>&1 &
NP_PID=$!
for _ in $(seq 150); do grep -qs "kernel proxy ready" "$WORK/nicproxy.log" && break; sleep 0.1; done
if ! grep -qs "kernel proxy ready" "$WORK/nicproxy.log"; then
    fail_all_from "no 'kernel proxy ready' within 15 s: $(tail -n 5 "$WORK/nicproxy.log" | tr '\n' '|' | cut -c1-400)" 0
    exit 1
fi

# 1. Served once the port is free (the next retry, 5 s at most).
bind_error=$(grep -m1 '/livez server cannot listen' "$WORK/nicproxy.log")
kill "$PORT_HOLDER_PID" 2>/dev/null
wait "$PORT_HOLDER_PID" 2>/dev/null
PORT_HOLDER_PID=""
freed=$SECONDS
wait_code healthz 200 10
REASON="log: '$bind_error'; $REASON after $((SECONDS - freed)) s"
check "${CHECKS[0]}" eval '[[ $bind_error == *"/healthz and /livez server cannot listen on 0.0.0.0:10256: Address already in use; retrying every 5 s" ]] &&
    [[ $CODE == 200 ]] && kill -0 "$NP_PID"'

# 2-3. Serving.
check "${CHECKS[1]}" eval '[[ $CODE == 200 ]] && kube_proxy_headers &&
    [[ $(json_keys) == lastUpdated,currentTime,nodeEligible && $(json_field nodeEligible) == true ]] &&
    [[ $(json_field lastUpdated) == "$(json_field currentTime)" && $(json_field currentTime) =~ $GO_TIME ]]'
probe livez
check "${CHECKS[2]}" eval '[[ $CODE == 200 ]] && kube_proxy_headers && [[ $(json_keys) == lastUpdated,currentTime ]] &&
    [[ $(json_field lastUpdated) =~ $GO_TIME ]]'

# 4. The API server stops answering (SIGSTOP) for longer than the timeout.
kill -STOP "$FAKE_PID"
sleep 5
probe healthz
healthz_code=$CODE
probe livez
REASON="/healthz $healthz_code, $REASON"
check "${CHECKS[3]}" eval '[[ $healthz_code == 200 && $CODE == 200 ]]'
kill -CONT "$FAKE_PID"

# 5-6. A change arrives while another program holds the xtables lock: every sync (and
# its retries) waits 5 s for it and fails.
hold_lock
changed_at=$(now_ms)
fake "apply?resource=services" "$(service_json late 10.96.5.77)"
fake "apply?resource=endpointslices" "$(slice_json late-1 late 10.22.0.2)"
sleep 2
probe healthz
check "${CHECKS[4]}" eval '[[ $CODE == 200 ]]'
wait_code healthz 503 15
healthz_code=$CODE
turned_ms=$(($(now_ms) - changed_at))
healthz_body=$BODY
probe livez
REASON="/healthz $healthz_code after ${turned_ms} ms ($healthz_body); $REASON"
check "${CHECKS[5]}" eval '[[ $healthz_code == 503 && $CODE == 503 ]] && ((turned_ms >= 4000)) &&
    [[ $(json_field lastUpdated) < $(json_field currentTime) && $(json_field lastUpdated) =~ $GO_TIME ]] &&
    [[ $(grep -c "answer 503: changes queued at" "$WORK/nicproxy.log") == 1 ]]'

# 7. The lock goes: the next retry programs the change.
stop_holder
wait_code healthz 200 20
healthz_code=$CODE
probe livez
rules=$(in_ns iptables-save -t nat 2>&1)
REASON="/healthz $healthz_code, $REASON; 10.96.5.77 in the nat table: $(grep -c 10.96.5.77 <<<"$rules")"
check "${CHECKS[6]}" eval '[[ $healthz_code == 200 && $CODE == 200 ]] && grep -q -- "-d 10.96.5.77/32" <<<"$rules"'

# 8-9. KEP-3836: the cluster autoscaler's taint.
fake "apply?resource=nodes" "$(node_json '{"taints":[{"key":"ToBeDeletedByClusterAutoscaler","value":"1714557600","effect":"NoSchedule"}]}' "")"
wait_code healthz 503 10
healthz_code=$CODE
eligible=$(json_field nodeEligible)
probe livez
REASON="/healthz $healthz_code nodeEligible $eligible, $REASON"
check "${CHECKS[7]}" eval '[[ $healthz_code == 503 && $eligible == false && $CODE == 200 ]]'
fake "apply?resource=nodes" "$(node_json '{"taints":[]}' "")"
wait_code healthz 200 10
check "${CHECKS[8]}" eval '[[ $CODE == 200 && $(json_field nodeEligible) == true ]]'

# 10. Being deleted (a finalizer keeps it while it drains).
fake "apply?resource=nodes" "$(node_json "" '"deletionTimestamp":"2024-05-01T10:00:00Z","finalizers":["example.com/drain"]')"
wait_code healthz 503 10
healthz_code=$CODE
eligible=$(json_field nodeEligible)
probe livez
REASON="/healthz $healthz_code nodeEligible $eligible, $REASON"
check "${CHECKS[9]}" eval '[[ $healthz_code == 503 && $eligible == false && $CODE == 200 ]]'

# 11. Stop.
kill -TERM "$NP_PID"
rc=timeout
for _ in $(seq 100); do
    if ! kill -0 "$NP_PID" 2>/dev/null; then wait "$NP_PID"; rc=$?; break; fi
    sleep 0.1
done
NP_PID=""
in_ns curl -sS --max-time 2 -o /dev/null http://127.0.0.1:10256/livez 2>/dev/null
curl_rc=$?
REASON="exit $rc, curl exit $curl_rc (7: refused)"
check "${CHECKS[10]}" eval '[[ $rc == 0 && $curl_rc == 7 ]]'

exit $((FAILED > 0))
