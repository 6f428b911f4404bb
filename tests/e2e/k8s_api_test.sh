#!/usr/bin/env bash
# k8s_api_test.sh: nicproxy following a (fake) Kubernetes API server, end to end.
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100, backends 10.50.0.11-13
# (scripts/backend_server.py: HTTP 8080 and 9090), nicproxy on the node veth through
# net_af_packet answering for 10.50.0.1. The fake API server (build/tests/fake_apiserver:
# HTTPS with a certificate made here by openssl, bearer token, chunked watches) listens
# on 127.0.0.1:6443 inside the node namespace, where nicproxy's control thread runs;
# nicproxy reads a kubeconfig (certificate-authority, tokenFile). The test changes the
# cluster through the fake's /fake/* control endpoints.
# Services (namespace "demo"):
#   web   10.96.0.10:80 -> 8080 on 10.50.0.11-13   present before nicproxy starts (initial list)
#   late  10.96.0.77:80 -> 9090 on 10.50.0.12      created by a watch event, then deleted
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
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"

PREFIX="npk$$"
WORK=$(mktemp -d /tmp/nicproxy-e2e-k8s.XXXXXX)
LOG="$WORK/nicproxy.log"
FAKE="$H_BUILD_DIR/tests/fake_apiserver"
TOKEN="e2e-token-$$-$RANDOM"
FAKE_PID=""

e2e_before_cleanup() {
    stop_fake_api
}
e2e_install_traps

in_client() { h_in_ns "$PREFIX" client "$@"; }
in_node() { h_in_ns "$PREFIX" node "$@"; }

# fake VERB QUERY [BODY]: one control request to the fake API server.
fake() {
    fake_api_request "$(topo_ns "$PREFIX" node)" POST "$1?$2" "${3:-}"
}

service_json() { # NAME CLUSTERIP PORT TARGETPORT
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"demo","name":"%s"},"spec":{"type":"ClusterIP","clusterIP":"%s","clusterIPs":["%s"],"ports":[{"name":"http","protocol":"TCP","port":%s,"targetPort":%s}]}}' \
        "$1" "$2" "$2" "$3" "$4"
}
slice_json() { # NAME SERVICE PORT ADDRESS...
    local name=$1 svc=$2 port=$3 eps="" a
    shift 3
    for a in "$@"; do
        eps+="${eps:+,}{\"addresses\":[\"$a\"],\"conditions\":{\"ready\":true},\"nodeName\":\"node-b\"}"
    done
    printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"demo","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":%s}],"endpoints":[%s]}' \
        "$name" "$svc" "$port" "$eps"
}

