#!/usr/bin/env bash
# conntrack_reconcile_test.sh: a UDP flow to an endpoint removed while nicproxy was down
# (kill -9) is cleaned by the conntrack reconciler at the restart's first full sync, and
# nothing else is: real kernel mode nicproxy (iptables, then nftables) in a router
# namespace, real netfilter and conntrack, UDP clients that keep sending.
#
# Addresses (scripts/netns_router_topology.sh): client 10.10.0.2, router (the node)
# 10.10.0.1, be1 10.21.0.2, be2 10.22.0.2, be3 10.23.0.2. Services (written below):
# dns 10.96.5.10:53/UDP NodePort 30053 -> be1:5353; keep 10.96.5.11:53/UDP -> be2:5353;
# web 10.96.5.12:80/TCP -> be1:8080. While nicproxy is down, be1 leaves dns and web (it
# keeps running, so the stale entries keep answering until they are deleted).
#
# Flows from the client, each from its own source port, sending every 0.2 s:
#   A 10.96.5.10:53     dns's ClusterIP               stale after the change: deleted
#   B 10.10.0.1:30053   dns's NodePort on the node    stale: deleted
#   C 10.96.5.11:53     keep, still valid             kept
#   D 10.21.0.2:5353    be1 itself, no Service        kept (its reply source is be1 too)
#   E 10.23.0.2:30053   the node port number elsewhere  kept (not a node address)
#   F 10.10.0.1:30054   the node, no NodePort         kept
# and one TCP connection to web (TIME_WAIT, 120 s): kept, although its endpoint went too.
# "Kept" means the very same entry (same conntrack id, no fewer packets), not one
# recreated by the next datagram: the no-flush check compares every entry before and
# after the restart.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=$BUILD_DIR/daemon/nicproxy

WORK=$(mktemp -d /tmp/nicproxy-ctrec.XXXXXX)
P=""
NP_PID=""
PIDS=()

in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

stop_all() {
    [[ -n $NP_PID ]] && kill -KILL "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    NP_PID=""
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    PIDS=()
    [[ -n $P ]] && rtopo_down "$P"
    P=""
}
cleanup() {
    stop_all
    if [[ $FAILED -eq 0 && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ! -x $NICPROXY ]]; then
    fail "nicproxy built" "$NICPROXY missing"
    exit 1
fi
if ! command -v conntrack >/dev/null; then
    echo "SKIP: conntrack_reconcile_test.sh needs the conntrack tool (apt-get install conntrack) to look at the table"
    exit 0
fi

# services DNS_ENDPOINTS WEB_ENDPOINTS: the services file, endpoints as JSON arrays.
services() {
    python3 - "$1" "$2" <<'PY'
import json, sys
dns_eps, web_eps = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def service(name, ip, port, proto, target, node_port=None):
    p = {"name": "p", "port": port, "protocol": proto, "targetPort": target}
    if node_port:
        p["nodePort"] = node_port
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "e2e"},
            "spec": {"clusterIP": ip, "clusterIPs": [ip], "type": "NodePort" if node_port else "ClusterIP",
                     "ports": [p]}}
def slice_(name, port, proto, addresses):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name + "-1", "namespace": "e2e",
                         "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "p", "port": port, "protocol": proto}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses]}
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    service("dns", "10.96.5.10", 53, "UDP", 5353, 30053), slice_("dns", 5353, "UDP", dns_eps),
    service("keep", "10.96.5.11", 53, "UDP", 5353), slice_("keep", 5353, "UDP", ["10.22.0.2"]),
    service("web", "10.96.5.12", 80, "TCP", 8080), slice_("web", 8080, "TCP", web_eps),
]}, indent=1))
PY
}

# A UDP client that sends "q" every 0.2 s from one source port and logs each answer.
cat >"$WORK/udp_stream.py" <<'PY'
import socket, sys, time
host, port, sport, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", sport))
with open(log, "a", buffering=1) as out:
    while True:
        due = time.monotonic() + 0.2
        try:
            s.sendto(b"q", (host, port))
            s.settimeout(0.2)
            out.write(s.recv(200).decode(errors="replace") + "\n")
        except OSError:  # no answer in time, or an ICMP error
            pass
        time.sleep(max(0.0, due - time.monotonic()))
PY

