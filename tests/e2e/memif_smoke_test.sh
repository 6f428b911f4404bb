#!/usr/bin/env bash
# memif_smoke_test.sh: the plumbing of scripts/bench_memif.sh, small enough for CI. The
# real nicproxy process on a net_memif port (server) and nicproxy-gen on the other end
# (client) playing clients and backends:
#   - nicproxy-gen plan writes a configuration and services file nicproxy starts on;
#   - 5000 UDP requests (20000/s) through nicproxy, every one answered by the backend role and the
#     answer back at its client with the right addresses; nicproxy's own counters (parsed
#     from its SIGTERM report, as the benchmark does) saw them both ways;
#   - 100 TCP handshakes (the backend role learns each SNAT port from the DNATed SYN), then
#     2000 data segments each way, none lost;
#   - one flood (martians, 0.3 s) beside the established flow to the guarded service,
#     whose backend nicproxy resolves by ARP (the generator answers): the flow establishes
#     and loses nothing before the flood, and the generator reports the flood;
#   - the same UDP requests through testpmd's io-forward (the benchmark's baseline).
# No speed is asserted. Root (EAL, --no-huge). Prints PASS:/FAIL: lines.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=$BUILD_DIR/daemon/nicproxy
GEN=$BUILD_DIR/tests/nicproxy-gen
FAILED=0
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+ ($2)}"; FAILED=$((FAILED + 1)); }

if [[ ! -x $NICPROXY || ! -x $GEN ]]; then
    ninja -C "$BUILD_DIR" daemon/nicproxy tests/nicproxy-gen >/dev/null || { fail "build nicproxy and nicproxy-gen"; exit 1; }
fi
WORK=$(mktemp -d /tmp/memif-smoke.XXXXXX)
SOCKET=$WORK/memif.sock
GEN_MAC=02:00:00:00:00:64
PEER="net_memif0,role=client,socket=$SOCKET,socket-abstract=no,rsize=12,mac=$GEN_MAC"
PIDS=()
# shellcheck disable=SC2317  # called from the trap
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    if [[ $FAILED -ne 0 || ${KEEP_WORK:-0} == 1 ]]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi
    # EAL leaves a runtime directory per --file-prefix even with --no-shconf.
    rm -rf "/var/run/dpdk/npsmoke$$" "/var/run/dpdk/npsmokegen$$" "/var/run/dpdk/npsmoketp$$"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# key=value from the generator's "result" line in log $1.
result() { { grep '^result ' "$1" || true; } | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2; exit }'; }
counter() { awk -v n="$2" '$1 == n { print $2; found = 1 } END { if (!found) print 0 }' "$1"; }

# phase NAME GEN-ARGS...: nicproxy, then the generator until its results; nicproxy is
# stopped first (its peer must not vanish under its worker), then the generator.
# Leaves $WORK/gen-NAME.log and $WORK/counters-NAME.
phase() {
    local name=$1 np gen rc=0
    shift
    rm -f "$SOCKET"
    "$NICPROXY" --config "$WORK/nicproxy.json" >"$WORK/nicproxy-$name.log" 2>&1 &
    np=$!
    PIDS+=("$np")
    for _ in $(seq 150); do
        grep -q "data path ready" "$WORK/nicproxy-$name.log" && break
        kill -0 "$np" 2>/dev/null || break
        sleep 0.1
    done
    "$GEN" --device "$PEER" --file-prefix "npsmokegen$$" --link-timeout 5 --hold "$@" >"$WORK/gen-$name.log" 2>&1 &
    gen=$!
    PIDS+=("$gen")
    for _ in $(seq 200); do
        grep -q '^# done' "$WORK/gen-$name.log" && break
        kill -0 "$gen" 2>/dev/null || break
        sleep 0.1
    done
    kill -TERM "$np" 2>/dev/null
    wait "$np" || rc=$?
    kill -TERM "$gen" 2>/dev/null
    wait "$gen"
    sed -n '/counters at shutdown/,$p' "$WORK/nicproxy-$name.log" | awk 'NF == 2 && $2 ~ /^[0-9]+$/ { print $1, $2 }' \
        >"$WORK/counters-$name"
    return "$rc"
}

if "$GEN" plan --dir "$WORK" --nicproxy-device "net_memif0,role=server,socket=$SOCKET,socket-abstract=no,mac=02:00:00:00:00:01" \
    --generator-mac "$GEN_MAC" --nicproxy-prefix "npsmoke$$" --flow-table 16384 &&
    [[ -s $WORK/nicproxy.json && -s $WORK/services.json ]]; then
    pass "plan: nicproxy-gen writes nicproxy.json and services.json"
else
    fail "plan: nicproxy-gen writes nicproxy.json and services.json"
    exit 1
fi