# wait_http URL REGEX SECONDS: polls until one answer matches; prints the last answer.
wait_http() {
    local url=$1 regex=$2 secs=$3 out deadline
    deadline=$((SECONDS + secs))
    while true; do
        out=$(in_client curl -sS --max-time 1 "$url" 2>&1)
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

# wait_unreachable URL SECONDS: polls until a request gets no answer at all.
wait_unreachable() {
    local url=$1 secs=$2 deadline
    deadline=$((SECONDS + secs))
    while in_client curl -sS --max-time 1 -o /dev/null "$url" 2>/dev/null; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.2
    done
    return 0
}

CHECKS=(
    "k8s: nicproxy lists and watches the API server over HTTPS and starts the data path"
    "k8s: a Service from the initial list is reachable (10.96.0.10:80)"
    "k8s: a Service created by a watch event becomes reachable (10.96.0.77:80 -> backend-2:9090)"
    "k8s: the Service's deletion makes it unreachable"
    "k8s: after a 410 (ERROR event) nicproxy relists and a later endpoint change applies"
    "k8s: with the API server gone, the last good state keeps forwarding"
    "k8s: the bearer token never appears in the log"
    "k8s: SIGTERM stops nicproxy with exit code 0"
    "k8s: --validate names the API server from the kubeconfig"
    "k8s: --validate rejects servicesFile together with --kubeconfig, naming servicesFile"
)


# ---- prerequisites --------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
for bin in "$NICPROXY" "$FAKE"; do
    if [[ ! -x $bin ]]; then
        fail_all_from "no binary at $bin" 0
        exit 1
    fi
done

# ---- certificates, kubeconfig, config -------------------------------------------------
fake_api_credentials "$WORK" "$TOKEN" || {
    fail_all_from "openssl could not make certificates: $(tail -n 3 "$WORK/openssl.log" | tr '\n' '|')" 0
    exit 1
}
fake_api_kubeconfig "$WORK/kubeconfig"

# --validate before anything runs: the kubeconfig is read, the server is not contacted.
python3 - "$ROOT/configs/demo.json" "$WORK/validate.json" "$WORK/kubeconfig" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    cfg = json.load(f)
cfg.pop("servicesFile", None)
cfg["clientConnection"] = {"kubeconfig": sys.argv[3]}
with open(sys.argv[2], "w") as f:
    json.dump(cfg, f)
PY
out=$("$NICPROXY" --config "$WORK/validate.json" --validate 2>&1)
rc=$?
if [[ $rc -eq 0 && $out == *"API server https://127.0.0.1:6443"* && $out == *"tokenFile $WORK/token"* ]]; then
    pass "${CHECKS[8]}"
else
    fail "${CHECKS[8]}" "exit $rc: $(tr '\n' '|' <<<"$out")"
fi
out=$("$NICPROXY" --config "$ROOT/configs/demo.json" --kubeconfig "$WORK/kubeconfig" --validate 2>&1)
rc=$?
if [[ $rc -ne 0 && $rc -lt 128 && $out == *"servicesFile: cannot be used together with an API server"* ]]; then
    pass "${CHECKS[9]} (exit $rc)"
else
    fail "${CHECKS[9]}" "exit $rc: $(tr '\n' '|' <<<"$out")"
fi

if ! topo_up "$PREFIX"; then
    fail_all_from "topology setup failed" 0
    exit 1
fi
if ! h_start_backends "$PREFIX" "$WORK"; then
    fail_all_from "backend servers did not start" 0
    exit 1
fi
CONFIG="$WORK/nicproxy.json"
python3 - "$ROOT/configs/demo.json" "$CONFIG" "$(topo_node_if "$PREFIX")" <<'PY' || {
import json, re, sys
src, out, iface = sys.argv[1:4]
with open(src) as f:
    cfg = json.load(f)
cfg.pop("servicesFile", None)
cfg["clientConnection"] = {"kubeconfig": "kubeconfig"}
cfg["minSyncPeriod"] = "100ms"
cfg["syncPeriod"] = "30s"
for port in cfg["dpdk"]["ports"]:
    port["device"] = re.sub(r"iface=[^,]*", "iface=" + iface, port["device"])
with open(out, "w") as f:
    json.dump(cfg, f, indent=4)
PY
    fail_all_from "could not write the config" 0
    exit 1
}

# ---- the fake API server, seeded with web ---------------------------------------------
if ! start_fake_api "$(topo_ns "$PREFIX" node)" "$WORK/fake.log"; then
    fail_all_from "fake API server did not start: $(tr '\n' '|' <"$WORK/fake.log")" 0
    exit 1
fi
fake apply resource=services "$(service_json web 10.96.0.10 80 8080)" >/dev/null &&
    fake apply resource=endpointslices "$(slice_json web-1 web 8080 10.50.0.11 10.50.0.12 10.50.0.13)" >/dev/null || {
    fail_all_from "could not seed the fake API server" 0
    exit 1
}

# ---- nicproxy -------------------------------------------------------------------------
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    1) fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
    *) fail_all_from "nicproxy exited before 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac
if grep -q 'following the API server https://127.0.0.1:6443' "$LOG" && grep -q 'listed services: 1 objects' "$LOG" &&
    grep -q 'listed endpointslices: 1 objects' "$LOG"; then
    pass "${CHECKS[0]}"
else
    fail "${CHECKS[0]}" "log lacks 'following the API server' or the first lists: $(grep -m3 -E 'API server|listed' "$LOG" | tr '\n' '|')"
fi

