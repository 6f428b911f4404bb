#!/usr/bin/env bash
# systemd_notify_dpdk_test.sh: the notify protocol and the config-file watch in mode dpdk
# (systemd_notify_test.sh covers them in mode nftables, with the bad-edit cases). The
# topology and services of dpdk_services_test.sh (scripts/netns_topology.sh: client
# 10.50.0.100, backends 10.50.0.11-13, nicproxy on net_af_packet answering for 10.50.0.1;
# web's ClusterIP 10.96.0.10). tests/e2e/notify_listener.py is systemd's side: on READY=1
# it curls the ClusterIP from the client at once.
#
# nicproxy runs with --logging-format=json: DPDK's own lines (EAL, PMDs, telemetry) go
# through spdlog too (dpdk_app/eal_log.cpp).
#
# Checks: READY=1 comes once, and a curl started when it arrives is answered; WATCHDOG=1 every
# half of WATCHDOG_USEC (1 s); a changed config file: STOPPING=1, the data path torn down
# (its counters printed) and exit code 0; every log line a JSON object, DPDK's included.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# json_lines LOG: every line of LOG is one JSON object with ts, level and msg.
json_lines() { python3 "$ROOT/tests/e2e/check_json_lines.py" "$1" >/dev/null; }

PREFIX="nsd$$"
WORK=$(mktemp -d /tmp/nicproxy-notify-dpdk.XXXXXX)
LOG=$WORK/nicproxy.log
NOTIFY=$WORK/notify.log
LISTENER_PID=""

CHECKS=(
    "dpdk: READY=1 comes once"
    "dpdk: a curl started at READY=1 gets an answer through the data path (3 s at most)"
    "dpdk: WATCHDOG=1 keeps arriving at half of WATCHDOG_USEC (5 to 7 in 3 s)"
    "dpdk: a changed config file makes nicproxy exit 0"
    "dpdk: STOPPING=1 before the exit"
    "dpdk: the data path is torn down (counters printed)"
    "dpdk: --logging-format=json: every line is a JSON object, DPDK's own lines included"
)

e2e_before_cleanup() {
    h_stop_nicproxy
    h_stop_backends
    [[ -n $LISTENER_PID ]] && kill "$LISTENER_PID" 2>/dev/null && wait "$LISTENER_PID" 2>/dev/null
}
e2e_install_traps

if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "no nicproxy binary at $NICPROXY" 0
    exit 1
fi
topo_up "$PREFIX" || { fail_all_from "topo_up failed" 0; exit 1; }
h_start_backends "$PREFIX" "$WORK" || { fail_all_from "backends did not start" 0; exit 1; }
CONFIG=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/tests/e2e/e2e-services.json" \
    "$(topo_node_if "$PREFIX")" "$WORK") || { fail_all_from "could not write the config" 0; exit 1; }

python3 "$ROOT/tests/e2e/notify_listener.py" "$WORK/notify" "$NOTIFY" -- \
    ip netns exec "$(topo_ns "$PREFIX" client)" curl -sS --max-time 3 http://10.96.0.10/ &
LISTENER_PID=$!
for _ in $(seq 50); do grep -qs listening "$NOTIFY" && break; sleep 0.1; done

# WATCHDOG_PID names the process that may send keep-alives: sh's own pid, which
# `ip netns exec` and `env` keep, since each execs the next program.
NOTIFY_SOCKET=$WORK/notify WATCHDOG_USEC=1000000 sh -c 'export WATCHDOG_PID=$$; exec "$@"' sh \
    ip netns exec "$(topo_ns "$PREFIX" node)" env --default-signal=INT,QUIT \
    "$NICPROXY" --config "$CONFIG" --logging-format=json >"$LOG" 2>&1 &
H_NICPROXY_PID=$!

h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    1) fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
    *)
        if grep -q 'built without DPDK' "$LOG"; then
            echo "SKIP: systemd_notify_dpdk_test.sh: this nicproxy was built without DPDK"
            exit 0
        fi
        fail_all_from "nicproxy exited before 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0
        exit 1
        ;;
esac

for _ in $(seq 50); do test -s "$NOTIFY.ready1" && break; sleep 0.1; done
REASON="$(grep -c READY=1 "$NOTIFY") READY=1 lines"
check "${CHECKS[0]}" test "$(grep -c READY=1 "$NOTIFY")" = 1
REASON="curl at READY=1: $(tr '\n' ';' <"$NOTIFY.ready1" 2>/dev/null)"
check "${CHECKS[1]}" sh -c "head -n 1 '$NOTIFY.ready1' | grep -qx 'exit 0' && grep -q '^backend-' '$NOTIFY.ready1'"

before=$(grep -c WATCHDOG=1 "$NOTIFY")
sleep 3
n=$(($(grep -c WATCHDOG=1 "$NOTIFY") - before))
REASON="$n keep-alives in 3 s"
check "${CHECKS[2]}" test "$n" -ge 5 -a "$n" -le 7

# An edit of the file in place (not a ConfigMap: systemd_notify_test.sh covers that).
python3 - "$CONFIG" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["syncPeriod"] = "20s"
json.dump(config, open(sys.argv[1], "w"), indent=4)
PY
for _ in $(seq 100); do kill -0 "$H_NICPROXY_PID" 2>/dev/null || break; sleep 0.1; done
h_stop_nicproxy TERM 1  # exited already, or SIGTERM and up to 1 s more (then the check fails)
REASON="exit status $H_NICPROXY_RC; log: $(grep -m 1 'changed' "$LOG")"
check "${CHECKS[3]}" sh -c "test '$H_NICPROXY_RC' = 0 && grep -q 'changed: exiting so that the supervisor restarts' '$LOG'"
REASON="notify: $(tail -n 2 "$NOTIFY" | tr '\n' ';')"
check "${CHECKS[4]}" grep -q 'STOPPING=1' "$NOTIFY"
REASON="no counters in the log"
check "${CHECKS[5]}" grep -q 'loops_over_100us' "$LOG"
REASON="$(python3 "$ROOT/tests/e2e/check_json_lines.py" "$LOG" 2>&1)"
check "${CHECKS[6]}" json_lines "$LOG"

[[ $FAILED -eq 0 ]]
