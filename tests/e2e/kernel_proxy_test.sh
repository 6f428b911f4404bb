#!/usr/bin/env bash
# kernel_proxy_test.sh: nicproxy as a kernel-only proxy (mode iptables, then nftables)
# in a router namespace, real netfilter, real curl, real HTTP backends.
#
# Addresses (scripts/netns_router_topology.sh): client 10.10.0.2 (outside clusterCIDR),
# router 10.10.0.1 (the node, nodeName "router"), backends ("pods", clusterCIDR
# 10.20.0.0/14) be1 10.21.0.2 (on this node), be2 10.22.0.2 (on node-b), be3 10.23.0.2
# (a pod used as a client). Services (tests/e2e/kernel-services.json): web 10.96.1.10:80
# NodePort 30080 external IP 192.0.2.10 -> be1,be2 :8080 (named targetPort);
# dns 10.96.1.15:53/UDP -> be2:5353; local 10.96.1.11 NodePort 30081 eTP Local -> be1,be2; local-none NodePort 30082 eTP
# Local -> be2 only; empty 10.96.1.13 NodePort 30083, no endpoints; lb 10.96.1.14 LB IP
# 192.0.2.20 sourceRanges 10.10.0.0/24 -> be1.
#
# Checks per mode: ClusterIP, NodePort and external IP reach both backends and are
# masqueraded (the backend sees the router); a pod's ClusterIP connection keeps its
# address; an endpoint reaching itself (hairpin) is masqueraded; eTP Local keeps the client's address and uses only the local endpoint; eTP
# Local without a local endpoint is dropped (timeout); no endpoints is refused; LB
# source ranges; restart leaves the same rules (no duplicates); a service removed while
# nicproxy was down is gone after the restart's full sync; SIGHUP brings it back;
# moving the UDP service's endpoint deletes the conntrack entries of the old one;
# --cleanup removes everything, twice in a row.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}

P=k5$$
WORK=$(mktemp -d /tmp/nicproxy-kernel.XXXXXX)
NP_PID=""
BACKEND_PIDS=()

in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

