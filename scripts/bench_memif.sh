#!/usr/bin/env bash
# bench_memif.sh: the real nicproxy process on a net_memif port against a traffic
# generator process on the other end (docs/bench_memif.md says how to read the output).
#
#   scripts/bench_memif.sh [--trial S] [--precision PCT] [--max-loss PCT] [--flows N]
#                          [--flood-seconds S] [--floods k1,k2,...] [--ring LOG2]
#                          [--no-tcp] [--no-testpmd] [--no-floods] [--keep DIR]
#
# 1. the highest loss-free rate (binary search, nicproxy-gen paced by the TSC) through
#    nicproxy and through testpmd's io-forward on the same memif pair: UDP, then TCP;
# 2. testpmd txonly and flowgen (full rate, no pacing) through nicproxy;
# 3. each flood of issue 9 at full rate beside one established TCP flow, with that
#    flow's losses and nicproxy's drop counters.
# A benchmark: prints numbers, asserts nothing, not run by scripts/test.sh. Root (EAL).
# --trial S        length of one search trial (1 s); --precision PCT: stop when the
#                  bounds are within PCT % (2); --max-loss PCT: a trial passes with at most
#                  PCT % loss (0.1; 0 for strict zero loss)
# --ring LOG2      memif ring size (log2, 12 = 4096 slots; DPDK's default is 10)
# --keep DIR       keep the configurations and every process's log in DIR
# Environment: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
TRIAL=1
PRECISION=2
MAX_LOSS=0.1
FLOWS=1000
FLOOD_SECONDS=3
FLOODS=invalid-flags,half-open-syn,rst-outside-window,arp-strangers,martians
RING=12
DO_TCP=1
DO_TESTPMD=1
DO_FLOODS=1
KEEP=""
TESTPMD_SECONDS=5
while [[ $# -gt 0 ]]; do
    case $1 in
        --trial) TRIAL=$2; shift 2 ;;
        --precision) PRECISION=$2; shift 2 ;;
        --max-loss) MAX_LOSS=$2; shift 2 ;;
        --flows) FLOWS=$2; shift 2 ;;
        --flood-seconds) FLOOD_SECONDS=$2; shift 2 ;;
        --floods) FLOODS=$2; shift 2 ;;
        --ring) RING=$2; shift 2 ;;
        --no-tcp) DO_TCP=0; shift ;;
        --no-testpmd) DO_TESTPMD=0; shift ;;
        --no-floods) DO_FLOODS=0; shift ;;
        --keep) KEEP=$2; shift 2 ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "bench_memif.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if [[ $(id -u) -ne 0 ]]; then
    echo "bench_memif.sh: run as root (DPDK's EAL)" >&2
    exit 1
fi

[[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR" >/dev/null
ninja -C "$BUILD_DIR" daemon/nicproxy tests/nicproxy-gen >/dev/null
NICPROXY=$BUILD_DIR/daemon/nicproxy
GEN=$BUILD_DIR/tests/nicproxy-gen
if ! command -v dpdk-testpmd >/dev/null; then
    # Debian ships dpdk-testpmd in dpdk-dev (scripts/setup.sh installs it).
    echo "# installing dpdk-dev for dpdk-testpmd"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dpdk-dev >/dev/null
fi

WORK=$(mktemp -d /tmp/bench_memif.XXXXXX)
SOCKET=$WORK/memif.sock
NP_MAC=02:00:00:00:00:01
FLOWGEN_MAC=00:01:02:03:04:01   # testpmd 22.11's flowgen sends to this MAC, whatever --eth-peer says
GEN_MAC=02:00:00:00:00:64
NP_DEVICE="net_memif0,role=server,socket=$SOCKET,socket-abstract=no"
PEER_DEVICE="net_memif0,role=client,socket=$SOCKET,socket-abstract=no,rsize=$RING"
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n $KEEP ]]; then
        mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && echo "# logs and configurations kept in $KEEP"
    fi
    rm -rf "$WORK"
    # EAL leaves a runtime directory per --file-prefix even with --no-shconf.
    rm -rf "/var/run/dpdk/npmemif$$" "/var/run/dpdk/npmemifgen$$" "/var/run/dpdk/npmemiftp$$"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

