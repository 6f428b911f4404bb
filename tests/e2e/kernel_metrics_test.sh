#!/usr/bin/env bash
# kernel_metrics_test.sh: kube-proxy's kernel dataplane metrics against the real kernel.
#
# nicproxy in mode iptables, then nftables, in a network namespace of its own (no
# traffic: the rules are what is checked), fed by tests/e2e/kernel-services.json; its
# /metrics on the default 127.0.0.1:10249 inside the namespace, read with curl.
#   iptables: kubeproxy_sync_proxy_rules_iptables_total{table} equals the rules of
#     nicproxy's chains that iptables-save lists, after the first (full) sync and after
#     a partial one (an endpoint changed, SIGHUP), whose _last{nat} is smaller; someone
#     deletes nicproxy's nat chains, the next partial restore fails and counts in
#     _restore_failures_total and _partial_restore_failures_total, and the retry puts
#     everything back; the conntrack reconciler has run.
#   nftables: someone deletes table ip kube-proxy, the next partial sync fails and
#     counts in kubeproxy_sync_proxy_rules_nftables_sync_failures_total, and the retry
#     puts the table back.
#   API server (nftables, the fake API server on 127.0.0.1:6443 in the namespace):
#     nicproxy_api_lists_total{resource} counts the first lists, and a line of garbage in
#     the Services watch counts in nicproxy_api_decode_failures_total{resource="services"}.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
# Root only.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
FAKE=${FAKE:-$BUILD_DIR/tests/fake_apiserver}

NS=nkm$$
WORK=$(mktemp -d /tmp/nicproxy-kernel-metrics.XXXXXX)
NP_PID=""

