#!/usr/bin/env bash
# bench_kernel.sh: numbers for the kernel dataplanes (not a test; asserts nothing; root).
#
#  1. Sync time: for each mode (iptables, nftables) and each size (services of 10
#     endpoints), the time of a full sync and of one-service syncs (one endpoint
#     replaced, a service added, removed, or left without endpoints), measured by
#     build/tests/kernel_sync_bench in a fresh network namespace against the real kernel;
#     each endpoint sync line also splits its time into the external command (nft,
#     iptables-restore), the netlink deletions and nicproxy's own code.
#  2. Connection setup: in scripts/netns_router_topology.sh, N services installed in
#     the router (the measured one sorted last, so last in KUBE-SERVICES), then the
#     time of connect() of new TCP connections from the client to the ClusterIP,
#     beside a direct connect() to the backend (no service) in the same run.
#
# Options (environment):
#   SYNC_SIZES="1000 10000"     services for part 1 (empty: skip part 1)
#   CONN_SIZES="10 1000 10000"  services for part 2 (empty: skip part 2)
#   IPTABLES_COMMANDS=iptables-legacy   which iptables backends for part 1; "iptables" (Debian: the
#                               nf_tables backend) is much slower here for the full sync (one of
#                               10,000 services did not finish in 15 minutes), so for it the table
#                               is built in partial syncs of GROW services (see kernel_sync_bench --grow)
#   CHANGE_KINDS=endpoint,add,remove,no-endpoints   which one-service changes part 1 times
#   GROW=1000                   step for the nf_tables backend of iptables
#   CONN_IPTABLES=iptables-legacy                 which one for part 2
#   CONNECTS=300                connections per measurement
# CPUs: the client runs on CPU 1 (taskset), the backend on CPU 0; the router's
# netfilter work runs in softirq on the sending CPU (veth), so mostly CPU 1.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
BENCH=$BUILD_DIR/tests/kernel_sync_bench
NICPROXY=$BUILD_DIR/daemon/nicproxy
SYNC_SIZES=${SYNC_SIZES-"1000 10000"}
CONN_SIZES=${CONN_SIZES-"10 1000 10000"}
IPTABLES_COMMANDS=${IPTABLES_COMMANDS:-iptables-legacy}
CONN_IPTABLES=${CONN_IPTABLES:-iptables-legacy}
CONNECTS=${CONNECTS:-300}
CHANGE_KINDS=${CHANGE_KINDS:-endpoint,add,remove,no-endpoints}
GROW=${GROW:-1000}
[[ -x $BENCH && -x $NICPROXY ]] || { echo "build first (ninja -C $BUILD_DIR)" >&2; exit 1; }

P=kb$$
NS_SYNC=kbs$$
BACKEND_PID=""
cleanup() {
    [[ -n $BACKEND_PID ]] && kill "$BACKEND_PID" 2>/dev/null && wait "$BACKEND_PID" 2>/dev/null
    ip netns del "$NS_SYNC" 2>/dev/null
    rtopo_down "$P"
}
trap cleanup EXIT

echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(iptables --version), $(nft --version)"
echo "== 1. sync time (services x 10 endpoints)"
for size in $SYNC_SIZES; do
    runs=("--mode nftables")
    for cmd in $IPTABLES_COMMANDS; do
        if [[ $cmd == iptables-legacy ]]; then
            runs+=("--mode iptables --iptables-command $cmd")
        else
            runs+=("--mode iptables --iptables-command $cmd --grow $GROW")
        fi
    done
    for args in "${runs[@]}"; do
        ip netns add "$NS_SYNC"
        echo "-- load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
        # shellcheck disable=SC2086  # args is a word list
        ip netns exec "$NS_SYNC" "$BENCH" $args --services "$size" --changes 5 --change-kinds "$CHANGE_KINDS" |
            grep -E 'full_sync|built_in|median|endpoint one_service'
        ip netns del "$NS_SYNC"
    done
done

echo "== 2. connection setup time vs number of services"
rtopo_up "$P" || exit 1
# A bare listener with a deep backlog: only connection setup is measured, and an HTTP
# server's small accept queue would drop SYNs (1 s retransmits) under a connect loop.
ip netns exec "$(rtopo_ns "$P" be1)" taskset -c 0 python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(4096)
while True:
    c, _ = s.accept()
    c.close()
' >/dev/null 2>&1 &
BACKEND_PID=$!
sleep 1
connect_times() { # connect_times IP PORT -> "median_us p90_us"
    ip netns exec "$(rtopo_ns "$P" client)" taskset -c 1 python3 - "$1" "$2" "$CONNECTS" <<'PY'
import socket, statistics, struct, sys, time
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close: no TIME_WAIT pile-up
    t = time.perf_counter_ns()
    s.connect((ip, port))
    times.append((time.perf_counter_ns() - t) / 1000)
    s.close()
times.sort()
print(f"median_us={statistics.median(times):.0f} p90_us={times[int(len(times) * 0.9)]:.0f}")
PY
}
for mode in iptables nftables; do
    for size in $CONN_SIZES; do
        args=(--mode "$mode" --services "$size" --changes 0 --target 10.21.0.2:8080 --keep)
        [[ $mode == iptables ]] && args+=(--iptables-command "$CONN_IPTABLES")
        ip netns exec "$(rtopo_ns "$P" router)" "$BENCH" "${args[@]}" >/dev/null
        direct=$(connect_times 10.21.0.2 8080)
        service=$(connect_times 10.99.255.254 80)
        label=$mode
        [[ $mode == iptables ]] && label="iptables ($CONN_IPTABLES)"
        echo "$label services=$size service: $service direct: $direct"
        # nicproxy --cleanup removes what `iptables` (and nft) installed; a run with no
        # services and no --keep removes what another iptables backend installed.
        ip netns exec "$(rtopo_ns "$P" router)" "$NICPROXY" --cleanup >/dev/null 2>&1
        if [[ $mode == iptables ]]; then
            ip netns exec "$(rtopo_ns "$P" router)" "$BENCH" --mode iptables --iptables-command "$CONN_IPTABLES" \
                --services 0 --changes 0 >/dev/null
        fi
        left=$( (ip netns exec "$(rtopo_ns "$P" router)" iptables-legacy-save
                 ip netns exec "$(rtopo_ns "$P" router)" iptables-save
                 ip netns exec "$(rtopo_ns "$P" router)" nft list ruleset) 2>/dev/null | grep -cE 'KUBE-|kube-proxy')
        [[ $left -eq 0 ]] || echo "warning: $left lines of rules left after $mode services=$size"
    done
done
