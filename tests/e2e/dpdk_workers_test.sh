#!/usr/bin/env bash
# dpdk_workers_test.sh: nicproxy with two workers (net_af_packet qpairs=2) and the
# Kubernetes semantics of issue 4, end to end with real curl, real servers and SIGHUP
# reloads. This machine has 2 CPUs: EAL --lcores 0@0,1@1,2@1 puts the main lcore on
# CPU 0 and both worker lcores on CPU 1 (they time-share it).
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100 (+ 10.50.0.101-108 for the
# affinity and source-range checks), backends be1 10.50.0.11 (nodeName node-a, this
# node), be2 10.50.0.12 and be3 10.50.0.13 (node-b); nicproxy on the node veth
# answering for 10.50.0.1. Services (tests/e2e/gen_scale_services.py, namespace scale):
#   web        10.96.0.10:80 + NodePort 30080 -> be1-3
#   sticky     10.96.0.11:80 ClientIP affinity, timeoutSeconds 4
#   local      10.96.0.12:80 + NodePort 30082, externalTrafficPolicy Local -> be1 (local), be2, be3
#   localnone  10.96.0.13:80 + NodePort 30083, externalTrafficPolicy Local -> be2, be3 (none local)
#   lb         LoadBalancer 10.50.0.60:80 + NodePort 30084, loadBalancerSourceRanges 10.50.0.100/32
#   rst        10.96.0.16:80 -> be2, later be3 (removed endpoint: TCP reset)
#   udp        10.96.0.20:53/UDP -> be2, later be3 (removed endpoint: UDP flow deleted)
#   storm      10.96.0.15:80 -> be1-3, be3 flipping terminating during the update storm
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

PREFIX="npw$$"
WORK=$(mktemp -d /tmp/nicproxy-workers.XXXXXX)
LOG="$WORK/nicproxy.log"
SERVICES="$WORK/services.json"
GEN="$ROOT/tests/e2e/gen_scale_services.py"
HOLD="$ROOT/tests/e2e/hold_client.py"
BG_PIDS=()

e2e_before_cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
}
e2e_install_traps

in_client() { h_in_ns "$PREFIX" client "$@"; }

CHECKS=(
    "startup: two workers on net_af_packet qpairs=2"
    "concurrency: 600 requests, 20 at a time, ClusterIP and NodePort, no failure"
    "affinity: 8 clients each stick to one endpoint across both workers"
    "affinity: the record holds after the endpoint set grows"
    "affinity: after the timeout clients follow the new endpoint set"
    "eTP Local: NodePort uses only the local endpoint, ClusterIP all"
    "eTP Local without local endpoints: NodePort dropped, ClusterIP works"
    "source ranges: LB IP only from 10.50.0.100/32, NodePort from anyone"
    "removed endpoint: an open TCP connection gets a RST"
    "removed endpoint: the UDP flow moves to the live endpoint at once"
    "update storm: 20 SIGHUP reloads during 300 requests, no failure"
    "full flow table: new flows dropped or unanswered ones evicted, counted; an open connection carries on"
    "shutdown: both workers created flows and replies were redirected"
)

if [[ $(id -u) -ne 0 ]]; then fail_all_from "needs root" 0; exit 1; fi
if [[ ! -x $NICPROXY ]]; then fail_all_from "no nicproxy binary at $NICPROXY" 0; exit 1; fi

if ! topo_up "$PREFIX"; then fail_all_from "topology setup failed" 0; exit 1; fi
if ! h_start_backends "$PREFIX" "$WORK"; then fail_all_from "backend servers did not start" 0; exit 1; fi
CLIENT_IF=$(topo_if "$PREFIX" client)
for i in $(seq 101 108); do in_client ip addr add "10.50.0.$i/24" dev "$CLIENT_IF"; done

python3 "$GEN" "$SERVICES" || { fail_all_from "could not write the services file" 0; exit 1; }
python3 - "$WORK" "$(topo_node_if "$PREFIX")" "$PREFIX" <<'PY' || { fail_all_from "could not write the config" 0; exit 1; }
import json, sys
work, iface, prefix = sys.argv[1:4]
cfg = {
    "mode": "dpdk",
    "nodeName": "node-a",
    "servicesFile": "services.json",
    "dpdk": {
        "eal": ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--file-prefix", prefix,
                "--lcores", "0@0,1@1,2@1", "--log-level", "*:warning"],
        "ports": [{"device": f"net_af_packet0,iface={iface},qpairs=2", "address": "10.50.0.1/24"}],
        "workers": 2,
        "flowTableSize": 2048,
    },
    "conntrack": {"tcpCloseWaitTimeout": "20s", "udpTimeout": "5s", "udpStreamTimeout": "5s"},
}
with open(f"{work}/nicproxy.json", "w") as f:
    json.dump(cfg, f, indent=4)