# ---- UDP ----
phase udp udp --rate 20000 --count 5000 --seconds 10 --flows 200
rc=$?
log=$WORK/gen-udp.log
sent=$(result "$log" sent)
lost=$(result "$log" lost)
wrong=$(result "$log" wrong_answers)
if grep -q "data path ready" "$WORK/nicproxy-udp.log" && [[ $rc -eq 0 ]]; then
    pass "udp: nicproxy started on the plan's configuration and exited 0 on SIGTERM"
else
    fail "udp: nicproxy started on the plan's configuration and exited 0 on SIGTERM" "exit $rc"
fi
if [[ $sent == 10000 && $lost == 0 && $wrong == 0 ]]; then
    pass "udp: $sent frames (requests and answers) through nicproxy over memif, none lost, answers correctly addressed"
else
    fail "udp: requests and answers through nicproxy over memif, none lost" \
        "sent=${sent:-?} lost=${lost:-?} wrong=${wrong:-?}; $(grep '^trial' "$log" | head -1)"
fi
forward=$(counter "$WORK/counters-udp" nat_forward)
reverse=$(counter "$WORK/counters-udp" nat_reverse)
if [[ -n $sent && $forward -ge $((sent / 2)) && $reverse -ge $((sent / 2)) ]]; then
    pass "udp: nicproxy's SIGTERM counters parsed: nat_forward $forward, nat_reverse $reverse for $sent frames"
else
    fail "udp: nicproxy's SIGTERM counters parsed" "nat_forward=$forward nat_reverse=$reverse sent=${sent:-?}"
fi

# ---- TCP ----
phase tcp tcp --rate 8000 --count 2000 --seconds 10 --flows 100
log=$WORK/gen-tcp.log
if grep -q '^handshakes: 100 flows, .* 100 established' "$log"; then
    pass "tcp: 100 handshakes completed through nicproxy (SNAT ports learnt from the DNATed SYNs)"
else
    fail "tcp: 100 handshakes completed through nicproxy" "$(grep '^handshakes' "$log")"
fi
sent=$(result "$log" sent)
lost=$(result "$log" lost)
if [[ $sent == 4000 && $lost == 0 && $(result "$log" wrong_answers) == 0 ]]; then
    pass "tcp: $sent data segments both ways through nicproxy, none lost, checksums right"
else
    fail "tcp: data segments both ways through nicproxy, none lost" "sent=${sent:-?} lost=${lost:-?}"
fi

# ---- flood plumbing ----
phase flood flood martians --seconds 0.3 --after 0.2 --flow-rate 2000
log=$WORK/gen-flood.log
before=$(result "$log" before_lost)
if grep -q '^established flow: ' "$log" && [[ $before == 0 ]] && [[ -n $(result "$log" flood_kpps) ]]; then
    pass "flood: the established flow (guarded backend resolved by ARP) loses nothing before a martians flood, which is reported"
else
    fail "flood: established flow and flood report" "$(grep -E '^(handshakes|result)' "$log" | tr '\n' ' ')"
fi

# ---- io-forward baseline ----
if command -v dpdk-testpmd >/dev/null; then
    rm -f "$SOCKET"
    dpdk-testpmd --lcores 0@0,1@1 --no-huge -m 256 --no-pci --no-shconf --file-prefix "npsmoketp$$" \
        --vdev "net_memif0,role=server,socket=$SOCKET,socket-abstract=no" -- --total-num-mbufs 8192 \
        --forward-mode=io --stats-period 5 --auto-start >"$WORK/testpmd.log" 2>&1 &
    tp=$!
    PIDS+=("$tp")
    for _ in $(seq 100); do [[ -S $SOCKET ]] && break; sleep 0.1; done
    "$GEN" --device "$PEER" --file-prefix "npsmokegen$$" --link-timeout 5 --dut io udp --rate 20000 --count 5000 \
        --seconds 10 --flows 200 --hold >"$WORK/gen-io.log" 2>&1 &
    gen=$!
    PIDS+=("$gen")
    for _ in $(seq 200); do grep -q '^# done' "$WORK/gen-io.log" && break; kill -0 "$gen" 2>/dev/null || break; sleep 0.1; done
    kill -INT "$tp" 2>/dev/null
    wait "$tp"
    kill -TERM "$gen" 2>/dev/null
    wait "$gen"
    sent=$(result "$WORK/gen-io.log" sent)
    if [[ $sent == 10000 && $(result "$WORK/gen-io.log" lost) == 0 ]]; then
        pass "io: $sent frames through testpmd io-forward on the same memif pair, none lost"
    else
        fail "io: frames through testpmd io-forward, none lost" "$(grep -E '^(trial|result)' "$WORK/gen-io.log" | tr '\n' ' ')"
    fi
else
    fail "io: frames through testpmd io-forward" "dpdk-testpmd not installed (scripts/setup.sh installs dpdk-dev)"
fi
exit $((FAILED > 0))
