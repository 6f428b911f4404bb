#!/usr/bin/env bash
# rbac_test.sh: least privilege, tested for real. nicproxy runs as deploy/ runs it (the
# DaemonSet's args, the ConfigMap's config.conf) against the fake API server, once in
# DPDK mode and once in nftables mode; the fake records every request (verb, API group,
# resource, namespace: GET /fake/requests), and tests/e2e/rbac_check.py holds the
# ClusterRole bound to the DaemonSet's ServiceAccount in deploy/ against them: each
# request allowed, each grant used by some run.
#
# Each run has a network namespace of its own: the fake on 127.0.0.1:6443 there, seeded
# with a Service, its EndpointSlice and the Node; nicproxy lists and watches, applies a
# Service added by a watch event, relists after a compaction (410), and stops on SIGTERM.
#   dpdk      net_af_packet on a veth pair inside the namespace (EAL --no-huge); the
#             ConfigMap's commented dpdk example, uncommented, with that device and, as
#             there, no address: nicproxy reads it from its Node's InternalIP
#   nftables  the ConfigMap's config.conf (its own nftables table in the namespace)
# Both with the kubeconfig pointed at the fake and a 100 ms minSyncPeriod.
# Then the checker runs on two broken copies of deploy/ (one verb more, one verb less),
# which must fail: the test can tell a wrong role from a right one.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
# Root only. Traffic stays on the loopback of the namespaces this script creates.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
FAKE=$BUILD_DIR/tests/fake_apiserver
CHECKER=$ROOT/tests/e2e/rbac_check.py

P=rb$$
WORK=$(mktemp -d /tmp/nicproxy-rbac.XXXXXX)
TOKEN="rbac-token-$$-$RANDOM"
NS=""
FAKE_PID=""
NP_PID=""
NODE=node-a

stop_pid() { # stop_pid PID SIGNAL: signal, then wait; sets STOP_RC
    STOP_RC=""
    [[ -n $1 ]] || return 0
    kill -s "$2" "$1" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -s KILL "$1" 2>/dev/null || true
    STOP_RC=0
    wait "$1" 2>/dev/null || STOP_RC=$?
}

end_run() {
    stop_pid "$NP_PID" TERM
    NP_PID=""
    stop_pid "$FAKE_PID" TERM
    FAKE_PID=""
    [[ -n $NS ]] && ip netns del "$NS" 2>/dev/null
    NS=""
}

