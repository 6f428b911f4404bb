#!/usr/bin/env bash
# kernel_k8s_test.sh: nicproxy in a kernel mode (nftables, then iptables) following a
# (fake) Kubernetes API server, with real netfilter, real curl and real HTTP backends.
#
# Topology (scripts/netns_router_topology.sh): client 10.10.0.2, router 10.10.0.1 (the
# node: nicproxy and the fake API server run there), backends be1 10.21.0.2 and be2
# 10.22.0.2 (scripts/backend_server.py, HTTP 8080). The fake API server
# (build/tests/fake_apiserver: HTTPS with a certificate made here by openssl, bearer
# token, chunked watches) listens on 127.0.0.1:6443 in the router namespace; nicproxy
# reads a kubeconfig. The test changes the cluster through the fake's /fake/* endpoints.
# Services (namespace "demo"):
#   web   10.96.5.10:80 -> be1:8080   present before nicproxy starts (initial list)
#   late  10.96.5.77:80 -> be2:8080   created by watch events, then deleted by them
#
# Per mode: nicproxy waits for the first lists and serves web; late becomes reachable
# from the client; its deletion makes it unreachable (web still answers); with the API
# server killed, the last good state keeps forwarding; SIGTERM ends with status 0.
# NICPROXY may name another binary (scripts/test.sh runs this with the -Ddpdk=disabled
# build's); FAKE_APISERVER the fake (default BUILD_DIR/tests/fake_apiserver).
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
# Root only. Traffic stays inside the namespaces this script creates.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
FAKE=${FAKE_APISERVER:-$BUILD_DIR/tests/fake_apiserver}

P=kk$$
WORK=$(mktemp -d /tmp/nicproxy-kernel-k8s.XXXXXX)
TOKEN="e2e-token-$$-$RANDOM"
NP_PID=""
FAKE_PID=""
BACKEND_PIDS=()
MODES=(nftables iptables)
CHECKS_PER_MODE=(
    "nicproxy follows the API server: first lists, then 'kernel proxy ready'"
    "a Service from the initial list is reachable (10.96.5.10:80 -> backend-1)"
    "a Service and slice added by watch events become reachable (10.96.5.77:80 -> backend-2)"
    "a Service deleted by a watch event stops being reachable (web still answers)"
    "with the API server killed, the last good state keeps forwarding"
    "SIGTERM stops nicproxy with exit status 0"
)

in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

