#!/usr/bin/env bash
# systemd_notify_test.sh: nicproxy under systemd's notify protocol and a ConfigMap-style
# config file, without systemd: tests/e2e/notify_listener.py binds the NOTIFY_SOCKET and
# nicproxy runs with NOTIFY_SOCKET, WATCHDOG_USEC (1 s) and WATCHDOG_PID (its own pid) as
# systemd sets them for Type=notify with WatchdogSec. Mode nftables, the services of
# tests/e2e/kernel-services.json, in the router namespace of scripts/netns_router_topology.sh
# (client 10.10.0.2 curls web's ClusterIP 10.96.1.10 -> be1, be2).
#
# The config file is laid out as the kubelet mounts a ConfigMap: config.json ->
# ..data/config.json, ..data -> ..<timestamp>; an edit is a new timestamped folder and an
# atomic rename of ..data.
#
# Checks: READY=1 arrives, once, with a STATUS= line, and the nftables table already holds
# the services when it does (the listener lists it on receipt); the ClusterIP answers;
# WATCHDOG=1 keeps arriving at half of WATCHDOG_USEC; a bad config edit is logged with its
# key path, once, and nicproxy keeps running and forwarding; a good edit makes it say
# STOPPING=1 and exit 0, and the rules stay for the restarted process; SIGTERM: STOPPING=1
# and exit 0; --logging-format=json -v=3: every line is a JSON object (an error quoting a
# bad value included), debug lines included.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# json_lines LOG: every line of LOG is one JSON object with ts, level and msg.
json_lines() { python3 "$ROOT/tests/e2e/check_json_lines.py" "$1" >/dev/null; }
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}  # scripts/test.sh may name the -Ddpdk=disabled one

P=sn$$
WORK=$(mktemp -d /tmp/nicproxy-notify.XXXXXX)
NOTIFY=$WORK/notify.log
NP_PID=""
LISTENER_PID=""
BACKEND_PIDS=()

in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