PY
h_start_nicproxy "$PREFIX" "$WORK/nicproxy.json" "$LOG"
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    *) fail_all_from "no 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac
if grep -qE 'data path ready: .* 2 workers' "$LOG" && grep -q 'qpairs=2' "$WORK/nicproxy.json"; then
    pass "${CHECKS[0]} ($(grep -oE '2 workers on lcores [0-9,]+' "$LOG"))"
else
    fail "${CHECKS[0]}" "log: $(grep 'data path ready' "$LOG")"
fi

deadline=$((SECONDS + 10))
until in_client curl -sS --max-time 1 -o /dev/null http://10.96.0.10/ 2>/dev/null; do
    ((SECONDS >= deadline)) && break
    sleep 0.2
done

# parallel_get URL N P [CURL_ARGS...]: N requests, P at a time; one line each (body or ERR:rc).
parallel_get() {
    local url=$1 n=$2 p=$3
    shift 3
    # shellcheck disable=SC2016  # expanded by the inner bash
    seq "$n" | in_client xargs -P "$p" -I{} bash -c \
        'out=$(curl -sS --max-time 5 "$@" 2>/dev/null) && echo "$out" || echo "ERR:$?"' _ "$@" "$url"
}
summary() { sort | uniq -c | awk '{printf "%s%s x%s", s, $2, $1; s=", "}'; }
reloads() { grep -c 'dpdk: synced generation' "$LOG"; }
# reload ARGS...: rewrite the services file with ARGS, SIGHUP, wait for the new sync.
reload() {
    local before
    before=$(reloads)
    python3 "$GEN" "$SERVICES" "$@" || return 1
    kill -HUP "$H_NICPROXY_PID"
    local deadline=$((SECONDS + 5))
    while (($(reloads) <= before)); do
        ((SECONDS >= deadline)) && return 1
        sleep 0.05
    done
}

