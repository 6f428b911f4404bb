#!/usr/bin/env bash
# datapath_metrics_test.sh: the DPDK data path's metrics on nicproxy's /metrics while it
# forwards real traffic.
#
# Topology (scripts/netns_topology.sh, as dpdk_services_test.sh): client 10.50.0.100,
# backends 10.50.0.11-13, nicproxy on the node veth through net_af_packet, answering for
# 10.50.0.1. Services: tests/e2e/e2e-services.json (web 10.96.0.10:80/TCP, 3 endpoints).
# nicproxy serves /metrics on 127.0.0.1:10249 (kube-proxy's default) inside the node
# namespace; the checks read it there with curl and lint it with promtool.
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

PREFIX="npm$$"
WORK=$(mktemp -d /tmp/nicproxy-e2e.XXXXXX)
LOG="$WORK/nicproxy.log"

e2e_install_traps

CHECKS=(
    "startup: data path ready"
    "metrics: nicproxy_port_rx_packets_total of the node port grows by at least the requests sent"
    "metrics: nicproxy_port_tx_packets_total and rx/tx bytes grow too"
    "metrics: nicproxy_flows_created_total counts the 20 connections"
    "metrics: every drop reason has a series (nicproxy_drops_total)"
    "metrics: the port's xstats (nicproxy_port_xstats_total) are there"
    "metrics: the worker loop histogram moves"
    "metrics: promtool check metrics finds nothing to say about the nicproxy_ families"
)

in_node() { h_in_ns "$PREFIX" node "$@"; }
scrape() { in_node curl -sS --max-time 5 http://127.0.0.1:10249/metrics; }
# value FILE SERIES_REGEX: the sum of the samples whose series matches (0 when none).
value() { awk -v re="$2" '$0 !~ /^#/ && $1 ~ re { s += $2 } END { printf "%.0f\n", s + 0 }' "$1"; }

if [[ $(id -u) -ne 0 ]]; then fail_all_from "needs root" 0; exit 1; fi
if [[ ! -x $NICPROXY ]]; then fail_all_from "no nicproxy binary at $NICPROXY" 0; exit 1; fi
if ! topo_up "$PREFIX"; then fail_all_from "topology setup failed" 0; exit 1; fi
if ! h_start_backends "$PREFIX" "$WORK"; then fail_all_from "backend servers did not start" 0; exit 1; fi
CONFIG=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/tests/e2e/e2e-services.json" \
    "$(topo_node_if "$PREFIX")" "$WORK") || { fail_all_from "could not write the config" 0; exit 1; }
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
if h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"; then
    pass "${CHECKS[0]}"
else
    fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0
    exit 1
fi
# Warm-up: ARP for 10.50.0.1, and the metrics server's first bind.
deadline=$((SECONDS + 10))
until h_in_ns "$PREFIX" client curl -sS --max-time 1 -o /dev/null http://10.96.0.10/ 2>/dev/null && scrape >/dev/null 2>&1; do
    ((SECONDS >= deadline)) && break
    sleep 0.2
done

scrape >"$WORK/before.txt" 2>"$WORK/scrape.err"
for ((i = 0; i < 20; i++)); do
    h_in_ns "$PREFIX" client curl -sS --max-time 3 -o /dev/null http://10.96.0.10/ || true
done
sleep 0.5
scrape >"$WORK/after.txt" 2>>"$WORK/scrape.err"

delta() { echo $(($(value "$WORK/after.txt" "$1") - $(value "$WORK/before.txt" "$1"))); }
rx=$(delta '^nicproxy_port_rx_packets_total[{]')
if [[ $rx -ge 20 ]]; then pass "${CHECKS[1]} (+$rx)"; else fail "${CHECKS[1]}" "+$rx packets for 20 requests; scrape: $(head -c 300 "$WORK/scrape.err")"; fi
tx=$(delta '^nicproxy_port_tx_packets_total[{]')
rxb=$(delta '^nicproxy_port_rx_bytes_total[{]')
txb=$(delta '^nicproxy_port_tx_bytes_total[{]')
if [[ $tx -ge 20 && $rxb -ge $((rx * 42)) && $txb -ge $((tx * 42)) ]]; then
    pass "${CHECKS[2]} (tx +$tx, rx bytes +$rxb, tx bytes +$txb)"
else
    fail "${CHECKS[2]}" "tx +$tx, rx bytes +$rxb, tx bytes +$txb"
fi
created=$(delta '^nicproxy_flows_created_total[{]')
if [[ $created -eq 20 ]]; then pass "${CHECKS[3]}"; else fail "${CHECKS[3]}" "+$created"; fi
reasons=$(grep -c '^nicproxy_drops_total{' "$WORK/after.txt")
want=$(grep -c '^  X(' "$ROOT/dpdk_app/counters.hpp")
if [[ $reasons -ge $want && $want -gt 30 ]]; then pass "${CHECKS[4]} ($reasons series)"; else fail "${CHECKS[4]}" "$reasons series, $want reasons in counters.hpp"; fi
xstats=$(grep -c '^nicproxy_port_xstats_total{.*stat="rx_good_packets"' "$WORK/after.txt")
if [[ $xstats -ge 1 ]]; then pass "${CHECKS[5]}"; else fail "${CHECKS[5]}" "no rx_good_packets xstat"; fi
loops=$(delta '^nicproxy_worker_loop_duration_seconds_count[{]')
if [[ $loops -gt 0 ]]; then pass "${CHECKS[6]} (+$loops loops)"; else fail "${CHECKS[6]}" "+$loops"; fi
if ! command -v promtool >/dev/null; then
    fail "${CHECKS[7]}" "promtool not installed (Debian package prometheus; scripts/setup.sh installs it)"
else
    # The data path's families only: the kubeproxy_* ones are kube-proxy's as it names them.
    lint=$(grep -E '^(# (HELP|TYPE) )?nicproxy_' "$WORK/after.txt" | promtool check metrics 2>&1)
    if [[ -z $lint ]]; then pass "${CHECKS[7]}"; else fail "${CHECKS[7]}" "$(head -c 300 <<<"$lint" | tr '\n' '|')"; fi
fi
[[ $FAILED -eq 0 ]]