forget() {  # removes a finished process from the cleanup list
    local keep=() pid
    for pid in "${PIDS[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
    PIDS=("${keep[@]}")
}

# The memif noise of --no-shconf (no multi-process channel) hides nothing useful.
quiet() { grep -v -e 'Failed to register mp action callback' -e 'TELEMETRY:' || true; }  # nicproxy's: "dpdk: TELEMETRY:"

"$GEN" plan --dir "$WORK" --nicproxy-device "$NP_DEVICE,mac=$NP_MAC" --generator-mac "$GEN_MAC" \
    --nicproxy-prefix "npmemif$$" --lcores 0@0,1@1
"$GEN" plan --dir "$WORK" --config-name nicproxy-flowgen.json --nicproxy-device "$NP_DEVICE,mac=$FLOWGEN_MAC" \
    --generator-mac "$GEN_MAC" --nicproxy-prefix "npmemif$$" --lcores 0@0,1@1

NP_PID=""
NP_LOG=""
start_nicproxy() {  # start_nicproxy CONFIG NAME
    NP_LOG=$WORK/nicproxy-$2.log
    rm -f "$SOCKET"
    "$NICPROXY" --config "$WORK/$1" >"$NP_LOG" 2>&1 &
    NP_PID=$!
    PIDS+=("$NP_PID")
    for _ in $(seq 200); do
        grep -q "data path ready" "$NP_LOG" && return 0
        kill -0 "$NP_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "nicproxy did not start; its log:" >&2
    quiet <"$NP_LOG" >&2
    exit 1
}

# Stops nicproxy (always before its peer: see docs/bench_memif.md) and leaves its
# counters, "name value" per line, in $WORK/counters-NAME.
stop_nicproxy() {  # stop_nicproxy NAME
    local rc=0
    kill -TERM "$NP_PID"
    wait "$NP_PID" || rc=$?
    forget "$NP_PID"
    [[ $rc -eq 0 ]] || echo "# nicproxy exited with status $rc (log: $NP_LOG)"
    sed -n '/counters at shutdown/,$p' "$NP_LOG" | awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $1, $2 }' \
        >"$WORK/counters-$1"
}

counter() { awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$WORK/counters-$1"; }

print_counters() {  # print_counters NAME: nicproxy's counters and every non-zero drop reason
    local line="" name value
    while read -r name value; do
        case $name in
            rx_packets | tx_packets | nat_forward | nat_reverse | flows_created | arp_replies | arp_learned | rejected | \
                flows_reset | loops_over_100us) line+=" $name=$value" ;;
        esac
    done <"$WORK/counters-$1"
    echo "nicproxy:$line"
    local drops
    drops=$(awk '$1 ~ /^drop_/ { printf " %s=%s", substr($1, 6), $2 }' "$WORK/counters-$1")
    echo "nicproxy drops:${drops:- none}"
}

GEN_PID=""
GEN_LOG=""
run_gen() {  # run_gen NAME GEN-ARGS...: runs until its results are out; it then holds the link
    GEN_LOG=$WORK/gen-$1.log
    shift
    "$GEN" --device "$PEER_DEVICE,mac=$GEN_MAC" --file-prefix "npmemifgen$$" --hold "$@" >"$GEN_LOG" 2>&1 &
    GEN_PID=$!
    PIDS+=("$GEN_PID")
    while kill -0 "$GEN_PID" 2>/dev/null && ! grep -q '^# done' "$GEN_LOG"; do sleep 0.2; done
    quiet <"$GEN_LOG" | grep -v '^# done' || true
}
stop_gen() {
    kill -TERM "$GEN_PID" 2>/dev/null || true
    wait "$GEN_PID" || true
    forget "$GEN_PID"
}
result() {  # result NAME KEY: a key=value of the generator's "result" line
    { grep '^result ' "$WORK/gen-$1.log" || true; } | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2; exit }'
}

