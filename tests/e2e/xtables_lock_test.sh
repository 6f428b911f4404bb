#!/usr/bin/env bash
# xtables_lock_test.sh: nicproxy in iptables mode while another program holds the
# xtables lock (as firewalld or a second iptables does). nicproxy passes `-w 5`, so a
# sync waits 5 s for the lock, fails with the lock named, and is retried; the control
# loop goes on, and a stop signal is obeyed. A bare `-w` waited for the lock forever.
#
# Real iptables-legacy (the nft variant takes no lock) in a network namespace made here;
# the lock is a private file (XTABLES_LOCKFILE), so nothing outside the test waits on it.
# The services file (tests/e2e/kernel-services.json) is only loaded: no traffic.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=$BUILD_DIR/daemon/nicproxy

CHECKS=(
    "xtables lock held: the first iptables sync fails after the 5 s wait, naming the lock"
    "xtables lock taken while running: the sync fails after 5 s, SIGTERM stops the daemon, the rules stay"
)
NS=npxlock$$
WORK=$(mktemp -d /tmp/nicproxy-xtables-lock.XXXXXX)
NP_PID=""
HOLDER_PID=""

stop_holder() {
    # flock runs `sleep` as its child and holds the lock through it: end both.
    [[ -n $HOLDER_PID ]] || return 0
    pkill -P "$HOLDER_PID" 2>/dev/null
    kill "$HOLDER_PID" 2>/dev/null
    wait "$HOLDER_PID" 2>/dev/null
    HOLDER_PID=""
}
# shellcheck disable=SC2317  # called from the trap
cleanup() {
    [[ -n $NP_PID ]] && kill -KILL "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    stop_holder
    ip netns del "$NS" 2>/dev/null
    if [[ $FAILED -eq 0 && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: xtables_lock_test.sh needs root (network namespace, iptables)"
    exit 0
fi
if ! command -v iptables-legacy-restore >/dev/null || ! command -v flock >/dev/null; then
    echo "SKIP: xtables_lock_test.sh needs iptables-legacy and flock"
    exit 0
fi
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "$NICPROXY missing" 0
    exit 1
fi

# iptables, iptables-save and iptables-restore are the legacy ones for nicproxy.
mkdir -p "$WORK/bin"
for command in iptables iptables-save iptables-restore; do
    ln -s "$(command -v "${command/iptables/iptables-legacy}")" "$WORK/bin/$command"
done
cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"
cat >"$WORK/config.json" <<JSON
{"mode": "iptables", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json",
 "iptables": {"minSyncPeriod": "100ms"}}
JSON
ip netns add "$NS" || { fail_all_from "ip netns add failed" 0; exit 1; }
ip -n "$NS" link set lo up
export XTABLES_LOCKFILE=$WORK/xtables.lock

in_ns() { ip netns exec "$NS" env PATH="$WORK/bin:$PATH" XTABLES_LOCKFILE="$XTABLES_LOCKFILE" "$@"; }
hold_lock() {
    flock "$XTABLES_LOCKFILE" sleep 60 &
    HOLDER_PID=$!
    sleep 0.3
}
now_ms() { date +%s%3N; }
since_ms() { echo $(($(now_ms) - $1)); }

# 1. The lock is held before nicproxy starts: its first sync waits 5 s, then fails.
hold_lock
start=$(now_ms)
in_ns timeout 40 "$NICPROXY" --config "$WORK/config.json" >"$WORK/first.log" 2>&1
rc=$?
took=$(since_ms "$start")
stop_holder
REASON="exit $rc after ${took} ms; log: $(grep -m1 -E 'error|critical' "$WORK/first.log" | cut -c1-200)"
check "${CHECKS[0]}" eval '[[ $rc -eq 1 ]] && ((took >= 5000 && took < 15000)) &&
    grep -q "holding the xtables lock. Stopped waiting after 5s" "$WORK/first.log" &&
    grep -q "the first iptables sync failed" "$WORK/first.log"'

# 2. Running, synced; the lock is taken, a reload's sync waits for it; SIGTERM meanwhile.
# Not through in_ns: $! must be nicproxy itself (ip netns exec and env exec it in place).
ip netns exec "$NS" env PATH="$WORK/bin:$PATH" XTABLES_LOCKFILE="$XTABLES_LOCKFILE" \
    "$NICPROXY" --config "$WORK/config.json" >"$WORK/second.log" 2>&1 &
NP_PID=$!
for _ in $(seq 100); do grep -q "kernel proxy ready" "$WORK/second.log" && break; sleep 0.1; done
rules_before=$(in_ns iptables-save -t nat | grep -c -- '-A KUBE-')
hold_lock
# One Service less, so that the reload has something to sync.
python3 - "$WORK/services.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    services = json.load(f)
services["items"].pop()
with open(sys.argv[1], "w") as f:
    json.dump(services, f)
PY
kill -HUP "$NP_PID"
sleep 1  # the reload's sync is now waiting for the lock
start=$(now_ms)
kill -TERM "$NP_PID"
stopped=no
for _ in $(seq 150); do
    if ! kill -0 "$NP_PID" 2>/dev/null; then stopped=yes; break; fi
    sleep 0.1
done
took=$(since_ms "$start")
wait "$NP_PID" 2>/dev/null
NP_PID=""
rules_after=$(in_ns iptables-save -t nat | grep -c -- '-A KUBE-')
stop_holder
REASON="stopped: $stopped after ${took} ms; KUBE- rules ${rules_before} -> ${rules_after}; log: $(grep -m1 -E 'error' "$WORK/second.log" | cut -c1-200)"
check "${CHECKS[1]}" eval '[[ $stopped == yes && $rules_before -gt 10 && $rules_after -eq $rules_before ]] &&
    ((took < 8000)) && grep -q "Stopped waiting after 5s" "$WORK/second.log"'

exit $((FAILED > 0))