cleanup() {
    [[ -n $NP_PID ]] && kill -TERM "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null && wait "$LISTENER_PID" 2>/dev/null
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
    in_ns "be$i" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" --http 8080 --quiet \
        >"$WORK/backend-$i.log" 2>&1 &
    BACKEND_PIDS+=("$!")
done
for i in 1 2; do
    for _ in $(seq 50); do grep -qs listening "$WORK/backend-$i.log" && break; sleep 0.1; done
done
cp "$ROOT/tests/e2e/kernel-services.json" "$WORK/services.json"

python3 "$ROOT/tests/e2e/notify_listener.py" "$WORK/notify" "$NOTIFY" -- \
    ip netns exec "$(rtopo_ns "$P" router)" nft list table ip kube-proxy &
LISTENER_PID=$!
for _ in $(seq 50); do grep -qs listening "$NOTIFY" && break; sleep 0.1; done

# config_version NAME MIN_SYNC_PERIOD: the ConfigMap update the kubelet makes: a new
# timestamped folder holding config.json, then ..data renamed onto a link to it (atomic).
config_version() {
    mkdir -p "$WORK/cm/..$1"
    cat >"$WORK/cm/..$1/config.json" <<JSON
{"mode": "nftables", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "$WORK/services.json",
 "nftables": {"minSyncPeriod": "$2"}}
JSON
    ln -sfn "..$1" "$WORK/cm/..data_tmp" && mv -T "$WORK/cm/..data_tmp" "$WORK/cm/..data"
}
config_version 2026_12_04_10_00_00.1 100ms
ln -s ..data/config.json "$WORK/cm/config.json"

# start_nicproxy LOG ARGS...: in the router namespace, with systemd's variables.
# WATCHDOG_PID names the process that may send keep-alives: sh's own pid, which
# `ip netns exec` and `env` keep, since each execs the next program.
start_nicproxy() {
    local log=$1
    shift
    NOTIFY_SOCKET=$WORK/notify WATCHDOG_USEC=1000000 sh -c 'export WATCHDOG_PID=$$; exec "$@"' sh \
        ip netns exec "$(rtopo_ns "$P" router)" env --default-signal=INT,QUIT \
        "$NICPROXY" --config "$WORK/cm/config.json" "$@" >"$log" 2>&1 &
    NP_PID=$!
}

# wait_for SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS.
wait_for() {
    local tenths=$(($1 * 10))
    shift
    for _ in $(seq "$tenths"); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}
count_in() { grep -c -- "$1" "$2"; }
has_at_least() { (($(count_in "$1" "$2") >= $3)); }
exited() { ! kill -0 "$NP_PID" 2>/dev/null; }
# exit_code_within SECONDS: sets CODE to nicproxy's exit code once it has exited, 124 when
# it still runs after SECONDS (in this shell: a subshell cannot wait for it).
exit_code_within() {
    CODE=124
    if wait_for "$1" exited; then
        wait "$NP_PID"
        CODE=$?
        NP_PID=""
    fi
}
curl_web() { in_ns client curl -sS --max-time 3 http://10.96.1.10/ 2>&1; }

echo "---- run 1: text log, config edits"
LOG1=$WORK/nicproxy-1.log
start_nicproxy "$LOG1"
if ! wait_for 10 grep -q 'READY=1' "$NOTIFY"; then
    REASON="no READY=1 in 10 s; notify: $(tr '\n' ';' <"$NOTIFY"); log: $(tail -n 3 "$LOG1" | tr '\n' ';')"
    fail "READY=1 arrives" "$REASON"
else
    pass "READY=1 arrives"
fi
REASON="$(grep 'READY=1' "$NOTIFY" | tr '\n' ';')"
check "READY=1 comes once, with a STATUS= line" \
    sh -c "test \"\$(grep -c READY=1 '$NOTIFY')\" = 1 && grep -q 'READY=1|STATUS=.' '$NOTIFY'"
wait_for 5 test -s "$NOTIFY.ready1"
REASON="at READY=1 nft said: $(head -n 3 "$NOTIFY.ready1" 2>/dev/null | tr '\n' ';')"
check "at READY=1 the nftables table already holds web's ClusterIP" \
    sh -c "head -n 1 '$NOTIFY.ready1' | grep -qx 'exit 0' && grep -q 10.96.1.10 '$NOTIFY.ready1'"
a=$(curl_web)
REASON="curl: $a"
check "the ClusterIP answers" grep -q '^backend-' <<<"$a"

# WATCHDOG_USEC 1 s: a keep-alive every 0.5 s; 3 s hold about 6.
before=$(count_in WATCHDOG=1 "$NOTIFY")
sleep 3
n=$(($(count_in WATCHDOG=1 "$NOTIFY") - before))
REASON="$n keep-alives in 3 s"
check "WATCHDOG=1 keeps arriving at half of WATCHDOG_USEC (5 to 7 in 3 s)" test "$n" -ge 5 -a "$n" -le 7
gap=$(grep 'WATCHDOG=1' "$NOTIFY" | awk 'NR > 1 && $1 - t > m { m = $1 - t } { t = $1 } END { printf "%.2f", m }')
REASON="longest gap ${gap} s"
check "no gap between keep-alives reaches WATCHDOG_USEC" awk -v g="$gap" 'BEGIN { exit !(g < 0.9) }'

# A bad edit: an invalid duration. Logged (with its key path), once; nothing changes.
config_version 2026_12_04_10_05_00.2 fast
wait_for 5 grep -q 'the running configuration stays in force' "$LOG1"
REASON="log: $(tail -n 3 "$LOG1" | tr '\n' ';')"
check "a bad config edit is logged with the key path" grep -q 'nftables.minSyncPeriod: "fast"' "$LOG1"
sleep 4.5  # two more reads of the same bad file
n=$(count_in 'the running configuration stays in force' "$LOG1")
REASON="$n times"
check "the same bad content is logged once" test "$n" = 1
REASON="nicproxy exited"
check "after the bad edit nicproxy keeps running" kill -0 "$NP_PID"
a=$(curl_web)
REASON="curl: $a"
check "after the bad edit the ClusterIP still answers" grep -q '^backend-' <<<"$a"

# A good edit: exit 0 for the supervisor to restart; the rules stay meanwhile.
config_version 2026_12_04_10_10_00.3 200ms
exit_code_within 6
REASON="exit code $CODE (124: still running after 6 s); log: $(tail -n 2 "$LOG1" | tr '\n' ';')"
check "a good config edit makes nicproxy exit 0" test "$CODE" = 0
REASON="log: $(tail -n 2 "$LOG1" | tr '\n' ';')"
check "the exit is logged as a config change for a restart" \
    grep -q 'changed: exiting so that the supervisor restarts nicproxy with it' "$LOG1"
REASON="notify: $(tail -n 2 "$NOTIFY" | tr '\n' ';')"
check "STOPPING=1 before the config-change exit" grep -q 'STOPPING=1' "$NOTIFY"
a=$(curl_web)
REASON="curl: $a"
check "the rules stay in place for the restarted process" grep -q '^backend-' <<<"$a"

echo "---- run 2: --logging-format=json -v=3, SIGTERM"
LOG2=$WORK/nicproxy-2.log
stopping_before=$(count_in STOPPING=1 "$NOTIFY")
start_nicproxy "$LOG2" --logging-format=json -v=3
REASON="no second READY=1 in 10 s"
check "the restarted nicproxy sends READY=1 again" wait_for 10 has_at_least 'READY=1' "$NOTIFY" 2
# A bad edit again: its error lines quote the value ("fast"), which the JSON must escape.
config_version 2026_12_04_10_15_00.4 fast
REASON="no line saying so in 5 s"
check "json: the bad edit is logged" wait_for 5 grep -q 'the running configuration stays in force' "$LOG2"
kill -TERM "$NP_PID"
exit_code_within 5
REASON="exit code $CODE (124: still running after 5 s)"
check "SIGTERM: exit 0" test "$CODE" = 0
n=$(($(count_in STOPPING=1 "$NOTIFY") - stopping_before))
REASON="$n STOPPING=1 since the restart"
check "SIGTERM: STOPPING=1" test "$n" = 1
REASON="$(python3 "$ROOT/tests/e2e/check_json_lines.py" "$LOG2" 2>&1)"
check "--logging-format=json: every line is a JSON object with ts, level and msg" json_lines "$LOG2"
REASON="no line with \"v\":3; $(head -c 300 "$LOG2")"
check "-v=3 shows debug lines (\"v\":3)" grep -q '"v":3' "$LOG2"
REASON="$(grep -c . "$LOG1") lines"
check "the default verbosity shows no debug lines" test "$(grep -c '\[debug\]' "$LOG1")" = 0

[[ $FAILED -eq 0 ]]