cleanup() {
    [[ -n $NP_PID ]] && kill -INT "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    stop_fake_api
    for pid in "${BACKEND_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BACKEND_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rtopo_down "$P"
    if [[ $FAILED -eq 0 ]]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT

# fail_mode_from MODE INDEX REASON: fails the mode's checks from INDEX on.
fail_mode_from() {
    local i
    for ((i = $2; i < ${#CHECKS_PER_MODE[@]}; i++)); do fail "$1: ${CHECKS_PER_MODE[$i]}" "$3"; done
}

# fake VERB QUERY [BODY]: one control request to the fake API server.
fake() {
    fake_api_request "$(rtopo_ns "$P" router)" POST "$1?$2" "${3:-}"
}

service_json() { # NAME CLUSTERIP
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"demo","name":"%s"},"spec":{"type":"ClusterIP","clusterIP":"%s","clusterIPs":["%s"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}}' \
        "$1" "$2" "$2"
}
slice_json() { # NAME SERVICE ADDRESS NODE
    printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"demo","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}],"endpoints":[{"addresses":["%s"],"conditions":{"ready":true},"nodeName":"%s"}]}' \
        "$1" "$2" "$3" "$4"
}

# wait_http URL REGEX SECONDS: polls from the client until an answer matches; prints the last.
wait_http() {
    local url=$1 regex=$2 secs=$3 out deadline
    deadline=$((SECONDS + secs))
    while true; do
        out=$(in_ns client curl -sS --max-time 1 "$url" 2>&1)
        if [[ $out =~ $regex ]]; then
            echo "$out"
            return 0
        fi
        if ((SECONDS >= deadline)); then
            echo "$out"
            return 1
        fi
        sleep 0.2
    done
}

# wait_unreachable URL SECONDS: polls until a request from the client gets no answer.
wait_unreachable() {
    local url=$1 secs=$2 deadline
    deadline=$((SECONDS + secs))
    while in_ns client curl -sS --max-time 1 -o /dev/null "$url" 2>/dev/null; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
    return 0
}

# start_fake LOG: the fake API server in the router namespace, seeded with web (the
# previous mode's is stopped first, should that mode have ended early).
start_fake() {
    stop_fake_api
    start_fake_api "$(rtopo_ns "$P" router)" "$1" || return 1
    fake apply resource=services "$(service_json web 10.96.5.10)" >/dev/null &&
        fake apply resource=endpointslices "$(slice_json web-1 web "$RTOPO_BE1_IP" router)" >/dev/null
}

run_mode() {
    local mode=$1 log="$WORK/$1.log" out rc
    echo "---- mode $mode"
    cat >"$WORK/$mode.json" <<JSON
{"mode": "$mode", "nodeName": "router", "clusterCIDR": "10.20.0.0/14",
 "clientConnection": {"kubeconfig": "kubeconfig"},
 "$mode": {"minSyncPeriod": "100ms"}}
JSON
    if ! start_fake "$WORK/fake-$mode.log"; then
        fail_mode_from "$mode" 0 "the fake API server did not start: $(tr '\n' '|' <"$WORK/fake-$mode.log")"
        return
    fi
    if ! rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/$mode.json" "$log" >/dev/null; then
        fail_mode_from "$mode" 0 "no 'kernel proxy ready' within 10 s: $(tail -n 5 "$log" | tr '\n' '|' | cut -c1-400)"
        kill -INT "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
        NP_PID=""
        return
    fi
    if grep -q "Using $mode Proxier" "$log" && grep -q 'following the API server https://127.0.0.1:6443' "$log" &&
        grep -q 'listed services: 1 objects' "$log" && grep -q 'listed endpointslices: 1 objects' "$log"; then
        pass "$mode: ${CHECKS_PER_MODE[0]}"
    else
        fail "$mode: ${CHECKS_PER_MODE[0]}" "log: $(head -n 8 "$log" | tr '\n' '|' | cut -c1-400)"
    fi

    if out=$(wait_http http://10.96.5.10/ '^backend-1:8080$' 5); then
        pass "$mode: ${CHECKS_PER_MODE[1]}"
    else
        fail "$mode: ${CHECKS_PER_MODE[1]}" "answer '$out'"
    fi

    if in_ns client curl -sS --max-time 1 -o /dev/null http://10.96.5.77/ 2>/dev/null; then
        echo "# 10.96.5.77 answered before the Service existed"
    fi
    fake apply resource=services "$(service_json late 10.96.5.77)" >/dev/null
    fake apply resource=endpointslices "$(slice_json late-1 late "$RTOPO_BE2_IP" node-b)" >/dev/null
    if out=$(wait_http http://10.96.5.77/ '^backend-2:8080$' 10); then
        pass "$mode: ${CHECKS_PER_MODE[2]}"
    else
        fail "$mode: ${CHECKS_PER_MODE[2]}" "answer '$out'; log tail: $(tail -n 3 "$log" | tr '\n' '|' | cut -c1-300)"
    fi

    fake delete "resource=services&namespace=demo&name=late" >/dev/null
    fake delete "resource=endpointslices&namespace=demo&name=late-1" >/dev/null
    if wait_unreachable http://10.96.5.77/ 10; then
        if out=$(wait_http http://10.96.5.10/ '^backend-1:8080$' 3); then
            pass "$mode: ${CHECKS_PER_MODE[3]}"
        else
            fail "$mode: ${CHECKS_PER_MODE[3]}" "late is gone but web stopped answering too: '$out'"
        fi
    else
        fail "$mode: ${CHECKS_PER_MODE[3]}" "http://10.96.5.77/ still answers 10 s after the deletion"
    fi

    # The reflectors lose their watches and retry with backoff; nothing is reprogrammed.
    stop_fake_api
    sleep 2
    local gone=yes
    if in_ns router curl -sS --max-time 1 -k -o /dev/null https://127.0.0.1:6443/ 2>/dev/null; then gone=no; fi
    out=$(for _ in 1 2 3 4 5; do in_ns client curl -sS --max-time 2 http://10.96.5.10/ 2>/dev/null || echo ERR; done |
        sort | uniq -c | tr -s ' \n' ' ')
    if [[ $gone == yes && $out == " 5 backend-1:8080 " ]] && kill -0 "$NP_PID" 2>/dev/null; then
        pass "$mode: ${CHECKS_PER_MODE[4]} ($out)"
    else
        fail "$mode: ${CHECKS_PER_MODE[4]}" "API server gone: $gone; answers:$out; nicproxy $(kill -0 "$NP_PID" 2>/dev/null && echo running || echo gone)"
    fi

    kill -TERM "$NP_PID" 2>/dev/null
    wait "$NP_PID" 2>/dev/null
    rc=$?
    NP_PID=""
    if [[ $rc -eq 0 ]]; then
        pass "$mode: ${CHECKS_PER_MODE[5]}"
    else
        fail "$mode: ${CHECKS_PER_MODE[5]}" "exit status $rc; log tail: $(tail -n 3 "$log" | tr '\n' '|' | cut -c1-300)"
    fi
    # The next mode starts from a clean kernel, as a node switching modes would.
    in_ns router "$NICPROXY" --cleanup >"$WORK/$mode-cleanup.log" 2>&1
}

# ---- prerequisites --------------------------------------------------------------------
fail_everything() {
    local mode
    for mode in "${MODES[@]}"; do fail_mode_from "$mode" 0 "$1"; done
    exit 1
}
[[ $(id -u) -eq 0 ]] || fail_everything "needs root"
for bin in "$NICPROXY" "$FAKE"; do
    [[ -x $bin ]] || fail_everything "no binary at $bin"
done
fake_api_credentials "$WORK" "$TOKEN" ||
    fail_everything "openssl could not make certificates: $(tail -n 3 "$WORK/openssl.log" | tr '\n' '|')"
fake_api_kubeconfig "$WORK/kubeconfig"

rtopo_up "$P" || fail_everything "topology setup failed"
for i in 1 2; do
    in_ns "be$i" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" --http 8080 --quiet \
        >"$WORK/backend-$i.log" 2>&1 &
    BACKEND_PIDS+=("$!")
done
for i in 1 2; do
    for _ in $(seq 50); do grep -qs listening "$WORK/backend-$i.log" && break; sleep 0.1; done
done

for mode in "${MODES[@]}"; do run_mode "$mode"; done
[[ $FAILED -eq 0 ]]