# The client's first packet needs ARP for 10.50.0.1: up to 10 s.
if out=$(wait_http http://10.96.0.10/ '^backend-[123]:8080$' 10); then
    pass "${CHECKS[1]} ($out)"
else
    fail "${CHECKS[1]}" "answer '$out'"
fi

# ---- a Service created and deleted by watch events ------------------------------------
if in_client curl -sS --max-time 1 -o /dev/null http://10.96.0.77/ 2>/dev/null; then
    echo "# 10.96.0.77 answered before the service existed"
fi
fake apply resource=services "$(service_json late 10.96.0.77 80 9090)" >/dev/null
fake apply resource=endpointslices "$(slice_json late-1 late 9090 10.50.0.12)" >/dev/null
if out=$(wait_http http://10.96.0.77/ '^backend-2:9090$' 10); then
    pass "${CHECKS[2]} ($out)"
else
    fail "${CHECKS[2]}" "answer '$out'; log tail: $(tail -n 3 "$LOG" | tr '\n' '|')"
fi

fake delete "resource=services&namespace=demo&name=late" >/dev/null
fake delete "resource=endpointslices&namespace=demo&name=late-1" >/dev/null
if wait_unreachable http://10.96.0.77/ 10; then
    if out=$(wait_http http://10.96.0.10/ '^backend-[123]:8080$' 3); then
        pass "${CHECKS[3]} (web still answers: $out)"
    else
        fail "${CHECKS[3]}" "late is gone but web stopped answering too: '$out'"
    fi
else
    fail "${CHECKS[3]}" "http://10.96.0.77/ still answers 10 s after the deletion"
fi

# ---- 410 as an ERROR event: relist --------------------------------------------------------
fake compact "" >/dev/null
h_wait_log "$LOG" 'too old resource version \(410 Gone\); listing again' 10 "$H_NICPROXY_PID"
relisted=$?
fake apply resource=endpointslices "$(slice_json web-1 web 8080 10.50.0.13)" >/dev/null
# Wait for the sync that applies the change (minSyncPeriod may hold it back 100 ms):
# backend-3 also answers before it, one request in three, so an answer alone does not
# show that the new state is in force, and requests in that window still reach
# backend-1 and -2 (whose connections the sync then resets).
h_wait_log "$LOG" 'dpdk: synced generation [0-9]+: 1 frontends, 1 backends;' 10 "$H_NICPROXY_PID"
applied=$?
six=""
if [[ $relisted -eq 0 && $applied -eq 0 ]] && out=$(wait_http http://10.96.0.10/ '^backend-3:8080$' 10); then
    six=$(in_client bash -c 'for i in 1 2 3 4 5 6; do curl -sS --max-time 1 http://10.96.0.10/ 2>&1; echo; done' |
        grep -v '^$' | sort | uniq -c | tr -s ' \n' ' ')
fi
if [[ $six == " 6 backend-3:8080 " ]]; then
    pass "${CHECKS[4]}"
else
    fail "${CHECKS[4]}" "relist logged: $([[ $relisted -eq 0 ]] && echo yes || echo no); sync of the change logged: $([[ $applied -eq 0 ]] && echo yes || echo no); last answer '$out'; six more requests:${six:- not made}"
fi

# ---- the API server goes away -------------------------------------------------------------
stop_fake_api
sleep 1
out=$(in_client bash -c 'for i in 1 2 3 4 5; do curl -sS --max-time 2 http://10.96.0.10/ || echo ERR; echo; done' |
    grep -v '^$' | sort | uniq -c | tr -s ' \n' ' ')
if [[ $out == " 5 backend-3:8080 " ]]; then
    pass "${CHECKS[5]} ($out)"
else
    fail "${CHECKS[5]}" "answers: $out"
fi

if grep -qF "$TOKEN" "$LOG"; then
    fail "${CHECKS[6]}" "found in $LOG"
else
    pass "${CHECKS[6]}"
fi

h_stop_nicproxy TERM 15
if [[ $H_NICPROXY_RC == 0 ]]; then
    pass "${CHECKS[7]}"
else
    fail "${CHECKS[7]}" "exit status $H_NICPROXY_RC; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')"
fi

[[ $FAILED -eq 0 ]]