cleanup() {
    [[ -n $NP_PID ]] && kill -INT "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    for pid in "${BACKEND_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BACKEND_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rtopo_down "$P"
    if [[ $FAILED -eq 0 ]]; then rm -rf "$WORK"; else echo "logs kept in $WORK"; fi
}
trap cleanup EXIT

if [[ ! -x $NICPROXY ]]; then
    fail "nicproxy built" "$NICPROXY missing"
    exit 1
fi
rtopo_up "$P" || { fail "topology" "rtopo_up failed"; exit 1; }
for i in 1 2; do
    ip netns exec "$(rtopo_ns "$P" "be$i")" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" \
        --http 8080 --udp 5353 --echo-client --quiet >"$WORK/backend-$i.log" 2>&1 &
    BACKEND_PIDS+=("$!")
done
for i in 1 2; do
    for _ in $(seq 50); do grep -qs listening "$WORK/backend-$i.log" && break; sleep 0.1; done
done
echo "iptables in use: $(iptables --version) (Debian's default alternative)"

cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"

start_nicproxy() { # start_nicproxy MODE LOGNAME
    rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/$1.json" "$WORK/$2.log"
}

# reload LOGFILE: SIGHUP, then wait until the log shows one more sync.
reload() { hup_and_wait "$NP_PID" "$1" "synced generation"; }

stop_nicproxy() {
    kill -TERM "$NP_PID" 2>/dev/null
    wait "$NP_PID" 2>/dev/null
    NP_PID=""
}

# curl_from ROLE URL: prints the body; exit status is curl's.
curl_from() { in_ns "$1" curl -sS --max-time "${3:-3}" "$2" 2>"$WORK/curl.err"; }

# answers ROLE URL N: the distinct answers of N requests, one per line, sorted.
answers() {
    local i
    for i in $(seq "$3"); do curl_from "$1" "$2" || echo "curl-exit-$?"; done | sort -u
}

curl_exit() { curl_from "$1" "$2" "${3:-3}" >/dev/null; echo $?; }

# ruleset MODE: what nicproxy installed, without counters, for before/after comparisons.
# nft lists chains in creation order and map elements in hash order, so for nftables
# the comparison is of sorted lines, one element per line (a duplicate still shows).
ruleset() {
    if [[ $1 == iptables ]]; then
        in_ns router iptables-save | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
    else
        in_ns router nft list table ip kube-proxy 2>/dev/null |
            sed -E 's/elements = \{ //; s/ \}$//; s/,$//; s/^[[:space:]]+//' | sort
    fi
}

run_mode() {
    local mode=$1 a
    cat >"$WORK/$mode.json" <<JSON
{"mode": "$mode", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json",
 "iptables": {"minSyncPeriod": "100ms"}, "nftables": {"minSyncPeriod": "100ms"}}
JSON
    echo "---- mode $mode"
    if ! start_nicproxy "$mode" "$mode-1"; then
        fail "$mode: nicproxy starts" "no 'kernel proxy ready' in its log"
        return
    fi
    REASON="log: $(head -n 1 "$WORK/$mode-1.log")"
    check "$mode: logs 'Using $mode Proxier'" grep -q "Using $mode Proxier" "$WORK/$mode-1.log"

    a=$(answers client http://10.96.1.10/ 24)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: ClusterIP reaches both backends, masqueraded" \
        test "$a" = $'backend-1:8080 from 10.21.0.1\nbackend-2:8080 from 10.22.0.1'

    a=$(answers client http://10.10.0.1:30080/ 24)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: NodePort reaches both backends, masqueraded" \
        test "$a" = $'backend-1:8080 from 10.21.0.1\nbackend-2:8080 from 10.22.0.1'

    a=$(answers client http://192.0.2.10/ 24)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: external IP reaches both backends" \
        test "$a" = $'backend-1:8080 from 10.21.0.1\nbackend-2:8080 from 10.22.0.1'

    a=$(answers be3 http://10.96.1.10/ 24)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: a pod's ClusterIP connection keeps its source address" \
        test "$a" = $'backend-1:8080 from 10.23.0.2\nbackend-2:8080 from 10.23.0.2'

    # Hairpin: be1 reaches itself through lb's ClusterIP (be1 its only endpoint). Only
    # masquerade makes this work: without it be1 would answer itself directly, from an
    # address its client socket does not expect.
    a=$(answers be1 http://10.96.1.14/ 4)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: hairpin: an endpoint reaching itself through its ClusterIP is masqueraded" \
        test "$a" = "backend-1:8080 from 10.21.0.1"

    a=$(answers client http://10.10.0.1:30081/ 12)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: eTP Local NodePort: local endpoint only, client address kept" \
        test "$a" = "backend-1:8080 from 10.10.0.2"

    a=$(curl_exit client http://10.10.0.1:30082/ 2)
    REASON="curl exit $a"
    check "$mode: eTP Local without a local endpoint is dropped (timeout)" test "$a" = 28

    a=$(curl_exit client http://10.96.1.13/)
    REASON="curl exit $a: $(cat "$WORK/curl.err")"
    check "$mode: ClusterIP without endpoints is refused" test "$a" = 7
    a=$(curl_exit client http://10.10.0.1:30083/)
    REASON="curl exit $a: $(cat "$WORK/curl.err")"
    check "$mode: NodePort without endpoints is refused" test "$a" = 7

    a=$(answers client http://192.0.2.20/ 4)
    REASON="answers: $(echo "$a" | tr '\n' ';')"
    check "$mode: LB IP from inside loadBalancerSourceRanges" test "$a" = "backend-1:8080 from 10.21.0.1"
    a=$(curl_exit be3 http://192.0.2.20/ 2)
    REASON="curl exit $a"
    check "$mode: LB IP from outside loadBalancerSourceRanges is dropped" test "$a" = 28
    if [[ $mode == iptables ]]; then
        # The router would otherwise forward it upstream (also silent): the counter of
        # KUBE-PROXY-FIREWALL's rule shows that rule dropped it.
        a=$(in_ns router iptables-save -c -t filter | grep -- '-A KUBE-PROXY-FIREWALL' | grep -oE '^\[[0-9]+' | tr -d '[')
        REASON="packets counted: ${a:-none}"
        check "$mode: ... by the KUBE-PROXY-FIREWALL rule" test "${a:-0}" -gt 0
    fi

    # UDP: an entry towards be2 exists; moving the endpoint to be1 (SIGHUP) deletes it.
    a=$(in_ns client python3 "$ROOT/scripts/udp_client.py" 10.96.1.15 53 --payload q --timeout 2)
    REASON="reply: $a"
    check "$mode: UDP through the ClusterIP" test "$a" = "backend-2:udp:q"
    a=$(in_ns router conntrack -L -p udp --orig-dst 10.96.1.15 2>/dev/null | grep -c 'src=10.22.0.2')
    REASON="$a entries"
    check "$mode: conntrack holds the UDP flow to be2" test "$a" -ge 1
    python3 - "$WORK/services.json" <<'PY'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
for item in data["items"]:
    if item["metadata"]["name"] == "dns-1":
        item["endpoints"][0]["addresses"] = ["10.21.0.2"]
json.dump(data, open(path, "w"))
PY
    reload "$WORK/$mode-1.log" || fail "$mode: SIGHUP sync" "no new 'synced generation' line"
    a=$(in_ns router conntrack -L -p udp --orig-dst 10.96.1.15 2>/dev/null | grep -c 'src=10.22.0.2')
    REASON="$a entries left"
    check "$mode: removing the UDP endpoint deleted its conntrack entries" test "$a" = 0
    a=$(in_ns client python3 "$ROOT/scripts/udp_client.py" 10.96.1.15 53 --payload r --timeout 2)
    REASON="reply: $a"
    check "$mode: UDP now reaches the new endpoint" test "$a" = "backend-1:udp:r"
    cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"
    reload "$WORK/$mode-1.log" || fail "$mode: SIGHUP sync" "no new 'synced generation' line"

    # Restart: the rules stay while nicproxy is down and come back identical.
    ruleset "$mode" >"$WORK/$mode-rules-1"
    stop_nicproxy
    a=$(answers client http://10.96.1.10/ 4 | sed 's/ from.*//' | sort -u | head -n 1)
    REASON="answer: $a"
    check "$mode: Services keep working while nicproxy is stopped" grep -q '^backend-' <<<"$a"
    start_nicproxy "$mode" "$mode-2" || fail "$mode: nicproxy restarts"
    ruleset "$mode" >"$WORK/$mode-rules-2"
    REASON="$(diff "$WORK/$mode-rules-1" "$WORK/$mode-rules-2" | head -n 5 | tr '\n' ';')"
    check "$mode: a restart leaves exactly the same rules (no duplicates)" \
        cmp -s "$WORK/$mode-rules-1" "$WORK/$mode-rules-2"
    if [[ $mode == iptables ]]; then
        a=$(in_ns router iptables-save -t nat | grep -c -- '-j KUBE-SERVICES$')
        REASON="$a jumps to KUBE-SERVICES"
        check "$mode: one jump each from PREROUTING and OUTPUT" test "$a" = 2
    else
        a=$(in_ns router nft list chain ip kube-proxy nat-prerouting | grep -c 'jump services')
        REASON="$a jumps"
        check "$mode: one jump from nat-prerouting" test "$a" = 1
    fi

    # A service removed while nicproxy is down is gone after the restart.
    stop_nicproxy
    python3 - "$WORK/services.json" <<'PY'
import json, sys
path = sys.argv[1]
data = json.load(open(path))
data["items"] = [i for i in data["items"] if i["metadata"]["name"] not in ("web", "web-1")]
json.dump(data, open(path, "w"))
PY
    start_nicproxy "$mode" "$mode-3" || fail "$mode: nicproxy restarts with fewer services"
    a=$(ruleset "$mode" | grep -c 'e2e/web:http')
    REASON="$a lines mention e2e/web:http"
    check "$mode: restart removes the rules of a service deleted meanwhile" test "$a" = 0
    a=$(curl_exit client http://10.96.1.10/ 2)
    REASON="curl exit $a"
    check "$mode: the deleted service no longer answers" test "$a" != 0

    # SIGHUP re-reads the file: the service is back (an incremental sync).
    cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"
    reload "$WORK/$mode-3.log" || fail "$mode: SIGHUP sync" "no new 'synced generation' line"
    a=$(answers client http://10.96.1.10/ 4 | sed 's/:8080 from.*//' | sort -u | head -n 1)
    REASON="answer: $a"
    check "$mode: SIGHUP brings the service back" grep -q '^backend-' <<<"$a"

    stop_nicproxy
    in_ns router "$NICPROXY" --cleanup --config "$WORK/$mode.json" >"$WORK/$mode-cleanup.log" 2>&1
    a=$?
    REASON="exit $a: $(tail -n 2 "$WORK/$mode-cleanup.log" | tr '\n' ';')"
    check "$mode: --cleanup exits 0" test "$a" = 0
    a=$( (in_ns router iptables-save; in_ns router nft list ruleset) | grep -cE 'KUBE-|kube-proxy')
    REASON="$a lines left"
    check "$mode: --cleanup leaves no iptables chain and no nftables table" test "$a" = 0
    in_ns router "$NICPROXY" --cleanup >/dev/null 2>&1
    a=$?
    REASON="exit $a"
    check "$mode: --cleanup again (nothing there) exits 0" test "$a" = 0
    a=$(curl_exit client http://10.96.1.10/ 2)
    REASON="curl exit $a"
    check "$mode: after --cleanup the ClusterIP is gone" test "$a" != 0
}

run_mode iptables
run_mode nftables
[[ $FAILED -eq 0 ]]