# ---- concurrency --------------------------------------------------------------------
out=$( { parallel_get http://10.96.0.10/ 400 20; parallel_get http://10.50.0.1:30080/ 200 20; } )
bad=$(grep -cvE '^backend-[123]:8080$' <<<"$out")
distinct=$(grep -E '^backend-[123]:8080$' <<<"$out" | sort -u | wc -l)
if [[ $bad -eq 0 && $distinct -eq 3 ]]; then
    pass "${CHECKS[1]} ($(summary <<<"$out"))"
else
    fail "${CHECKS[1]}" "$bad failed, $distinct endpoints: $(summary <<<"$out")"
fi

# ---- affinity -----------------------------------------------------------------------
# per_client N: N requests to the sticky service from each of 10.50.0.101-108, the
# clients side by side (so that a loaded machine cannot stretch one phase past the
# 4 s affinity timeout), one line per client: "IP ENDPOINT[,ENDPOINT...]" (distinct
# answers), in client order.
per_client() {
    local n=$1 ip dir pids=()
    dir=$(mktemp -d "$WORK/clients.XXXXXX")
    for ip in $(seq 101 108); do
        # shellcheck disable=SC2016
        in_client bash -c 'for ((i = 0; i < $2; i++)); do curl -sS --max-time 3 --interface "$1" http://10.96.0.11/ || echo ERR; done' \
            _ "10.50.0.$ip" "$n" >"$dir/$ip" &
        pids+=($!)
    done
    wait "${pids[@]}"
    for ip in $(seq 101 108); do sort -u "$dir/$ip" | paste -sd, | sed "s/^/10.50.0.$ip /"; done
}
phase1=$(per_client 6)
if ! grep -qv ' backend-1:8080$' <<<"$phase1"; then
    pass "${CHECKS[2]}"
else
    fail "${CHECKS[2]}" "$(tr '\n' '|' <<<"$phase1")"
fi
if reload --sticky-endpoints be1,be2,be3; then
    phase2=$(per_client 6)
    if ! grep -qv ' backend-1:8080$' <<<"$phase2"; then
        pass "${CHECKS[3]}"
    else
        fail "${CHECKS[3]}" "$(tr '\n' '|' <<<"$phase2")"
    fi
    sleep 5
    phase3=$(per_client 6)
    moved=$(grep -cv ' backend-1:8080$' <<<"$phase3")
    if grep -qE ',|ERR' <<<"$phase3"; then
        fail "${CHECKS[4]}" "a client saw more than one endpoint or an error: $(tr '\n' '|' <<<"$phase3")"
    elif [[ $moved -ge 1 ]]; then
        pass "${CHECKS[4]} ($moved of 8 moved: $(awk '{print $2}' <<<"$phase3" | summary))"
    else
        fail "${CHECKS[4]}" "no client moved: $(tr '\n' '|' <<<"$phase3")"
    fi
else
    fail "${CHECKS[3]}" "reload failed"
    fail "${CHECKS[4]}" "reload failed"
fi

# ---- traffic policies -----------------------------------------------------------------
np=$(parallel_get http://10.50.0.1:30082/ 30 5)
cip=$(parallel_get http://10.96.0.12/ 30 5)
if [[ $(sort -u <<<"$np") == "backend-1:8080" ]] && [[ $(grep -c '^backend-[123]:8080$' <<<"$cip") -eq 30 ]] &&
    [[ $(sort -u <<<"$cip" | wc -l) -ge 2 ]]; then
    pass "${CHECKS[5]} (NodePort: $(summary <<<"$np"); ClusterIP: $(summary <<<"$cip"))"
else
    fail "${CHECKS[5]}" "NodePort: $(summary <<<"$np"); ClusterIP: $(summary <<<"$cip")"
fi
none_rc=0
in_client curl -sS --max-time 2 -o /dev/null http://10.50.0.1:30083/ 2>/dev/null || none_rc=$?
cip_none=$(parallel_get http://10.96.0.13/ 10 5)
if [[ $none_rc -eq 28 ]] && ! grep -qv '^backend-[23]:8080$' <<<"$cip_none"; then
    pass "${CHECKS[6]} (NodePort: curl timed out; ClusterIP: $(summary <<<"$cip_none"))"
else
    fail "${CHECKS[6]}" "NodePort curl exit $none_rc (want 28, a drop); ClusterIP: $(summary <<<"$cip_none")"
fi

# ---- source ranges --------------------------------------------------------------------
allowed=$(in_client curl -sS --max-time 3 http://10.50.0.60/ 2>&1)
denied_rc=0
in_client curl -sS --max-time 2 --interface 10.50.0.101 -o /dev/null http://10.50.0.60/ 2>/dev/null || denied_rc=$?
nodeport=$(in_client curl -sS --max-time 3 --interface 10.50.0.101 http://10.50.0.1:30084/ 2>&1)
if [[ $allowed =~ ^backend-[123]:8080$ && $denied_rc -eq 28 && $nodeport =~ ^backend-[123]:8080$ ]]; then
    pass "${CHECKS[7]}"
else
    fail "${CHECKS[7]}" "allowed: '$allowed', other source: curl exit $denied_rc (want 28), NodePort: '$nodeport'"
fi

# ---- removed endpoints ----------------------------------------------------------------
in_client python3 "$HOLD" reset 10.96.0.16 80 8 >"$WORK/hold-reset.out" 2>&1 &
hold_pid=$!
deadline=$((SECONDS + 5))
until grep -q connected "$WORK/hold-reset.out" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.1; done
udp_sock_out=$(in_client python3 - <<'PY' 2>&1
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.50.0.100", 45353))
s.settimeout(2)
s.sendto(b"one", ("10.96.0.20", 53))
print(s.recv(100).decode())
PY
)
if reload --rst-endpoint be3 --udp-endpoint be3; then :; else echo "# reload for removed endpoints failed"; fi
rst_rc=0
wait "$hold_pid" || rst_rc=$?
after=$(in_client curl -sS --max-time 3 http://10.96.0.16/ 2>&1)
if [[ $rst_rc -eq 0 && $(tail -n 1 "$WORK/hold-reset.out") == reset && $after == backend-3:8080 ]]; then
    pass "${CHECKS[8]}"
else
    fail "${CHECKS[8]}" "hold client: $(tr '\n' ' ' <"$WORK/hold-reset.out")(exit $rst_rc); new request: '$after'"
fi
udp_after=$(in_client python3 - <<'PY' 2>&1
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.50.0.100", 45353))
s.settimeout(2)
s.sendto(b"two", ("10.96.0.20", 53))
print(s.recv(100).decode())
PY
)
if [[ $udp_sock_out == backend-2:udp:one && $udp_after == backend-3:udp:two ]]; then
    pass "${CHECKS[9]}"
else
    fail "${CHECKS[9]}" "before: '$udp_sock_out' (want backend-2:udp:one), after: '$udp_after' (want backend-3:udp:two)"
fi

# ---- update storm ---------------------------------------------------------------------
parallel_get http://10.96.0.15/ 300 10 >"$WORK/storm.out" &
storm_pid=$!
BG_PIDS+=("$storm_pid")
storm_reloads=0
for round in $(seq 1 20); do
    reload --storm-round "$round" --rst-endpoint be3 --udp-endpoint be3 && storm_reloads=$((storm_reloads + 1))
    sleep 0.15
done
wait "$storm_pid"
BG_PIDS=()
bad=$(grep -cvE '^backend-[123]:8080$' "$WORK/storm.out")
total=$(wc -l <"$WORK/storm.out")
if [[ $bad -eq 0 && $total -eq 300 && $storm_reloads -eq 20 ]]; then
    pass "${CHECKS[10]} ($(summary <"$WORK/storm.out"); $storm_reloads reloads)"
else
    fail "${CHECKS[10]}" "$bad of $total failed, $storm_reloads of 20 reloads synced: $(summary <"$WORK/storm.out")"
fi

# ---- full flow table ------------------------------------------------------------------
GO="$WORK/go"
in_client python3 "$HOLD" request 10.96.0.10 80 "$GO" >"$WORK/hold-request.out" 2>&1 &
hold_pid=$!
deadline=$((SECONDS + 5))
until grep -q connected "$WORK/hold-request.out" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.1; done
# 2 x 2048 entries: 9000 new UDP flows from distinct source ports fill both tables.
in_client python3 - <<'PY'
import socket
for port in range(20000, 29000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("10.50.0.100", port))
    s.sendto(b"x", ("10.96.0.20", 53))
    s.close()
PY
sleep 0.5
touch "$GO"
full_rc=0
wait "$hold_pid" || full_rc=$?
held=$(tail -n 1 "$WORK/hold-request.out")

# ---- shutdown -------------------------------------------------------------------------
h_stop_nicproxy TERM 15
counter() { grep -oE "(^|[[:space:]])$1[[:space:]]+[0-9]+" "$LOG" | tail -n 1 | awk '{ print $2 + 0 }'; }
full=$(counter drop_flow_table_full)
# Past 7/8 of a table, a new flow first evicts a flow that has not seen a reply (early
# drop, docs/conntrack.md); only when none is left is it dropped. Which of the two the
# flood meets depends on how fast the echo replies come back (a loaded machine: slower,
# more flows unanswered, more early drops). Either way the pressure is counted.
early=$(counter flows_early_dropped)
if [[ $full_rc -eq 0 && $held =~ ^backend-[123]:8080$ && $((${full:-0} + ${early:-0})) -gt 0 ]]; then
    pass "${CHECKS[11]} (drop_flow_table_full ${full:-0}, flows_early_dropped ${early:-0}; the open connection answered $held)"
else
    fail "${CHECKS[11]}" "open connection: '$held' (exit $full_rc); drop_flow_table_full=${full:-none} flows_early_dropped=${early:-none}"
fi
w0=$(grep -oE 'worker 0 \(lcore [0-9]+\): flows_created [0-9]+' "$LOG" | awk '{print $NF}')
w1=$(grep -oE 'worker 1 \(lcore [0-9]+\): flows_created [0-9]+' "$LOG" | awk '{print $NF}')
redirected=$(counter redirected)
if [[ $H_NICPROXY_RC == 0 && ${w0:-0} -gt 0 && ${w1:-0} -gt 0 && ${redirected:-0} -gt 0 ]]; then
    pass "${CHECKS[12]} (flows: worker 0 $w0, worker 1 $w1; redirected $redirected)"
else
    fail "${CHECKS[12]}" "exit $H_NICPROXY_RC, flows_created worker 0 '${w0:-}' worker 1 '${w1:-}', redirected '${redirected:-}'"
fi

[[ $FAILED -eq 0 ]]