TP_PID=""
TP_LOG=""
start_testpmd() {  # start_testpmd NAME LCORES DEVICE TESTPMD-ARGS...
    TP_LOG=$WORK/testpmd-$1.log
    local lcores=$2 device=$3
    shift 3
    dpdk-testpmd --lcores "$lcores" --no-huge -m 512 --no-pci --no-shconf --file-prefix "npmemiftp$$" --vdev "$device" \
        -- --total-num-mbufs 16384 --auto-start "$@" >"$TP_LOG" 2>&1 &
    TP_PID=$!
    PIDS+=("$TP_PID")
}
stop_testpmd() {
    kill -INT "$TP_PID" 2>/dev/null || true
    wait "$TP_PID" || true
    forget "$TP_PID"
}
# The median of testpmd's per-period rates (--stats-period 1), without the first and last
# (partial) periods, in Mpps: pps_median LOG Rx|Tx.
pps_median() {
    { grep -o "$2-pps: *[0-9]*" "$1" || true; } | awk '{ print $2 }' | sed '1d;$d' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "0.000"; else printf "%.3f", v[int((NR + 1) / 2)] / 1e6 }'
}

LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# bench_memif: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load average $LOAD"
echo "# commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'); memif with --no-huge, rings of $((1 << RING)) slots (rsize=$RING)"
echo "# cores: nicproxy --lcores 0@0,1@1 (lcore 0 on CPU 0: control thread, mostly asleep; lcore 1 on CPU 1: the one worker, alone)"
echo "#        nicproxy-gen: one lcore on CPU 0 beside nicproxy's sleeping main lcore (clients and backends)"
echo "#        testpmd io-forward (baseline DUT): --lcores 0@0,1@1 (forwarding on CPU 1, as nicproxy's worker)"
echo "#        testpmd txonly/flowgen (generator): --lcores 0@0,1@0 (forwarding on CPU 0)"
echo "# this host may be shared: a trial's 'longest pause' and nicproxy's loops_over_100us show how much"

SEARCH_ARGS=(--seconds "$TRIAL" --max-loss "$MAX_LOSS" --precision "$PRECISION" --flows "$FLOWS" --search)
search_pair() {  # search_pair udp|tcp
    echo
    echo "== $1: highest loss-free rate through nicproxy"
    start_nicproxy nicproxy.json "search-$1"
    run_gen "nicproxy-$1" "$1" "${SEARCH_ARGS[@]}"
    stop_nicproxy "search-$1"
    stop_gen
    print_counters "search-$1"
    echo
    echo "== $1: the same through testpmd io-forward (same memif pair, same cores)"
    rm -f "$SOCKET"
    start_testpmd "io-$1" 0@0,1@1 "$NP_DEVICE,mac=$NP_MAC" --forward-mode=io --stats-period 5
    for _ in $(seq 100); do [[ -S $SOCKET ]] && break; sleep 0.1; done
    run_gen "io-$1" --dut io "$1" "${SEARCH_ARGS[@]}"
    stop_testpmd
    stop_gen
}

search_pair udp
[[ $DO_TCP -eq 1 ]] && search_pair tcp

if [[ $DO_TESTPMD -eq 1 ]]; then
    echo
    echo "== testpmd txonly through nicproxy (${TESTPMD_SECONDS} s, full rate; UDP 10.200.255.1 -> 10.96.1.0:80, --txonly-multi-flow)"
    start_nicproxy nicproxy.json txonly
    start_testpmd txonly 0@0,1@0 "$PEER_DEVICE,mac=$GEN_MAC" --forward-mode=txonly --eth-peer=0,$NP_MAC \
        --tx-ip=10.200.255.1,10.96.1.0 --tx-udp=1024,80 --txonly-multi-flow --stats-period 1
    sleep "$TESTPMD_SECONDS"
    stop_nicproxy txonly
    stop_testpmd
    TXONLY_TX=$(pps_median "$TP_LOG" Tx)
    echo "testpmd txonly: ${TXONLY_TX} Mpps taken by the ring to nicproxy (median of 1 s periods); it does not receive, so nicproxy's transmissions back end as tx_full"
    print_counters txonly

    echo
    echo "== testpmd flowgen through nicproxy (${TESTPMD_SECONDS} s, full rate; UDP 10.254.0.0:1000 -> 10.253.0.0-63:1001)"
    start_nicproxy nicproxy-flowgen.json flowgen
    start_testpmd flowgen 0@0,1@0 "$PEER_DEVICE,mac=$GEN_MAC" --forward-mode=flowgen --flowgen-flows=64 --stats-period 1
    sleep "$TESTPMD_SECONDS"
    stop_nicproxy flowgen
    stop_testpmd
    FLOWGEN_TX=$(pps_median "$TP_LOG" Tx)
    FLOWGEN_RX=$(pps_median "$TP_LOG" Rx)
    echo "testpmd flowgen: ${FLOWGEN_TX} Mpps taken by the ring to nicproxy, ${FLOWGEN_RX} Mpps came back translated (medians of 1 s periods)"
    print_counters flowgen