# entries: every conntrack entry in the router, one line each: protocol, original
# tuple, reply source, id and packets sent by the client (timeouts, states and flags
# left out: they move).
entries() {
    in_ns router conntrack -L -o id 2>/dev/null | awk '{
        proto = $1; src = ""; dst = ""; sport = ""; dport = ""; rsrc = ""; id = ""; packets = ""; n = 0
        for (i = 1; i <= NF; i++) {
            split($i, kv, "=")
            if (kv[1] == "src") { n++; if (n == 1) src = kv[2]; else rsrc = kv[2] }
            else if (kv[1] == "dst" && dst == "") dst = kv[2]
            else if (kv[1] == "sport" && sport == "") sport = kv[2]
            else if (kv[1] == "dport" && dport == "") dport = kv[2]
            else if (kv[1] == "packets" && packets == "") packets = kv[2]
            else if (kv[1] == "id") id = kv[2]
        }
        print proto, src ":" sport, "->", dst ":" dport, "reply-from", rsrc, "id=" id, "packets=" packets
    }' | sort
}
# missing_entries BEFORE AFTER PATTERN: the entries of BEFORE matching PATTERN that are
# not the same entry in AFTER: same tuple and id, and at least as many packets (the id
# alone is not enough: an entry deleted and recreated at once may get the same one).
missing_entries() {
    PAT=$3 awk '
        function key(line) { return substr(line, 1, index(line, " id=") - 1) }
        function num(line, name) {
            match(line, " " name "=[0-9]+")
            return substr(line, RSTART + length(name) + 2, RLENGTH - length(name) - 2) + 0
        }
        FNR == NR { after[key($0)] = $0; next }
        $0 ~ ENVIRON["PAT"] {
            a = after[key($0)]
            if (a == "" || num(a, "id") != num($0, "id") || num(a, "packets") < num($0, "packets")) print
        }' "$2" "$1"
}
# flow FILE SPORT: the entry of the flow from the client's source port SPORT.
flow() { grep -E " 10\.10\.0\.2:$2 " "$1"; }
# answered_by FILE SPORT ADDRESS: that flow's entry exists and is answered from ADDRESS.
answered_by() { flow "$1" "$2" | grep -q "reply-from $3 "; }
# has_flows FILE SPORT...: every one of those flows has an entry.
has_flows() {
    local s
    for s in "${@:2}"; do flow "$1" "$s" >/dev/null || return 1; done
}
not() { ! "$@"; }
# Before the change: A and B go to be1, C to be2; D, E, F and the TCP connection exist.
service_flows_there() { answered_by "$1" 41001 10.21.0.2 && answered_by "$1" 41002 10.21.0.2 && answered_by "$1" 41003 10.22.0.2; }
other_flows_there() { has_flows "$1" 41004 41005 41006 && grep -q "^tcp .*-> 10.96.5.12:80 reply-from 10.21.0.2 " "$1"; }
# same_entries BEFORE AFTER PATTERN: BEFORE has entries matching PATTERN, and AFTER the
# same ones.
same_entries() {
    grep -qE -- "$3" "$1" && [[ -z $(missing_entries "$1" "$2" "$3") ]]
}