cleanup() {
    trap - EXIT INT TERM
    end_run
    if [[ ${KEEP_WORK:-0} == 1 || $FAILED -ne 0 ]]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { ip netns exec "$NS" "$@"; }

# fake VERB QUERY [BODY]: one control request to the fake API server.
fake() {
    fake_api_request "$NS" "${FAKE_METHOD:-POST}" "$1?$2" "${3:-}"
}

service_json() { # NAME CLUSTERIP
    printf '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"demo","name":"%s"},"spec":{"type":"ClusterIP","clusterIP":"%s","clusterIPs":["%s"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}}' \
        "$1" "$2" "$2"
}
slice_json() { # NAME SERVICE ADDRESS
    printf '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"demo","name":"%s","labels":{"kubernetes.io/service-name":"%s"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}],"endpoints":[{"addresses":["%s"],"conditions":{"ready":true},"nodeName":"node-b"}]}' \
        "$1" "$2" "$3"
}
node_json() {
    printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","labels":{"topology.kubernetes.io/zone":"zone-a"}},"status":{"addresses":[{"type":"InternalIP","address":"10.77.0.1"},{"type":"Hostname","address":"%s"}]}}' \
        "$NODE" "$NODE"
}

# wait_log REGEX SECONDS: 0 found, 1 timeout, 2 nicproxy exited first.
wait_log() {
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        grep -Eq -- "$1" "$LOG" && return 0
        kill -0 "$NP_PID" 2>/dev/null || { grep -Eq -- "$1" "$LOG" && return 0; return 2; }
        sleep 0.1
    done
    return 1
}
tail_log() { tail -n 4 "$LOG" | tr '\n' '|' | cut -c1-400; }

# ---- prerequisites --------------------------------------------------------------------
CHECKS=(
    "rbac: dpdk run: nicproxy takes its port address from its Node, follows the fake API server (lists, a watch event, a relist) and stops with exit 0"
    "rbac: nftables run: nicproxy follows the fake API server (lists, a watch event, a relist) and stops with exit 0"
    "rbac: the checker"
)
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
for bin in "$NICPROXY" "$FAKE"; do
    [[ -x $bin ]] || { fail_all_from "no binary at $bin" 0; exit 1; }
done
python3 -c 'import yaml' 2>/dev/null || { fail_all_from "python3-yaml missing (scripts/setup.sh)" 0; exit 1; }

fake_api_credentials "$WORK" "$TOKEN" rbac-ca || {
    fail_all_from "openssl could not make certificates" 0
    exit 1
}

# The DaemonSet's container args with $(NODE_NAME) filled in and --config pointed at
# this run's copy; the ConfigMap's kubeconfig.conf with the fake's address, CA and token.

# write_run MODE IFACE: $WORK/MODE/{config.conf,kubeconfig.conf,args} from deploy/.
write_run() {
    mkdir -p "$WORK/$1"
    python3 - "$ROOT/deploy" "$WORK" "$1" "$2" "$NODE" <<'PY'
import re, sys, yaml
deploy, work, mode, iface, node = sys.argv[1:6]
docs = {}
for name in ("configmap.yaml", "daemonset.yaml"):
    with open(f"{deploy}/{name}") as f:
        for d in yaml.safe_load_all(f):
            docs[d["kind"]] = d
data = docs["ConfigMap"]["data"]
text = data["config.conf"]
if mode == "dpdk":
    # The commented example: every line from "# dpdk:" on, uncommented.
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("# dpdk:"))
    lines[start:] = [re.sub(r"^# ?", "", l) for l in lines[start:]]
    text = "\n".join(lines)
cfg = yaml.safe_load(text)
cfg["clientConnection"]["kubeconfig"] = f"{work}/{mode}/kubeconfig.conf"
# Quick syncs, so that the test does not wait out the defaults.
for section in ("nftables", "iptables", "ipvs"):
    if section in cfg:
        cfg[section]["minSyncPeriod"] = "100ms"
if mode == "dpdk":
    cfg["mode"] = "dpdk"
    cfg["dpdk"]["eal"] = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "-l", "0-1",
                          "--log-level", "*:warning", "--file-prefix", f"rbac{mode}"]
    # No address, as in the shared ConfigMap: nicproxy reads it from the Node (GET nodes/{name}).
    cfg["dpdk"]["ports"] = [{"device": f"net_af_packet0,iface={iface}", "prefixLength": 24}]
    cfg["dpdk"]["flowTableSize"] = 65536
with open(f"{work}/{mode}/config.conf", "w") as f:
    yaml.safe_dump(cfg, f, sort_keys=False)
kc = yaml.safe_load(data["kubeconfig.conf"])
kc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:6443"
kc["clusters"][0]["cluster"]["certificate-authority"] = f"{work}/ca.crt"
kc["users"][0]["user"]["tokenFile"] = f"{work}/token"
with open(f"{work}/{mode}/kubeconfig.conf", "w") as f:
    yaml.safe_dump(kc, f)
container = docs["DaemonSet"]["spec"]["template"]["spec"]["containers"][0]
args = []
for a in container.get("args", []):
    if a.startswith("--config="):
        a = f"--config={work}/{mode}/config.conf"
    a = a.replace("$(NODE_NAME)", node)
    args.append(a)
with open(f"{work}/{mode}/args", "w") as f:
    f.write("\n".join(args) + "\n")
PY
}