fi

if [[ $DO_FLOODS -eq 1 ]]; then
    IFS=, read -r -a KINDS <<<"$FLOODS"
    for kind in "${KINDS[@]}"; do
        echo
        echo "== flood $kind (${FLOOD_SECONDS} s at full rate) beside one established TCP flow"
        start_nicproxy nicproxy.json "flood-$kind"
        run_gen "flood-$kind" flood "$kind" --seconds "$FLOOD_SECONDS"
        stop_nicproxy "flood-$kind"
        stop_gen
        print_counters "flood-$kind"
    done
fi

echo
echo "== summary (absolute numbers depend on this host's load; see the header)"
printf '%-34s %12s %12s %8s %s\n' "loss-free rate (<= ${MAX_LOSS} % loss)" "nicproxy" "testpmd io" "ratio" "(Mpps through the DUT, both ways; ${TRIAL} s trials, ${PRECISION} % precision)"
for proto in udp tcp; do
    [[ -f $WORK/gen-nicproxy-$proto.log ]] || continue
    np=$(result "nicproxy-$proto" loss_free_mpps)
    io=$(result "io-$proto" loss_free_mpps)
    ratio=$(awk -v a="${np:-0}" -v b="${io:-0}" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }')
    note=""
    [[ $(result "io-$proto" generator_bound) == ceiling ]] &&
        note="io-forward kept up with the generator's fastest: its rate is higher, the ratio lower"
    if [[ $(result "nicproxy-$proto" generator_bound) == yes || $(result "io-$proto" generator_bound) == yes ]]; then
        note="the generator fell behind its rate (its CPU was taken): these are the generator's rates, not the DUTs'"
    fi
    printf '%-34s %12s %12s %8s %s\n' "  $proto (64-byte frames)" "${np:--}" "${io:--}" "$ratio" "$note"
done
if [[ $DO_TESTPMD -eq 1 ]]; then
    printf '%-34s %s\n' "testpmd txonly -> nicproxy" "${TXONLY_TX} Mpps in, nat_forward $(counter txonly nat_forward) of rx $(counter txonly rx_packets)"
    printf '%-34s %s\n' "testpmd flowgen -> nicproxy" "${FLOWGEN_TX} Mpps in, ${FLOWGEN_RX} Mpps back out"
fi
if [[ $DO_FLOODS -eq 1 ]]; then
    echo
    echo "flood: kpps offered and taken by the ring; the established flow's segments lost/sent (of them lost inside"
    echo "nicproxy); flood frames nicproxy passed on to a backend; new connections completed/opened during the flood"
    printf '%-20s %9s %9s %18s %18s %9s %7s  %s\n' "flood" "offered" "taken" "flow c->b lost" "flow b->c lost" "passed" "probes" "nicproxy drops"
    for kind in "${KINDS[@]}"; do
        name=flood-$kind
        [[ -f $WORK/gen-$name.log ]] || continue
        drops=$(awk '$1 ~ /^drop_/ { printf "%s=%s ", substr($1, 6), $2 }' "$WORK/counters-$name")
        printf '%-20s %9s %9s %18s %18s %9s %7s  %s\n' "$kind" "$(result "$name" flood_kpps)" \
            "$(result "$name" flood_taken_kpps)" \
            "$(result "$name" flow_to_backend_lost)/$(result "$name" flow_to_backend) ($(result "$name" flow_to_backend_lost_inside))" \
            "$(result "$name" flow_to_client_lost)/$(result "$name" flow_to_client) ($(result "$name" flow_to_client_lost_inside))" \
            "$(result "$name" passed_to_backends)" \
            "$(result "$name" probes_completed)/$(result "$name" probes)" "${drops:-none}"
    done
fi
