#!/usr/bin/env bash
# kernel_restart_test.sh: kernel state across a nicproxy crash, and flushed tables, in
# the iptables and nftables modes: nicproxy in a router namespace, real netfilter,
# real conntrack, real curl and UDP clients, real HTTP/UDP backends.
#
# Topology: scripts/netns_router_topology.sh (client 10.10.0.2, router 10.10.0.1, be1
# 10.21.0.2, be2 10.22.0.2, be3 10.23.0.2). Services (written below): sticky
# 10.96.1.20:80 sessionAffinity ClientIP -> be1, be2, be3 :8080; dns 10.96.1.21:53/UDP
# -> be2:5353. syncPeriod 2s.
#
# Per mode:
#   (a) the client gets one backend through `sticky` (affinity), holds a TCP connection
#       open and has a UDP flow; nicproxy is killed with SIGKILL and started again with
#       the same files. The ruleset, the affinity entries (nft's affinity sets, or
#       /proc/net/xt_recent) and `conntrack -L` (timeouts and counters aside) are the
#       same before and after; the client keeps its backend, in new connections and in
#       the one held open.
#   (b) `nft flush table` / `nft delete table` (nftables), `iptables -t nat -F` and
#       `-F` + `-X` (iptables) break the Service; nicproxy's canary sees it and a full
#       sync repairs it within syncPeriod + 3 s.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=$BUILD_DIR/daemon/nicproxy

P=kr$$
WORK=$(mktemp -d /tmp/nicproxy-restart.XXXXXX)
NP_PID=""
HOLD_PID=""
BACKEND_PIDS=()
SYNC_PERIOD=2
REPAIR_LIMIT=$((SYNC_PERIOD + 3))  # seconds: syncPeriod and a margin

in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

cleanup() {
    [[ -n $NP_PID ]] && kill -9 "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    [[ -n $HOLD_PID ]] && kill "$HOLD_PID" 2>/dev/null && wait "$HOLD_PID" 2>/dev/null
    for pid in "${BACKEND_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BACKEND_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rtopo_down "$P"
    if [[ $FAILED -eq 0 && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: kernel_restart_test.sh needs root (network namespaces, netfilter)"
    exit 0
fi
if [[ ! -x $NICPROXY ]]; then
    fail "nicproxy built" "$NICPROXY missing"
    exit 1
fi
for tool in nft iptables-save conntrack curl python3; do
    command -v "$tool" >/dev/null || { fail "$tool installed" "not in PATH"; exit 1; }
done
rtopo_up "$P" || { fail "topology" "rtopo_up failed"; exit 1; }
for i in 1 2 3; do
    in_ns "be$i" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" \
        --http 8080 --udp 5353 --echo-client --quiet >"$WORK/backend-$i.log" 2>&1 &
    BACKEND_PIDS+=("$!")
done
for i in 1 2 3; do
    for _ in $(seq 50); do grep -qs listening "$WORK/backend-$i.log" && break; sleep 0.1; done
done

python3 - "$WORK/services.json" <<'PY'
import json, sys

def service(name, ip, port, protocol, affinity):
    spec = {"clusterIP": ip, "clusterIPs": [ip], "type": "ClusterIP",
            "ports": [{"name": "p", "port": port, "protocol": protocol, "targetPort": port}],
            "sessionAffinity": "ClientIP" if affinity else "None"}
    if affinity:
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "e2e"}, "spec": spec}

def slice_(name, port, protocol, addresses):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name + "-1", "namespace": "e2e", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "p", "port": port, "protocol": protocol}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": "node-b"} for a in addresses]}

items = [service("sticky", "10.96.1.20", 80, "TCP", True),
         slice_("sticky", 8080, "TCP", ["10.21.0.2", "10.22.0.2", "10.23.0.2"]),
         service("dns", "10.96.1.21", 53, "UDP", False),
         slice_("dns", 5353, "UDP", ["10.22.0.2"])]
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(sys.argv[1], "w"), indent=1)
PY