cleanup() {
    [[ -n $NP_PID ]] && kill -INT "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    stop_fake_api
    ip netns del "$NS" 2>/dev/null
    if [[ $FAILED -eq 0 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

in_ns() { ip netns exec "$NS" "$@"; }
has_services_chain() { in_ns nft list chain ip kube-proxy services >/dev/null 2>&1; }

# metric NAME_WITH_LABELS: its value in a scrape now (empty when absent).
metric() {
    in_ns curl -sS --max-time 3 http://127.0.0.1:10249/metrics 2>/dev/null |
        awk -v m="$1" '$1 == m { print $2 + 0; exit }'
}

# kernel_rules TABLE: the rules (-A lines) of nicproxy's chains in TABLE.
kernel_rules() { in_ns iptables-save -t "$1" | grep -c '^-A KUBE-'; }

# synced LOG N: waits up to 10 s for the N-th "synced generation" line.
synced() {
    for _ in $(seq 100); do
        (($(grep -c "synced generation" "$1") >= $2)) && return 0
        sleep 0.1
    done
    return 1
}

start_nicproxy() { # MODE [SOURCE]: SOURCE a config fragment, default the services file
    local source=${2:-'"servicesFile": "services.json"'}
    cat >"$WORK/$1.json" <<JSON
{"mode": "$1", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", $source,
 "iptables": {"minSyncPeriod": "100ms"}, "nftables": {"minSyncPeriod": "100ms"}}
JSON
    cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"
    # ip netns exec directly (not in_ns, a function: it would fork a subshell), so that
    # NP_PID is nicproxy itself.
    ip netns exec "$NS" env --default-signal=INT,QUIT "$NICPROXY" --config "$WORK/$1.json" >"$WORK/$1.log" 2>&1 &
    NP_PID=$!
    for _ in $(seq 100); do
        grep -qs "kernel proxy ready" "$WORK/$1.log" && return 0
        kill -0 "$NP_PID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

stop_nicproxy() {
    kill -TERM "$NP_PID" 2>/dev/null
    wait "$NP_PID" 2>/dev/null
    NP_PID=""
}

# move_endpoint ADDRESS: web-1's first endpoint becomes ADDRESS (a partial sync of web).
move_endpoint() {
    python3 - "$WORK/services.json" "$1" <<'PY'
import json, sys
path, address = sys.argv[1:3]
data = json.load(open(path))
for item in data["items"]:
    if item["metadata"]["name"] == "web-1":
        item["endpoints"][0]["addresses"] = [address]
json.dump(data, open(path, "w"))
PY
    kill -HUP "$NP_PID"
}

if [[ $(id -u) -ne 0 || ! -x $NICPROXY ]]; then
    fail "prerequisites" "needs root and $NICPROXY"
    exit 1
fi
if ! ip netns add "$NS" || ! in_ns ip link set lo up; then
    fail "prerequisites" "cannot make namespace $NS"
    exit 1
fi
in_ns ip link add eth0 type dummy && in_ns ip addr add 10.10.0.1/24 dev eth0 && in_ns ip link set eth0 up

# ---- iptables ----------------------------------------------------------------------------
if ! start_nicproxy iptables; then
    fail "iptables: nicproxy starts" "$(tail -n 3 "$WORK/iptables.log" | tr '\n' '|')"
else
    for table in nat filter; do
        want=$(kernel_rules "$table")
        got=$(metric "kubeproxy_sync_proxy_rules_iptables_total{table=\"$table\"}")
        REASON="metric ${got:-absent}, iptables-save has $want"
        check "iptables: after the full sync, iptables_total{table=\"$table\"} is the rules in the kernel ($want)" \
            test "${got:-x}" = "$want"
    done
    move_endpoint 10.23.0.2
    synced "$WORK/iptables.log" 2 || fail "iptables: SIGHUP sync" "no second 'synced generation' line"
    want=$(kernel_rules nat)
    got=$(metric 'kubeproxy_sync_proxy_rules_iptables_total{table="nat"}')
    last=$(metric 'kubeproxy_sync_proxy_rules_iptables_last{table="nat"}')
    REASON="total ${got:-absent}, last ${last:-absent}, iptables-save has $want"
    check "iptables: after a partial sync, iptables_total{nat} is still the kernel's and _last{nat} is smaller" \
        test "${got:-x}" = "$want" -a "${last:-0}" -lt "$want" -a "${last:-0}" -gt 0

    # Someone flushes and deletes nicproxy's nat chains; the next change cannot be written
    # partially (its chains jump to KUBE-MARK-MASQ, gone); the retry is a full sync.
    in_ns iptables -t nat -F && in_ns iptables -t nat -X
    move_endpoint 10.22.0.2
    for _ in $(seq 50); do [[ $(metric kubeproxy_sync_proxy_rules_iptables_restore_failures_total) == 1 ]] && break; sleep 0.2; done
    failures=$(metric kubeproxy_sync_proxy_rules_iptables_restore_failures_total)
    partial=$(metric kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total)
    REASON="restore failures ${failures:-absent}, partial ${partial:-absent}"
    check "iptables: a failed partial restore counts in restore_failures_total and partial_restore_failures_total" \
        test "${failures:-x}" = 1 -a "${partial:-x}" = 1
    # The retry comes after iptables.syncPeriod's backoff at most (kube-proxy's): up to 30 s.
    for _ in $(seq 150); do
        [[ $(kernel_rules nat) -gt 0 && $(metric 'kubeproxy_sync_proxy_rules_iptables_total{table="nat"}') == $(kernel_rules nat) ]] && break
        sleep 0.2
    done
    want=$(kernel_rules nat)
    got=$(metric 'kubeproxy_sync_proxy_rules_iptables_total{table="nat"}')
    REASON="total ${got:-absent}, iptables-save has $want"
    check "iptables: the retry rewrote the nat table and iptables_total{nat} follows it" test "$want" -gt 0 -a "${got:-x}" = "$want"
    reconciles=$(metric kubeproxy_conntrack_reconciler_sync_duration_seconds_count)
    REASON="count ${reconciles:-absent}"
    check "conntrack: the reconciler ran after the full syncs" test "${reconciles:-0}" -ge 1
    stop_nicproxy
fi
in_ns iptables -t nat -F; in_ns iptables -t nat -X; in_ns iptables -t filter -F; in_ns iptables -t filter -X

# ---- nftables ----------------------------------------------------------------------------
if ! start_nicproxy nftables; then
    fail "nftables: nicproxy starts" "$(tail -n 3 "$WORK/nftables.log" | tr '\n' '|')"
else
    REASON="$(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total)"
    check "nftables: no sync failure after the first sync" test "$REASON" = 0
    in_ns nft delete table ip kube-proxy
    move_endpoint 10.23.0.2
    for _ in $(seq 50); do [[ $(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total) == 1 ]] && break; sleep 0.2; done
    REASON="sync failures $(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total), cleanup failures $(metric kubeproxy_sync_proxy_rules_nftables_cleanup_failures_total)"
    check "nftables: a partial sync into a deleted table counts in nftables_sync_failures_total" \
        test "$(metric kubeproxy_sync_proxy_rules_nftables_sync_failures_total)" = 1
    for _ in $(seq 150); do has_services_chain && break; sleep 0.2; done
    REASON="no chain services in table ip kube-proxy"
    check "nftables: the retry put the table back" has_services_chain
    stop_nicproxy
fi

# ---- the API server ----------------------------------------------------------------------
fake_api_credentials "$WORK" "token-$NS" >/dev/null && fake_api_kubeconfig "$WORK/kubeconfig"
if [[ ! -x $FAKE ]] || ! start_fake_api "$NS" "$WORK/fake.log"; then
    fail "api: the fake API server starts" "$FAKE: $(tail -n 2 "$WORK/fake.log" 2>/dev/null | tr '\n' '|')"
    exit 1
fi
fake_api_request "$NS" POST "apply?resource=services" \
    '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default","name":"web"},"spec":{"clusterIP":"10.96.3.10","clusterIPs":["10.96.3.10"],"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}]}}' >/dev/null
if ! start_nicproxy nftables '"clientConnection": {"kubeconfig": "kubeconfig"}'; then
    fail "api: nicproxy follows the fake API server" "$(tail -n 3 "$WORK/nftables.log" | tr '\n' '|')"
else
    services=$(metric 'nicproxy_api_lists_total{resource="services"}')
    slices=$(metric 'nicproxy_api_lists_total{resource="endpointslices"}')
    REASON="services ${services:-absent}, endpointslices ${slices:-absent}"
    check "api: nicproxy_api_lists_total{resource} counts the first lists" test "${services:-x}" = 1 -a "${slices:-x}" = 1
    for _ in $(seq 50); do [[ $(fake_api_request "$NS" GET "watches?resource=services") == 1 ]] && break; sleep 0.1; done
    fake_api_request "$NS" POST "raw?resource=services" $'this is not an event\n' >/dev/null
    for _ in $(seq 50); do [[ $(metric 'nicproxy_api_decode_failures_total{resource="services"}') == 1 ]] && break; sleep 0.1; done
    REASON="services $(metric 'nicproxy_api_decode_failures_total{resource="services"}'), endpointslices $(metric 'nicproxy_api_decode_failures_total{resource="endpointslices"}')"
    check "api: a line of garbage in the Services watch counts in nicproxy_api_decode_failures_total{resource=\"services\"}" \
        test "$(metric 'nicproxy_api_decode_failures_total{resource="services"}')" = 1 \
        -a "$(metric 'nicproxy_api_decode_failures_total{resource="endpointslices"}')" = 0
    stop_nicproxy
fi
[[ $FAILED -eq 0 ]]
