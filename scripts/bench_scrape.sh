#!/usr/bin/env bash
# bench_scrape.sh: the time of a Prometheus scrape of nicproxy, by number of services
# (not a test; asserts nothing; root). Issue 12 asks for at most 20 ms at 10,000
# services, and for a scrape whose size does not grow with the services.
#
# For each size in SIZES: a services file of that many services (1 to 3 endpoints each,
# tests/e2e/gen_scale_services.py --fillers), nicproxy in DPDK mode on net_af_packet in
# the namespaces of scripts/netns_topology.sh (configs/demo.json: lcore 0 control and
# HTTP, lcore 1 the worker, which polls all the time), its /metrics on the default
# 127.0.0.1:10249 inside the node namespace. Then SCRAPES sequential GET /metrics with
# curl from the same namespace, as Prometheus does them (a new connection each):
#   idle:     nothing else happens;
#   syncing:  meanwhile the services file is swapped between two versions and SIGHUP
#             sent every second, so that the control thread reloads and syncs all the
#             services while the scrapes run.
# Printed per size and phase: median, p90, p99 and max of curl's time_total, the bytes
# and the series (non-comment lines) of a scrape, and the CPU time nicproxy spent per
# scrape outside its worker lcores (all its other threads, from /proc/PID/task/*/stat,
# so it includes the control thread's syncs in the syncing phase). The wall times
# depend on what else the machine runs (the load average is printed); the CPU time
# much less.
#
# Options (environment): SIZES="10 1000 10000", SCRAPES=300, BUILD_DIR=build.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
export NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
# shellcheck source=SCRIPTDIR/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/harness.sh
source "$ROOT/scripts/harness.sh"
SIZES=${SIZES:-"10 1000 10000"}
SCRAPES=${SCRAPES:-300}
[[ -x $NICPROXY ]] || { echo "build first (ninja -C $BUILD_DIR daemon/nicproxy)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "root only" >&2; exit 1; }

P=nbs$$
WORK=$(mktemp -d /tmp/nicproxy-bench-scrape.XXXXXX)
STORM_PID=""
cleanup() {
    [[ -n $STORM_PID ]] && kill "$STORM_PID" 2>/dev/null && wait "$STORM_PID" 2>/dev/null
    [[ -n ${H_NICPROXY_PID:-} ]] && h_stop_nicproxy TERM 15 >/dev/null 2>&1
    h_cleanup "$P" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

# scrape_times N OUT: N scrapes from the node namespace; one "seconds bytes" line each.
# shellcheck disable=SC2016  # expanded by the inner bash
scrape_times() {
    h_in_ns "$P" node bash -c '
        for ((i = 0; i < $1; i++)); do
            curl -sS --max-time 5 -o /dev/null -w "%{time_total} %{size_download}\n" http://127.0.0.1:10249/metrics
        done' _ "$1" >"$2"
}

# cpu_ticks PID: user+system clock ticks of PID's threads other than DPDK's lcore workers
# (rte-worker-N in DPDK 22.11, lcore-worker-N in later releases).
cpu_ticks() {
    local total=0 stat rest
    for stat in /proc/"$1"/task/*/stat; do
        read -r stat <"$stat" 2>/dev/null || continue
        [[ $stat == *"(rte-worker"* || $stat == *"(lcore-worker"* ]] && continue
        rest=${stat##*) }
        # shellcheck disable=SC2086  # fields
        set -- $rest
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}

# summary FILE: "median p90 p99 max (ms), bytes" of scrape_times' output.
summary() {
    sort -n "$1" | awk '{ t[NR] = $1 * 1000; b = $2 }
        END { if (NR == 0) { print "no scrapes"; exit }
              printf "median %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  (%d scrapes, %d bytes)\n",
                     t[int((NR + 1) / 2)], t[int(NR * 0.9 + 0.5)], t[int(NR * 0.99 + 0.5)], t[NR], NR, b }'
}

echo "== machine: $(nproc) CPUs, kernel $(uname -r), nicproxy $("$NICPROXY" --version 2>/dev/null), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
for size in $SIZES; do
    # Two versions of the same services: the storm service's third endpoint flips.
    python3 "$ROOT/tests/e2e/gen_scale_services.py" "$WORK/a.json" --fillers "$size" || exit 1
    python3 "$ROOT/tests/e2e/gen_scale_services.py" "$WORK/b.json" --fillers "$size" --storm-round 1 || exit 1
    topo_up "$P" >/dev/null || { echo "topology setup failed" >&2; exit 1; }
    config=$(h_write_config "$ROOT/configs/demo.json" "$WORK/a.json" "$(topo_node_if "$P")" "$WORK") || exit 1
    log="$WORK/nicproxy-$size.log"
    started=$SECONDS
    h_start_nicproxy "$P" "$config" "$log"
    if ! h_wait_log "$log" 'data path ready' 300 "$H_NICPROXY_PID"; then
        echo "size $size: nicproxy not ready; log tail:" >&2
        tail -n 5 "$log" >&2
        exit 1
    fi
    echo "== $size services (+8 of the scale set): ready after $((SECONDS - started)) s"
    scrape_times 10 "$WORK/warmup"
    h_in_ns "$P" node curl -sS --max-time 5 http://127.0.0.1:10249/metrics >"$WORK/scrape-$size.txt"
    echo "   series in a scrape: $(grep -vc '^#' "$WORK/scrape-$size.txt"), families: $(grep -c '^# TYPE' "$WORK/scrape-$size.txt")"
    echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    ticks=$(cpu_ticks "$H_NICPROXY_PID")
    scrape_times "$SCRAPES" "$WORK/idle"
    ticks=$(($(cpu_ticks "$H_NICPROXY_PID") - ticks))
    echo "   idle:    $(summary "$WORK/idle"); CPU $(awk -v t="$ticks" -v n="$SCRAPES" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t * 1000 / hz / n }') ms/scrape"

    # The same while the control thread reloads and syncs every service once a second.
    (
        i=0
        while :; do
            cp "$WORK/$([[ $((i % 2)) -eq 0 ]] && echo b || echo a).json" "$WORK/services.json.new"
            mv "$WORK/services.json.new" "$WORK/services.json"
            kill -HUP "$H_NICPROXY_PID" 2>/dev/null || exit 0
            i=$((i + 1))
            sleep 1
        done
    ) &
    STORM_PID=$!
    syncs_before=$(h_in_ns "$P" node curl -sS http://127.0.0.1:10249/metrics | awk '/^kubeproxy_sync_proxy_rules_duration_seconds_count/ { print $2 }')
    scrape_times "$SCRAPES" "$WORK/syncing"
    syncs_after=$(h_in_ns "$P" node curl -sS http://127.0.0.1:10249/metrics | awk '/^kubeproxy_sync_proxy_rules_duration_seconds_count/ { print $2 }')
    kill "$STORM_PID" 2>/dev/null
    wait "$STORM_PID" 2>/dev/null
    STORM_PID=""
    echo "   syncing: $(summary "$WORK/syncing") [syncs ${syncs_before:-?} -> ${syncs_after:-?}]"

    h_stop_nicproxy TERM 30
    h_cleanup "$P" >/dev/null 2>&1
done