start_nicproxy() { # start_nicproxy MODE LOGNAME
    rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/$1.json" "$WORK/$2.log"
}

curl_from() { in_ns "$1" curl -sS --max-time "${3:-2}" "$2" 2>>"$WORK/curl.err"; }

# backends N: the distinct backends (names) of N requests from the client, sorted.
backends() {
    local i
    for i in $(seq "$1"); do curl_from client http://10.96.1.20/ 5 || echo "curl-exit-$?"; done |
        sed 's/:8080 from.*//' | sort -u
}

# What traffic depends on, printed so that two dumps compare with cmp.
ruleset() {
    if [[ $1 == iptables ]]; then
        in_ns router iptables-save | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'
    else
        # One element per line, sorted (nft prints elements in hash order), without the
        # time an affinity entry has left.
        in_ns router nft list ruleset |
            sed -E 's/ expires [0-9hmsd]+//g; s/elements = \{ //; s/ \}$//; s/,$//; s/^[[:space:]]+//' | sort
    fi
}

# affinity MODE: every affinity entry, "list: client", sorted.
affinity() {
    local f s
    if [[ $1 == iptables ]]; then
        for f in $(in_ns router sh -c 'ls /proc/net/xt_recent/ 2>/dev/null'); do
            in_ns router cat "/proc/net/xt_recent/$f" | grep -oE 'src=[0-9.]+' | sed "s/^/$f: /"
        done | sort
    else
        for s in $(in_ns router nft -t list sets ip | awk '$1 == "set" && $2 ~ /^affinity-/ {print $2}'); do
            in_ns router nft list set ip kube-proxy "$s" | grep -oE 'elements = \{[^}]*' |
                grep -oE '[0-9]+(\.[0-9]+){3}' | sed "s|^|$s: |"
        done | sort
    fi
}

# conntrack -L without the timeouts and reference counts, sorted.
conntrack_entries() {
    in_ns router conntrack -L 2>/dev/null | sed -E 's/^([a-z]+ +[0-9]+ +)[0-9]+ /\1/; s/ use=[0-9]+//' | sort
}

# repaired_within SECONDS: 0 when the sticky Service answers within SECONDS; prints
# the seconds it took.
repaired_within() {
    local start=$SECONDS
    while ((SECONDS - start <= $1)); do
        if curl_from client http://10.96.1.20/ 1 >/dev/null; then
            echo $((SECONDS - start))
            return 0
        fi
        sleep 0.2
    done
    echo "more than $1"
    return 1
}

# flush_case MODE NAME COMMAND...: runs COMMAND in the router (a flush) and checks that
# the Service works again within REPAIR_LIMIT, and that the log names the canary.
flush_case() {
    local mode=$1 name=$2 took rc canaries
    shift 2
    canaries=$(grep -c "canary" "$WORK/$mode-2.log")
    in_ns router "$@"
    took=$(repaired_within "$REPAIR_LIMIT")
    rc=$?
    REASON="Service broken for $took s"
    check "$mode: after $name the Service works again within syncPeriod + 3 s" test "$rc" = 0
    REASON="log: $(grep -m 1 canary "$WORK/$mode-2.log" || echo 'no canary line')"
    check "$mode: ... and the log says the canary found it" test "$(grep -c "canary" "$WORK/$mode-2.log")" -gt "$canaries"
}

