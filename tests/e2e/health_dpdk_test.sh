#!/usr/bin/env bash
# health_dpdk_test.sh: /healthz and /livez in mode dpdk (health_test.sh covers the kernel
# modes and the details of the bodies). nicproxy on net_af_packet in the topology of
# dpdk_services_test.sh (scripts/netns_topology.sh: client 10.50.0.100, backends
# 10.50.0.11-13, nicproxy answering for 10.50.0.1; web's ClusterIP 10.96.0.10), following
# the fake API server (127.0.0.1:6443 in the node namespace) seeded with
# tests/e2e/e2e-services.json and the Node node-a. curl asks 127.0.0.1:10256 in the node
# namespace.
#
# In mode dpdk the health timeout is 2 x syncPeriod (the top-level one: 2s here, so 4 s).
# A sync is blocked with dpdk.kernelFallback "iptables" (real iptables-legacy, a private
# XTABLES_LOCKFILE) while the test holds the xtables lock: the fallback's sync of a change
# fails after its 5 s wait, and so do its retries.
#
# Checks: both 200 once the data path is ready, and web answers through it; the blocked
# change turns both 503 after the timeout while web still answers (the data path keeps
# forwarding); 200 again once the lock goes; the ToBeDeletedByClusterAutoscaler taint
# turns /healthz 503 (nodeEligible false) while /livez stays 200 and web still answers;
# a hung worker: its lcore's thread stopped alone with ptrace (hold_thread.py) for longer
# than the 5 s stall limit turns /livez and /healthz 503 while the HTTP thread answers, the
# log names the worker and lcore, and both are 200 again (and web answers) once released;
# SIGTERM exits 0.
set -uo pipefail
shopt -s extglob

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
FAKE=${FAKE_APISERVER:-$H_BUILD_DIR/tests/fake_apiserver}

PREFIX="nhd$$"
WORK=$(mktemp -d /tmp/nicproxy-health-dpdk.XXXXXX)
LOG=$WORK/nicproxy.log
FAKE_PID=""
HOLDER_PID=""
TRACER_PID=""

CHECKS=(
    "dpdk: /healthz and /livez answer 200 once the data path is ready"
    "dpdk: web's ClusterIP answers through the data path"
    "dpdk: a change whose kernel-fallback sync is blocked: /healthz and /livez 503 after the 4 s timeout, web still answers"
    "dpdk: the lock released: /healthz and /livez 200 again"
    "dpdk: the worker lcore's thread held with ptrace past the 5 s stall limit: /livez and /healthz 503 while the HTTP thread answers"
    "dpdk: the log names the stalled worker and its lcore"
    "dpdk: the worker released: /livez and /healthz 200 again, the thread untraced, web answers through the data path"
    "dpdk: the Node tainted ToBeDeletedByClusterAutoscaler: /healthz 503 nodeEligible false, /livez 200, web still answers"
    "dpdk: SIGTERM: exit 0, port 10256 closed"
)

stop_holder() {
    [[ -n $HOLDER_PID ]] || return 0
    pkill -P "$HOLDER_PID" 2>/dev/null
    kill "$HOLDER_PID" 2>/dev/null
    wait "$HOLDER_PID" 2>/dev/null
    HOLDER_PID=""
}
# The tracer detaches on SIGTERM (a finally block); were it gone already, the kernel has
# detached it. Either way the worker thread runs again before nicproxy is stopped.
stop_tracer() {
    [[ -n $TRACER_PID ]] || return 0
    kill "$TRACER_PID" 2>/dev/null
    wait "$TRACER_PID" 2>/dev/null
    TRACER_PID=""
}
e2e_before_cleanup() {
    stop_tracer
    h_stop_nicproxy
    h_stop_backends
    stop_fake_api
    stop_holder
}
e2e_install_traps

if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
for tool in iptables-legacy-restore flock curl jq openssl; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: health_dpdk_test.sh needs $tool"
        exit 0
    fi
done
if [[ ! -x $NICPROXY || ! -x $FAKE ]]; then
    fail_all_from "no nicproxy or fake API server binary ($NICPROXY, $FAKE)" 0
    exit 1
fi
topo_up "$PREFIX" || { fail_all_from "topo_up failed" 0; exit 1; }
h_start_backends "$PREFIX" "$WORK" || { fail_all_from "backends did not start" 0; exit 1; }
NODE_NS=$(topo_ns "$PREFIX" node)

mkdir -p "$WORK/bin"
for command in iptables iptables-save iptables-restore; do
    ln -s "$(command -v "${command/iptables/iptables-legacy}")" "$WORK/bin/$command"
