#!/usr/bin/env bash
# signals_test.sh: a stop signal is never lost to a reload (issue 10). The real daemon
# runs as a kernel proxy (nftables, then iptables) in a namespace this script makes;
# SIGTERM and SIGHUP are sent back to back, in both orders, several times.
#
# Each round: nicproxy starts and shows "kernel proxy ready"; `kill -TERM; kill -HUP`
# (or HUP then TERM) is sent at once; nicproxy must exit within 5 s with status 0 (a
# clean stop through its loop, not death by the signal), say "stopping" in its log, and
# leave no process in the namespace. Its rules stay in place by design (a restart finds
# them; --cleanup removes them), so the round also checks that the table is still there
# and that the next round's start is not disturbed by it.
#
# Before the fix, the second signal overwrote the first in a single pending slot: after
# TERM then HUP the daemon reloaded and kept running.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"

NS=npsig$$
WORK=$(mktemp -d /tmp/nicproxy-signals.XXXXXX)
NP_PID=""
ROUNDS=${ROUNDS:-3}

cleanup() {
    trap - EXIT
    if [[ -n $NP_PID ]]; then
        kill -KILL "$NP_PID" 2>/dev/null
        wait "$NP_PID" 2>/dev/null
    fi
    ip netns del "$NS" 2>/dev/null
    if [[ $FAILED -eq 0 && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ! -x $NICPROXY ]]; then
    fail "signals: nicproxy built" "no nicproxy binary at $NICPROXY"
    exit 1
fi
if ! ip netns add "$NS" 2>"$WORK/netns.err"; then
    echo "SKIP: signals test: cannot create a network namespace ($(head -c 200 "$WORK/netns.err"))"
    exit 0
fi
ip -n "$NS" link set lo up
cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"

# start MODE LOG: nicproxy in the namespace, in the background; NP_PID is its own pid
# (`ip netns exec` and `env` exec). Waits 10 s at most for "kernel proxy ready".
start() {
    local mode=$1 log=$2 _
    cat >"$WORK/$mode.json" <<JSON
{"mode": "$mode", "nodeName": "node-a", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json"}
JSON
    ip netns exec "$NS" env --default-signal=INT,QUIT "$NICPROXY" --config "$WORK/$mode.json" >"$log" 2>&1 &
    NP_PID=$!
    for _ in $(seq 100); do
        grep -qs "kernel proxy ready" "$log" && return 0
        kill -0 "$NP_PID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# exits_within SECONDS: waits for NP_PID to end; sets RC to its exit status, or returns 1.
exits_within() {
    local _
    for _ in $(seq $(($1 * 10))); do
        if ! kill -0 "$NP_PID" 2>/dev/null; then
            wait "$NP_PID"
            RC=$?
            NP_PID=""
            return 0
        fi
        sleep 0.1
    done
    return 1
}

table_present() {
    if [[ $1 == nftables ]]; then
        ip netns exec "$NS" nft list table ip kube-proxy >/dev/null 2>&1
    else
        ip netns exec "$NS" iptables -t nat -S KUBE-SERVICES >/dev/null 2>&1
    fi
}

round() {
    local mode=$1 first=$2 second=$3 n=$4 name log
    name="$mode round $n: SIG$first then SIG$second at once"
    log="$WORK/$mode-$n-$first.log"
    if ! start "$mode" "$log"; then
        fail "$name: nicproxy starts" "no 'kernel proxy ready': $(tail -n 5 "$log" | tr '\n' '|' | cut -c1-300)"
        [[ -n $NP_PID ]] && exits_within 5
        return
    fi
    kill "-$first" "$NP_PID"
    kill "-$second" "$NP_PID"
    if ! exits_within 5; then
        fail "$name: nicproxy exits within 5 s" "still running: $(tail -n 3 "$log" | tr '\n' '|' | cut -c1-300)"
        kill -KILL "$NP_PID" 2>/dev/null
        wait "$NP_PID" 2>/dev/null
        NP_PID=""
        return
    fi
    if [[ $RC -ne 0 ]]; then
        fail "$name: nicproxy exits within 5 s, status 0" "exit status $RC: $(tail -n 3 "$log" | tr '\n' '|' | cut -c1-300)"
        return
    fi
    if ! grep -q "signal 15: stopping" "$log"; then
        fail "$name: nicproxy exits within 5 s, status 0" "no 'signal 15: stopping' in its log"
        return
    fi
    local left
    left=$(ip netns pids "$NS" | tr '\n' ' ')
    if [[ -n $left ]]; then
        fail "$name: nicproxy exits within 5 s, status 0" "processes left in the namespace: $left"
        return
    fi
    if ! table_present "$mode"; then
        fail "$name: nicproxy exits within 5 s, status 0" "its $mode rules are gone (they stay by design)"
        return
    fi
    pass "$name: nicproxy exits within 5 s, status 0, nothing left running"
}

for mode in nftables iptables; do
    for n in $(seq "$ROUNDS"); do
        round "$mode" TERM HUP "$n"
        round "$mode" HUP TERM "$n"
    done
    # Inside the namespace only: the next mode starts from an empty kernel.
    ip netns exec "$NS" "$NICPROXY" --cleanup --config "$WORK/$mode.json" >/dev/null 2>&1
done

[[ $FAILED -eq 0 ]]