run_mode() {
    local mode=$1 a b
    P=ct${mode:0:1}$$
    P=${P:0:10}
    echo "---- mode $mode"
    if ! rtopo_up "$P"; then
        fail "$mode: topology" "rtopo_up failed"
        return
    fi
    # Packet counts per entry: they tell an entry kept from one deleted and recreated.
    in_ns router sysctl -qw net.netfilter.nf_conntrack_acct=1
    for i in 1 2; do
        ip netns exec "$(rtopo_ns "$P" "be$i")" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" --http 8080 --udp 5353 \
            --quiet >"$WORK/$mode-backend-$i.log" 2>&1 &
        PIDS+=("$!")
    done
    for i in 1 2; do
        for _ in $(seq 50); do grep -qs listening "$WORK/$mode-backend-$i.log" && break; sleep 0.1; done
    done
    services '["10.21.0.2"]' '["10.21.0.2"]' >"$WORK/services.json"
    cat >"$WORK/$mode.json" <<JSON
{"mode": "$mode", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json",
 "iptables": {"minSyncPeriod": "100ms"}, "nftables": {"minSyncPeriod": "100ms"}}
JSON
    if ! rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/$mode.json" "$WORK/$mode-1.log"; then
        fail "$mode: nicproxy starts" "no 'kernel proxy ready' in its log"
        stop_all
        return
    fi

    local flows=("A 10.96.5.10 53 41001" "B 10.10.0.1 30053 41002" "C 10.96.5.11 53 41003"
        "D 10.21.0.2 5353 41004" "E 10.23.0.2 30053 41005" "F 10.10.0.1 30054 41006")
    local f name host port sport
    for f in "${flows[@]}"; do
        read -r name host port sport <<<"$f"
        ip netns exec "$(rtopo_ns "$P" client)" python3 "$WORK/udp_stream.py" "$host" "$port" "$sport" "$WORK/$mode-flow-$name.log" \
            >/dev/null 2>>"$WORK/$mode-clients.err" &
        PIDS+=("$!")
    done
    a=$(in_ns client curl -sS --max-time 3 http://10.96.5.12/ 2>&1)
    REASON="answer: $a"
    check "$mode: TCP through web's ClusterIP reaches be1 (its entry stays in TIME_WAIT)" grep -q '^backend-1:8080' <<<"$a"
    # Up to 10 s for the clients to start (a busy machine) and their flows to show.
    for _ in $(seq 50); do
        entries >"$WORK/$mode-before"
        [[ -s $WORK/$mode-flow-A.log ]] && service_flows_there "$WORK/$mode-before" &&
            other_flows_there "$WORK/$mode-before" && break
        sleep 0.2
    done
    a=$(sort -u "$WORK/$mode-flow-A.log" 2>/dev/null | tr '\n' ';')
    REASON="answers: $a"
    check "$mode: the UDP client of dns gets answers from be1" test "$a" = "backend-1:udp:q;"

    REASON="$(tr '\n' ';' <"$WORK/$mode-before")"
    a=$WORK/$mode-before
    check "$mode: conntrack holds flows A, B (DNAT'ed to be1) and C (to be2)" \
        service_flows_there "$a"
    REASON="$(tr '\n' ';' <"$WORK/$mode-before")"
    check "$mode: conntrack holds flows D, E, F (no Service) and the TCP connection" \
        other_flows_there "$a"

    # nicproxy dies; be1 leaves dns and web meanwhile; the stale entries keep answering.
    kill -KILL "$NP_PID"
    wait "$NP_PID" 2>/dev/null
    NP_PID=""
    services '[]' '[]' >"$WORK/services.json"
    a=$(wc -l <"$WORK/$mode-flow-A.log")
    sleep 1
    b=$(wc -l <"$WORK/$mode-flow-A.log")
    REASON="$a answers, then $b"
    check "$mode: while nicproxy is down, the stale entry keeps the client talking to be1" test "$b" -gt "$a"
    entries >"$WORK/$mode-down"

    if ! rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/$mode.json" "$WORK/$mode-2.log"; then
        fail "$mode: nicproxy restarts" "no 'kernel proxy ready' in its log"
        stop_all
        return
    fi
    # "ready" is logged after the first sync, which is full: the reconciler has run.
    entries >"$WORK/$mode-after"
    REASON="$(flow "$WORK/$mode-after" 41001)"
    check "$mode: after the restart, flow A's entry to the removed endpoint is gone" \
        not answered_by "$WORK/$mode-after" 41001 10.21.0.2
    REASON="$(flow "$WORK/$mode-after" 41002)"
    check "$mode: ... and flow B's (NodePort)" not answered_by "$WORK/$mode-after" 41002 10.21.0.2
    a=$(wc -l <"$WORK/$mode-flow-A.log")
    sleep 1
    b=$(wc -l <"$WORK/$mode-flow-A.log")
    REASON="$a answers, then $b"
    check "$mode: the client of dns gets no more answers from be1" test "$b" = "$a"
    REASON="before: $(flow "$WORK/$mode-down" 41003); after: $(flow "$WORK/$mode-after" 41003)"
    check "$mode: flow C's entry (another, valid Service) is the same entry" \
        same_entries "$WORK/$mode-down" "$WORK/$mode-after" ' 10\.10\.0\.2:41003 '
    REASON="$(grep '^tcp' "$WORK/$mode-after" | tr '\n' ';')"
    check "$mode: the TCP entry to the removed endpoint is the same entry (UDP only)" \
        same_entries "$WORK/$mode-down" "$WORK/$mode-after" '^tcp .*-> 10\.96\.5\.12:80 '
    REASON="after: $(for s in 41004 41005 41006; do flow "$WORK/$mode-after" $s; done | tr '\n' ';')"
    check "$mode: flows D, E, F (no Service frontend) keep the same entries" \
        same_entries "$WORK/$mode-down" "$WORK/$mode-after" ' 10\.10\.0\.2:4100[456] '
    REASON="$(grep conntrack "$WORK/$mode-2.log" | tr '\n' ';')"
    check "$mode: the log reports the reconciliation" grep -q "conntrack: reconciled .* deleted 2 of 2 stale" "$WORK/$mode-2.log"
    # No flush: every entry of the table just before the restart, but A's and B's, is
    # still the same entry.
    grep -vE ' 10\.10\.0\.2:4100[12] ' "$WORK/$mode-down" >"$WORK/$mode-expected"
    a=$(missing_entries "$WORK/$mode-expected" "$WORK/$mode-after" .)
    # shellcheck disable=SC2034  # check reads it
    REASON="missing: $(tr '\n' ';' <<<"$a")"
    check "$mode: no flush: every other entry ($(wc -l <"$WORK/$mode-expected")) is the same entry" test -z "$a"
    stop_all
}

run_mode iptables
run_mode nftables
[[ $FAILED -eq 0 ]]