done
export XTABLES_LOCKFILE=$WORK/xtables.lock
hold_lock() {
    flock "$XTABLES_LOCKFILE" sleep 120 &
    HOLDER_PID=$!
    sleep 0.3
}

fake_api_credentials "$WORK" "e2e-token-$$-$RANDOM" || { fail_all_from "openssl failed" 0; exit 1; }
fake_api_kubeconfig "$WORK/kubeconfig"
start_fake_api "$NODE_NS" "$WORK/fake.log" || { fail_all_from "the fake API server did not start" 0; exit 1; }
fake() { fake_api_request "$NODE_NS" POST "$1" "${2:-}" >/dev/null; }
node_json() { # SPEC_JSON (may be empty)
    printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"node-a"},%s"status":{"addresses":[{"type":"InternalIP","address":"10.50.0.1"}]}}' \
        "${1:+\"spec\":$1,}"
}
fake "apply?resource=nodes" "$(node_json "")"
while read -r item; do
    case $(jq -r .kind <<<"$item") in
        Service) fake "apply?resource=services" "$item" ;;
        EndpointSlice) fake "apply?resource=endpointslices" "$item" ;;
    esac
done < <(jq -c '.items[]' "$ROOT/tests/e2e/e2e-services.json")

CONFIG=$WORK/nicproxy.json
python3 - "$ROOT/configs/demo.json" "$(topo_node_if "$PREFIX")" "$CONFIG" <<'PY' || { fail_all_from "could not write the config" 0; exit 1; }
import json, re, sys
cfg = json.load(open(sys.argv[1]))
del cfg["servicesFile"]
cfg["clientConnection"] = {"kubeconfig": "kubeconfig"}
cfg["syncPeriod"] = "2s"
cfg["minSyncPeriod"] = "100ms"
cfg["dpdk"]["kernelFallback"] = "iptables"
for port in cfg["dpdk"]["ports"]:
    port["device"] = re.sub(r"iface=[^,]*", "iface=" + sys.argv[2], port["device"])
json.dump(cfg, open(sys.argv[3], "w"), indent=4)
PY

ip netns exec "$NODE_NS" env --default-signal=INT,QUIT PATH="$WORK/bin:$PATH" XTABLES_LOCKFILE="$XTABLES_LOCKFILE" \
    "$NICPROXY" --config "$CONFIG" >"$LOG" 2>&1 &
H_NICPROXY_PID=$!
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    1) fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
    *)
        if grep -q 'built without DPDK' "$LOG"; then
            echo "SKIP: health_dpdk_test.sh: this nicproxy was built without DPDK"
            exit 0
        fi
        fail_all_from "nicproxy exited before 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0
        exit 1
        ;;
esac

