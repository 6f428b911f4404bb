#!/usr/bin/env bash
# ipvs_test.sh: mode "ipvs" in a router namespace (scripts/netns_router_topology.sh).
#
# Where the kernel has IPVS (/proc/net/ip_vs) and dummy interfaces: nicproxy programs
# IPVS, kube-ipvs0, the ipsets and iptables in the router namespace; real curl from the
# client namespace reaches the HTTP backends through a ClusterIP and a NodePort
# (masqueraded: the backend sees the router), an unknown port on the ClusterIP and a
# service without endpoints are refused; a restart leaves the same IPVS table (no
# duplicates); --cleanup removes the virtual servers, kube-ipvs0 and the ipsets.
# Where it has not (this project's CI kernel): mode "ipvs" fails at start naming the
# missing modules, after logging "Using ipvs Proxier", and --cleanup succeeds.
#
# Addresses: client 10.10.0.2, router (the node) 10.10.0.1, backends be1 10.21.0.2 and
# be2 10.22.0.2 (clusterCIDR 10.20.0.0/14). Services (tests/e2e/kernel-services.json):
# web 10.96.1.10:80 NodePort 30080 -> be1,be2 :8080; empty 10.96.1.13:80, no endpoints.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=$BUILD_DIR/daemon/nicproxy
P=ipvs$$
WORK=$(mktemp -d /tmp/nicproxy-ipvs.XXXXXX)
NP_PID=""
BACKEND_PIDS=()
in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

cleanup() {
    [[ -n $NP_PID ]] && kill -TERM "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    [[ -n ${NP_RAN:-} ]] && in_ns router "$NICPROXY" --cleanup >/dev/null 2>&1
    for pid in "${BACKEND_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BACKEND_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rtopo_down "$P"
    if [[ $FAILED -eq 0 ]]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT

cat >"$WORK/ipvs.json" <<JSON
{"mode": "ipvs", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "$ROOT/tests/e2e/kernel-services.json",
 "ipvs": {"scheduler": "rr", "minSyncPeriod": "100ms"}}
JSON
rtopo_up "$P" || { fail "topology" "rtopo_up failed"; exit 1; }

if [[ ! -e /proc/net/ip_vs ]]; then
    echo "SKIP: real-kernel IPVS traffic test: /proc/net/ip_vs is absent (this kernel has no IPVS)"
    in_ns router "$NICPROXY" --config "$WORK/ipvs.json" >"$WORK/log" 2>&1
    rc=$?
    REASON="exit $rc: $(tail -n 1 "$WORK/log")"
    failed_naming_modules() { [[ $rc -eq 1 ]] && grep -q "missing modules ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh" "$WORK/log"; }
    check "mode ipvs without kernel IPVS fails at start naming the missing modules" failed_naming_modules
    check "mode ipvs logs 'Using ipvs Proxier'" grep -q 'Using ipvs Proxier' "$WORK/log"
    in_ns router "$NICPROXY" --cleanup >"$WORK/cleanup.log" 2>&1
    rc=$?
    REASON="exit $rc: $(tail -n 1 "$WORK/cleanup.log")"
    check "--cleanup succeeds without kernel IPVS" test $rc -eq 0
    [[ $FAILED -eq 0 ]]
    exit
fi

# ---- The kernel has IPVS.
for i in 1 2; do
    in_ns "be$i" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" --http 8080 --echo-client --quiet \
        >"$WORK/backend-$i.log" 2>&1 &
    BACKEND_PIDS+=("$!")
done
for i in 1 2; do
    for _ in $(seq 50); do grep -qs listening "$WORK/backend-$i.log" && break; sleep 0.1; done
done

start_nicproxy() { # start_nicproxy LOGNAME
    NP_RAN=1
    rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/ipvs.json" "$WORK/$1.log"
}
stop_nicproxy() { kill -TERM "$NP_PID" 2>/dev/null; wait "$NP_PID" 2>/dev/null; NP_PID=""; }
curl_from() { in_ns "$1" curl -sS --max-time "${3:-3}" "$2" 2>"$WORK/curl.err"; }
answers() { local i; for i in $(seq "$3"); do curl_from "$1" "$2" || echo "curl-exit-$?"; done | sort -u; }
curl_exit() { curl_from "$1" "$2" "${3:-3}" >/dev/null; echo $?; }
# The IPVS table without the connection counters.
ipvs_table() { in_ns router cat /proc/net/ip_vs | awk 'NR > 3 { print $1, $2, $3, $4 }' | sort; }

if ! start_nicproxy first; then
    fail "mode ipvs starts" "no 'kernel proxy ready' in its log"
    exit 1
fi
check "mode ipvs logs 'Using ipvs Proxier'" grep -q 'Using ipvs Proxier' "$WORK/first.log"
a=$(answers client http://10.96.1.10/ 24)
REASON="answers: $(echo "$a" | tr '\n' ';')"
check "ipvs: ClusterIP reaches both backends, masqueraded" \
    test "$a" = $'backend-1:8080 from 10.21.0.1\nbackend-2:8080 from 10.22.0.1'
a=$(answers client http://10.10.0.1:30080/ 24)
REASON="answers: $(echo "$a" | tr '\n' ';')"
check "ipvs: NodePort reaches both backends, masqueraded" \
    test "$a" = $'backend-1:8080 from 10.21.0.1\nbackend-2:8080 from 10.22.0.1'
a=$(curl_exit client http://10.96.1.10:8080/)
REASON="curl exit $a: $(cat "$WORK/curl.err")"
check "ipvs: an unknown port on a ClusterIP is refused (KUBE-IPVS-FILTER)" test "$a" = 7
a=$(curl_exit client http://10.96.1.13/)
REASON="curl exit $a: $(cat "$WORK/curl.err")"
check "ipvs: a ClusterIP without endpoints is refused" test "$a" = 7
REASON="$(in_ns router ip -br addr show kube-ipvs0 2>&1)"
vip_bound() { in_ns router ip -br addr show kube-ipvs0 | grep -q 10.96.1.10/32; }
check "ipvs: the ClusterIP is on kube-ipvs0" vip_bound

before=$(ipvs_table)
stop_nicproxy
if start_nicproxy second; then
    after=$(ipvs_table)
    REASON="$(diff <(echo "$before") <(echo "$after") | head -n 5 | tr '\n' ';')"
    check "ipvs: a restart leaves the same IPVS table (no duplicates)" test "$before" = "$after"
    stop_nicproxy
else
    fail "ipvs: restart" "no 'kernel proxy ready' after the restart"
fi

in_ns router "$NICPROXY" --cleanup >"$WORK/cleanup.log" 2>&1
rc=$?
REASON="exit $rc: $(tail -n 1 "$WORK/cleanup.log")"
check "--cleanup succeeds" test $rc -eq 0
REASON="$(ipvs_table | head -n 3 | tr '\n' ';')"
check "--cleanup removes the virtual servers" test -z "$(ipvs_table)"
no_dummy() { ! in_ns router ip link show kube-ipvs0 >/dev/null 2>&1; }
check "--cleanup removes kube-ipvs0" no_dummy
REASON="$(in_ns router ipset list -n | tr '\n' ' ')"
check "--cleanup removes the ipsets" test -z "$(in_ns router ipset list -n)"
[[ $FAILED -eq 0 ]]
