#!/usr/bin/env bash
# ipvs_test.sh: mode "ipvs". The IPVS dataplane is not implemented; what is checked is
# that nicproxy refuses to start in a clear way, naming the missing kernel modules
# when the kernel is the reason (as kube-proxy's IPVS mode does). The real-kernel IPVS
# test is skipped, saying why, where /proc/net/ip_vs is absent. Runs in its own
# network namespace; no traffic.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=$BUILD_DIR/dpdk_app/nicproxy
NS=ipvs$$
WORK=$(mktemp -d /tmp/nicproxy-ipvs.XXXXXX)
trap 'ip netns del $NS 2>/dev/null; rm -rf "$WORK"' EXIT
failures=0
cat >"$WORK/ipvs.json" <<JSON
{"mode": "ipvs", "nodeName": "node-a", "servicesFile": "$ROOT/tests/e2e/kernel-services.json", "ipvs": {"scheduler": "rr"}}
JSON
ip netns add "$NS"
ip netns exec "$NS" "$NICPROXY" --config "$WORK/ipvs.json" >"$WORK/log" 2>&1
rc=$?
if [[ ! -e /proc/net/ip_vs ]]; then
    echo "SKIP: real-kernel IPVS test: /proc/net/ip_vs is absent (this kernel has no IPVS)"
    if [[ $rc -eq 1 ]] && grep -q 'missing modules ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh' "$WORK/log"; then
        echo "PASS: mode ipvs without kernel IPVS fails at start naming the missing modules"
    else
        echo "FAIL: mode ipvs without kernel IPVS fails at start naming the missing modules (exit $rc: $(tail -n 1 "$WORK/log"))"
        failures=1
    fi
else
    if [[ $rc -eq 1 ]] && grep -q 'IPVS dataplane is not implemented' "$WORK/log"; then
        echo "PASS: mode ipvs fails at start: not implemented"
    else
        echo "FAIL: mode ipvs fails at start: not implemented (exit $rc: $(tail -n 1 "$WORK/log"))"
        failures=1
    fi
fi
if grep -q 'Using ipvs Proxier' "$WORK/log"; then
    echo "PASS: mode ipvs logs 'Using ipvs Proxier'"
else
    echo "FAIL: mode ipvs logs 'Using ipvs Proxier'"
    failures=1
fi
[[ $failures -eq 0 ]]