# probe PATH: CODE and BODY of GET http://127.0.0.1:10256/PATH in the node namespace.
probe() {
    BODY=$(ip netns exec "$NODE_NS" curl -sS --max-time 2 -w '\n%{http_code}' "http://127.0.0.1:10256/$1" 2>&1)
    CODE=${BODY##*$'\n'}
    BODY=${BODY%$'\n'*}
}
# wait_code PATH CODE SECONDS
wait_code() {
    local deadline=$((SECONDS + $3))
    while probe "$1" && [[ $CODE != "$2" ]]; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
}
web_answers() { ip netns exec "$(topo_ns "$PREFIX" client)" curl -sS --max-time 2 http://10.96.0.10/ 2>&1 | grep -q '^backend-'; }

wait_code healthz 200 5
healthz=$CODE
probe livez
livez=$CODE
REASON="/healthz $healthz, /livez $livez ($BODY)"
check "${CHECKS[0]}" eval '[[ $healthz == 200 && $livez == 200 ]]'
REASON="curl: $(ip netns exec "$(topo_ns "$PREFIX" client)" curl -sS --max-time 2 http://10.96.0.10/ 2>&1 | head -c 200)"
check "${CHECKS[1]}" web_answers

# A new Service while another program holds the xtables lock.
hold_lock
changed=$SECONDS
fake "apply?resource=services" '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"demo","name":"late"},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.77","clusterIPs":["10.96.0.77"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}}'
wait_code healthz 503 20
healthz=$CODE
took=$((SECONDS - changed))
probe livez
livez=$CODE
REASON="/healthz $healthz after ${took} s, /livez $livez ($BODY)"
check "${CHECKS[2]}" eval '[[ $healthz == 503 && $livez == 503 ]] && ((took >= 4)) && web_answers'
stop_holder
wait_code healthz 200 20
healthz=$CODE
probe livez
livez=$CODE
REASON="/healthz $healthz, /livez $livez ($BODY)"
check "${CHECKS[3]}" eval '[[ $healthz == 200 && $livez == 200 ]]'

# A hung worker: stop the worker lcore's thread alone (hold_thread.py: ptrace, so that the
# HTTP threads keep answering) for longer than the 5 s stall limit of the liveness check.
# EAL names a worker lcore's thread rte-worker-LCORE (Debian's 22.11; some releases say
# lcore-worker-LCORE).
WORKER_TID=""
for task in /proc/"$H_NICPROXY_PID"/task/*; do
    if [[ $(cat "$task/comm" 2>/dev/null) == @(rte|lcore)-worker-+([0-9]) ]]; then
        WORKER_TID=${task##*/}
        WORKER_COMM=$(cat "$task/comm")
        break
    fi
done
if [[ -z $WORKER_TID ]]; then
    fail_all_from "no rte-worker-* or lcore-worker-* thread in /proc/$H_NICPROXY_PID/task: $(cat /proc/"$H_NICPROXY_PID"/task/*/comm | tr '\n' ' ')" 4
    exit 1
fi
WORKER_LCORE=${WORKER_COMM##*-}
python3 "$ROOT/tests/e2e/hold_thread.py" "$WORKER_TID" 12 >"$WORK/tracer.out" 2>&1 &
TRACER_PID=$!
for _ in $(seq 50); do
    grep -q '^stopped' "$WORK/tracer.out" && break
    sleep 0.1
done
held=$SECONDS
stopped_state=$(awk '/^State:/ {print $2}' "/proc/$H_NICPROXY_PID/task/$WORKER_TID/status" 2>/dev/null)
wait_code livez 503 11
livez=$CODE
livez_body=$BODY
took=$((SECONDS - held))
probe healthz
healthz=$CODE
REASON="thread $WORKER_TID ($WORKER_COMM) state $stopped_state, tracer: $(tr '\n' ' ' <"$WORK/tracer.out"); /livez $livez after ${took} s ($livez_body), /healthz $healthz"
check "${CHECKS[4]}" eval '[[ $stopped_state == t && $livez == 503 && $healthz == 503 ]] && ((took >= 5))'
REASON="no 'answer 503: data path stalled: worker 0 on lcore $WORKER_LCORE' in the log; tail: $(tail -n 3 "$LOG" | tr '\n' '|')"
check "${CHECKS[5]}" grep -q "answer 503: data path stalled: worker 0 on lcore $WORKER_LCORE has not looped" "$LOG"
wait "$TRACER_PID"
tracer_rc=$?
TRACER_PID=""
tracer_pid_of_thread=$(awk '/^TracerPid:/ {print $2}' "/proc/$H_NICPROXY_PID/task/$WORKER_TID/status" 2>/dev/null)
wait_code livez 200 10
livez=$CODE
probe healthz
healthz=$CODE
REASON="tracer exit $tracer_rc ($(tr '\n' ' ' <"$WORK/tracer.out")), TracerPid $tracer_pid_of_thread, /livez $livez ($BODY), /healthz $healthz"
check "${CHECKS[6]}" eval '[[ $tracer_rc == 0 && $tracer_pid_of_thread == 0 && $livez == 200 && $healthz == 200 ]] && grep -q "^released" "$WORK/tracer.out" && web_answers'

fake "apply?resource=nodes" "$(node_json '{"taints":[{"key":"ToBeDeletedByClusterAutoscaler","value":"1714557600","effect":"NoSchedule"}]}')"
wait_code healthz 503 10
healthz=$CODE
eligible=$(jq -r .nodeEligible <<<"$BODY" 2>/dev/null)
probe livez
livez=$CODE
REASON="/healthz $healthz nodeEligible $eligible, /livez $livez"
check "${CHECKS[7]}" eval '[[ $healthz == 503 && $eligible == false && $livez == 200 ]] && web_answers'

h_stop_nicproxy TERM 15
ip netns exec "$NODE_NS" curl -sS --max-time 2 -o /dev/null http://127.0.0.1:10256/livez 2>/dev/null
curl_rc=$?
REASON="exit $H_NICPROXY_RC, curl exit $curl_rc (7: refused)"
check "${CHECKS[8]}" eval '[[ $H_NICPROXY_RC == 0 && $curl_rc == 7 ]]'

[[ $FAILED -eq 0 ]]