run_mode() {
    local mode=$1 a b
    cat >"$WORK/$mode.json" <<JSON
{"mode": "$mode", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json",
 "iptables": {"minSyncPeriod": "100ms", "syncPeriod": "${SYNC_PERIOD}s"},
 "nftables": {"minSyncPeriod": "100ms", "syncPeriod": "${SYNC_PERIOD}s"}}
JSON
    echo "---- mode $mode"
    in_ns router conntrack -F >/dev/null 2>&1
    if ! start_nicproxy "$mode" "$mode-1"; then
        fail "$mode: nicproxy starts" "no 'kernel proxy ready' in its log"
        return
    fi

    # (a) kill -9 and start again.
    b=$(backends 8 | tr '\n' ';')
    REASON="backends: $b"
    check "$mode: ClientIP affinity: every request of the client reaches one backend" grep -qxE 'backend-[123];' <<<"$b"
    rm -f "$WORK/go"
    in_ns client python3 "$ROOT/tests/e2e/hold_client.py" request 10.96.1.20 80 "$WORK/go" >"$WORK/hold.out" 2>&1 &
    HOLD_PID=$!
    for _ in $(seq 50); do grep -qs connected "$WORK/hold.out" && break; sleep 0.1; done
    a=$(in_ns client python3 "$ROOT/scripts/udp_client.py" 10.96.1.21 53 --payload q --timeout 2)
    REASON="reply: $a"
    check "$mode: UDP through the ClusterIP" test "$a" = "backend-2:udp:q"

    ruleset "$mode" >"$WORK/$mode-rules-1"
    affinity "$mode" >"$WORK/$mode-affinity-1"
    conntrack_entries >"$WORK/$mode-conntrack-1"
    REASON="$(tr '\n' ';' <"$WORK/$mode-affinity-1")"
    check "$mode: the kernel holds the client's affinity entry" grep -q '10.10.0.2' "$WORK/$mode-affinity-1"

    kill -9 "$NP_PID"
    wait "$NP_PID" 2>/dev/null
    NP_PID=""
    if ! start_nicproxy "$mode" "$mode-2"; then
        fail "$mode: nicproxy starts again after kill -9" "no 'kernel proxy ready' in its log"
        return
    fi
    ruleset "$mode" >"$WORK/$mode-rules-2"
    affinity "$mode" >"$WORK/$mode-affinity-2"
    conntrack_entries >"$WORK/$mode-conntrack-2"
    REASON="$(diff "$WORK/$mode-rules-1" "$WORK/$mode-rules-2" | head -n 6 | tr '\n' ';')"
    check "$mode: kill -9 and restart leave the ruleset as it was" cmp -s "$WORK/$mode-rules-1" "$WORK/$mode-rules-2"
    REASON="$(diff "$WORK/$mode-affinity-1" "$WORK/$mode-affinity-2" | head -n 6 | tr '\n' ';')"
    check "$mode: ... and the affinity entries" cmp -s "$WORK/$mode-affinity-1" "$WORK/$mode-affinity-2"
    REASON="$(diff "$WORK/$mode-conntrack-1" "$WORK/$mode-conntrack-2" | head -n 6 | tr '\n' ';')"
    check "$mode: ... and the conntrack entries" cmp -s "$WORK/$mode-conntrack-1" "$WORK/$mode-conntrack-2"

    a=$(backends 8 | tr '\n' ';')
    REASON="before: $b after: $a"
    check "$mode: the affine client keeps its backend after the restart" test "$a" = "$b"
    touch "$WORK/go"
    wait "$HOLD_PID" 2>/dev/null
    HOLD_PID=""
    a="$(tail -n 1 "$WORK/hold.out" | sed 's/:8080 from.*//');"
    REASON="held connection: $(tr '\n' ';' <"$WORK/hold.out")"
    check "$mode: a connection held open across the restart still works, same backend" test "$a" = "$b"

    # (b) flushed tables.
    if [[ $mode == nftables ]]; then
        flush_case "$mode" "nft flush table" nft flush table ip kube-proxy
        flush_case "$mode" "nft delete table" nft delete table ip kube-proxy
    else
        flush_case "$mode" "iptables -t nat -F" iptables -w -t nat -F
        flush_case "$mode" "iptables -t nat -F and -X" sh -c 'iptables -w -t nat -F && iptables -w -t nat -X'
    fi

    kill -TERM "$NP_PID" 2>/dev/null
    wait "$NP_PID" 2>/dev/null
    NP_PID=""
    in_ns router "$NICPROXY" --cleanup --config "$WORK/$mode.json" >"$WORK/$mode-cleanup.log" 2>&1
}

run_mode iptables
run_mode nftables
[[ $FAILED -eq 0 ]]