# run MODE CHECK_INDEX: one nicproxy run against a fresh fake; leaves $WORK/MODE/requests.json.
run() {
    local mode=$1 check=${CHECKS[$2]} args=() synced
    NS=$P-$mode
    LOG=$WORK/$mode/nicproxy.log
    if ! { ip netns add "$NS" && in_ns ip link set lo up; }; then
        fail "$check" "cannot make namespace $NS"
        return
    fi
    local iface=""
    if [[ $mode == dpdk ]]; then
        iface=rbv0
        if ! { in_ns ip link add rbv0 type veth peer name rbv1 && in_ns ip link set rbv0 up && in_ns ip link set rbv1 up; }; then
            fail "$check" "cannot make the veth pair"
            return
        fi
    fi
    write_run "$mode" "$iface" || { fail "$check" "could not derive the run's files from deploy/"; return; }
    mapfile -t args <"$WORK/$mode/args"

    if ! { start_fake_api "$NS" "$WORK/$mode/fake.log" 5 &&
        fake apply resource=services "$(service_json web 10.96.0.10)" >/dev/null &&
        fake apply resource=endpointslices "$(slice_json web-1 web 10.77.0.11)" >/dev/null &&
        fake apply resource=nodes "$(node_json)" >/dev/null; }; then
        fail "$check" "could not start or seed the fake API server: $(tr '\n' '|' <"$WORK/$mode/fake.log")"
        return
    fi

    ip netns exec "$NS" env --default-signal=INT,QUIT "$NICPROXY" "${args[@]}" >"$LOG" 2>&1 &
    NP_PID=$!
    wait_log '(data path|proxy) ready' 30
    case $? in
        0) ;;
        1) fail "$check" "not ready within 30 s; log: $(tail_log)"; return ;;
        *) fail "$check" "nicproxy exited before it was ready; log: $(tail_log)"; return ;;
    esac
    # A Service and slice by watch event: wait for the sync that applies it.
    synced=$(grep -c 'synced generation' "$LOG")
    fake apply resource=services "$(service_json late 10.96.0.77)" >/dev/null
    fake apply resource=endpointslices "$(slice_json late-1 late 10.77.0.12)" >/dev/null
    local deadline=$((SECONDS + 10))
    while (($(grep -c 'synced generation' "$LOG") <= synced)) && ((SECONDS < deadline)); do sleep 0.1; done
    local applied=$(($(grep -c 'synced generation' "$LOG") > synced))
    # A compaction: every watch gets a 410 ERROR event and nicproxy lists again.
    fake compact "" >/dev/null
    wait_log 'listing again' 10
    local relisted=$?
    # Let the new watches open before the stop, so the record holds them.
    sleep 1
    stop_pid "$NP_PID" TERM
    NP_PID=""
    local rc=$STOP_RC
    FAKE_METHOD=GET fake requests "" >"$WORK/$mode/requests.json"
    end_run
    # The dpdk run's port address must have come from the Node, or nodes:get went untested.
    local from_node=1
    [[ $mode == dpdk ]] && ! grep -q 'address 10.77.0.1/24 from the InternalIP of Node' "$LOG" && from_node=0
    if [[ $applied == 1 && $relisted == 0 && $rc == 0 && $from_node == 1 ]] && grep -q 'listed services' "$LOG"; then
        pass "$check ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$WORK/$mode/requests.json") requests)"
    else
        fail "$check" "watch event applied: $applied; relist after 410: $([[ $relisted == 0 ]] && echo yes || echo no); port address from the Node: $from_node; exit status $rc; log: $(tail_log)"
    fi
}

echo "---- dpdk"
run dpdk 0
echo "---- nftables"
run nftables 1

# ---- the role against the record -----------------------------------------------------
runs=()
for mode in dpdk nftables; do
    [[ -s $WORK/$mode/requests.json ]] && runs+=("$mode=$WORK/$mode/requests.json")
done
if [[ ${#runs[@]} -eq 0 ]]; then
    fail "rbac: the ClusterRole in deploy/ against nicproxy's requests" "no run recorded any request"
    exit 1
fi
[[ ${#runs[@]} -eq 2 ]] || fail "rbac: both runs recorded" "only ${runs[*]%%=*}"
python3 "$CHECKER" "$ROOT/deploy" "${runs[@]}" || FAILED=$((FAILED + 1))

# ---- the checker tells a wrong role: one verb more, one verb less --------------------
# break NAME PYTHON: a copy of deploy/ whose ClusterRole's rules `rules` PYTHON changed.
break_role() {
    rm -rf "${WORK:?}/$1" && cp -r "$ROOT/deploy" "$WORK/$1" && python3 - "$WORK/$1/rbac.yaml" "$2" <<'PY'
import sys, yaml
path, change = sys.argv[1:3]
with open(path) as f:
    docs = list(yaml.safe_load_all(f))
rules = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
exec(change)
with open(path, "w") as f:
    yaml.safe_dump_all(docs, f)
PY
}
break_role more 'rules[0]["verbs"].append("get")'
out=$(python3 "$CHECKER" "$WORK/more" "${runs[@]}" 2>&1)
REASON="checker said: $(tr '\n' '|' <<<"$out" | cut -c1-400)"
check "rbac: a role with one verb more (get services) fails the check, naming it" \
    grep -q '^FAIL: .*granted but never used: get core/services' <<<"$out"
break_role less 'next(r for r in rules if "endpointslices" in r["resources"])["verbs"].remove("watch")'
out=$(python3 "$CHECKER" "$WORK/less" "${runs[@]}" 2>&1)
REASON="checker said: $(tr '\n' '|' <<<"$out" | cut -c1-400)"
check "rbac: a role with one verb less (watch endpointslices) fails the check, naming it" \
    grep -q '^FAIL: .*denied: .*watch discovery.k8s.io/endpointslices' <<<"$out"

[[ $FAILED -eq 0 ]]
