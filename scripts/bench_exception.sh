#!/usr/bin/env bash
# bench_exception.sh: TCP throughput through nicproxy's exception path (not a test;
# asserts nothing; root). Issue 13 asks for iperf3 through it, in Gbit/s.
#
# The topology of scripts/netns_topology.sh: the client namespace (10.50.0.100) reaches,
# over a bridge, the node namespace's veth, which nicproxy opens in DPDK mode with
# net_af_packet (port address 10.50.0.1/24, configs/demo.json's EAL: lcore 0 the main one,
# lcore 1 the worker, which polls all the time). The port has a net_tap exception
# interface (dpdk.ports[0].exceptionPath "tap") in the node namespace carrying the node
# address, as the host's network manager would put it there (exceptionAddresses "host":
# this script does it). The node's kernel is kept off the af_packet veth, which it
# would otherwise also receive every frame on: rp_filter 1 there (the route back to the
# client goes through the tap, so a copy that came in on the veth is dropped) and
# arp_ignore 8 (it answers no ARP on the veth). So a packet from the client goes
# veth -> nicproxy's worker -> the port's toKernel ring -> the exception thread -> tap ->
# the node's kernel -> the iperf3 server bound to 10.50.0.1, and the replies back the
# other way (tap -> exception thread -> the worker's fromKernel ring -> veth).
#
# Printed: iperf3 TCP for DURATION seconds, client -> node and node -> client (-R), in
# Gbit/s at the receiver, with the sender's retransmissions; then the same iperf3 between
# two plain namespaces over one veth, as a reference: once with the topology's offload
# settings (no checksum offload, TSO, GSO, GRO: 1500-byte frames, as on the DPDK path)
# and once with the veth's defaults. For each DPDK run, the CPU time each nicproxy thread
# used and the CPU it last ran on, and the exception counters from /metrics.
#
# CPUs (a 2-vCPU VM): nicproxy's worker lcore polls CPU 1 all the time; its main lcore,
# the control thread and the exception thread (rte_ctrl_thread_create) are on CPU 0;
# both iperf3 processes are pinned to IPERF_CPUS (default 0) in every run, the reference
# too, so the kernel's TCP work for them runs there as well (softirq may run on either).
#
# The DPDK port's receive ring is the af_packet socket's (net_af_packet's framecnt, 512
# frames by default): when the worker's CPU is taken by something else for a moment,
# frames overflow it and TCP retransmits. The DPDK part runs once per FRAMECNTS entry,
# and each run says where the frames went (into the node's veth, received by the port,
# written into the tap, and back).
#
# Options (environment): DURATION=10, IPERF_CPUS=0, EXCEPTION_PPS=0
# (dpdk.exception.packetsPerSecond; 0: no limit, the default config's 200000 would cap
# 1500-byte frames at 2.4 Gbit/s), FRAMECNTS="512 4096", BUILD_DIR=build.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
export NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
# shellcheck source=SCRIPTDIR/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/harness.sh
source "$ROOT/scripts/harness.sh"
DURATION=${DURATION:-10}
IPERF_CPUS=${IPERF_CPUS:-0}
EXCEPTION_PPS=${EXCEPTION_PPS:-0}
FRAMECNTS=${FRAMECNTS:-"512 4096"}
[[ -x $NICPROXY ]] || { echo "build first (ninja -C $BUILD_DIR daemon/nicproxy)" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || { echo "root only" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "iperf3 missing (scripts/setup.sh installs it)" >&2; exit 1; }

P=nbx$$
TAP=${P}x
REF_A=${P}-ra
REF_B=${P}-rb
WORK=$(mktemp -d /tmp/nicproxy-bench-exception.XXXXXX)
SERVER_PID=""
cleanup() {
    [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [[ -n ${H_NICPROXY_PID:-} ]] && h_stop_nicproxy TERM 15 >/dev/null 2>&1
    h_cleanup "$P" >/dev/null 2>&1
    ip netns del "$REF_A" 2>/dev/null
    ip netns del "$REF_B" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_server NS ADDRESS: an iperf3 server in NS bound to ADDRESS (SERVER_PID).
start_server() {
    ip netns exec "$1" taskset -c "$IPERF_CPUS" iperf3 -s -B "$2" -p 5201 >"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + 5))
    until ip netns exec "$1" ss -Htln "sport = :5201" | grep -q .; do
        ((SECONDS < deadline)) || { echo "iperf3 server did not start" >&2; return 1; }
        sleep 0.1
    done
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

# run_iperf NS ADDRESS LABEL [-R]: one client run; prints "LABEL: X Gbit/s (...)".
run_iperf() {
    local ns=$1 address=$2 label=$3 json
    shift 3
    json=$WORK/iperf.json
    ip netns exec "$ns" taskset -c "$IPERF_CPUS" iperf3 -c "$address" -p 5201 -t "$DURATION" \
        --connect-timeout 3000 -J "$@" >"$json" 2>&1
    python3 - "$json" "$label" <<'PY'
import json, sys
path, label = sys.argv[1:3]
try:
    with open(path) as f:
        r = json.load(f)
except ValueError:
    print(f"{label}: not measured (iperf3 printed no JSON)")
    sys.exit(0)
if "error" in r:
    print(f"{label}: not measured ({r['error']})")
    sys.exit(0)
end = r["end"]
received = end["sum_received"]
sent = end["sum_sent"]
print(f"{label}: {received['bits_per_second'] / 1e9:.2f} Gbit/s at the receiver over "
      f"{received['seconds']:.1f} s, {sent.get('retransmits', 0)} retransmissions")
PY
}

# thread_ticks PID: "tid ticks cpu name" for each thread of PID (user + system ticks).
thread_ticks() {
    local stat line rest tid name
    for stat in /proc/"$1"/task/*/stat; do
        read -r line <"$stat" 2>/dev/null || continue
        tid=${stat%/stat}
        tid=${tid##*/}
        rest=${line##*) }
        name=${line#*(}
        name=${name%%)*}
        # shellcheck disable=SC2086  # fields 3.. of stat: utime is the 14th, stime the 15th, processor the 39th
        set -- $rest
        echo "$tid $((${12} + ${13})) ${37} ${name// /_}"
    done
}

# thread_usage BEFORE AFTER SECONDS: the CPU share of each thread that used 5 % or more
# between two thread_ticks, and of the others together.
thread_usage() {
    awk -v secs="$3" -v hz="$(getconf CLK_TCK)" '
        NR == FNR { before[$1] = $2; next }
        { used = ($2 - before[$1]) / hz / secs * 100
          if (used >= 5) printf "      thread %-16s %5.1f %% of a CPU, last on CPU %s\n", $4, used, $3
          else { others += used; count++ } }
        END { printf "      %d other threads together %.1f %% of a CPU\n", count, others }' "$1" "$2"
}

# exception_metrics: the exception path's series and its drop reasons' that are not 0.
exception_metrics() {
    ip netns exec "$(topo_ns "$P" node)" curl -sS --max-time 5 http://127.0.0.1:10249/metrics 2>/dev/null |
        grep -Ei '^nicproxy_[a-z_]*(exception|kernel)[a-z_]*(\{[^}]*\})? |^nicproxy_[a-z_]*drops_total\{[^}]*reason="[a-z_]*(exception|kernel)' |
        awk '$NF != 0 { print "      " $0 }'
}

echo "== machine: $(nproc) CPUs, kernel $(uname -r), $(iperf3 --version | head -1), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)"
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# if_packets NS IF rx|tx [packets|dropped]: one of the interface's counters.
if_packets() {
    ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3_${4:-packets}" 2>/dev/null || echo 0
}

# path_counters: "offered port_rx tap_rx tap_tx port_tx client_rx": frames the bridge sent
# into the node's veth, frames nicproxy's port received, frames written into the kernel
# through the tap (its rx), frames the kernel sent on the tap, frames the port sent,
# frames the client's veth received, frames the kernel could not queue on the tap because
# the exception thread had not read the tap's queue yet (its tx_dropped).
path_counters() {
    local fab node
    fab=$(topo_ns "$P" fabric)
    node=$(topo_ns "$P" node)
    echo "$(if_packets "$fab" "${NODE_IF}f" tx)" \
        "$(ip netns exec "$node" curl -sS --max-time 5 http://127.0.0.1:10249/metrics 2>/dev/null |
            awk '/^nicproxy_port_rx_packets_total/ { n += $NF } END { print n + 0 }')" \
        "$(if_packets "$node" "$TAP" rx)" "$(if_packets "$node" "$TAP" tx)" \
        "$(ip netns exec "$node" curl -sS --max-time 5 http://127.0.0.1:10249/metrics 2>/dev/null |
            awk '/^nicproxy_port_tx_packets_total/ { n += $NF } END { print n + 0 }')" \
        "$(if_packets "$(topo_ns "$P" client)" "$(topo_if "$P" client)" rx)" \
        "$(if_packets "$node" "$TAP" tx dropped)"
}

# path_report BEFORE AFTER: where the frames of one run went.
path_report() {
    read -r o0 r0 k0 t0 s0 c0 d0 <<<"$1"
    read -r o1 r1 k1 t1 s1 c1 d1 <<<"$2"
    echo "      frames: $((o1 - o0)) into the node's veth, $((r1 - r0)) received by nicproxy's port" \
        "($((o1 - o0 - r1 + r0)) lost in the af_packet socket's ring), $((k1 - k0)) written into the tap;" \
        "$((t1 - t0)) sent by the kernel on the tap ($((d1 - d0)) more dropped there: the tap's queue full)," \
        "$((s1 - s0)) sent by the port, $((c1 - c0)) received by the client's veth"
}

# run_exception_path FRAMECNT: nicproxy with a tap exception path, its af_packet port's
# ring FRAMECNT frames deep; iperf3 both ways.
run_exception_path() {
    local framecnt=$1 config log direction label started before after
    topo_up "$P" >/dev/null || { echo "topology setup failed" >&2; return 1; }
    NODE_NS=$(topo_ns "$P" node)
    CLIENT_NS=$(topo_ns "$P" client)
    NODE_IF=$(topo_node_if "$P")
    mkdir -p "$WORK/in"
    printf '{"apiVersion": "v1", "kind": "List", "items": []}\n' >"$WORK/in/services.json"
    config=$(h_write_config "$ROOT/configs/demo.json" "$WORK/in/services.json" "$NODE_IF,framecnt=$framecnt" \
        "$WORK") || return 1
    python3 - "$config" "$TAP" "$EXCEPTION_PPS" <<'PY' || return 1
import json, sys
path, tap, pps = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path) as f:
    cfg = json.load(f)
port = cfg["dpdk"]["ports"][0]
port["exceptionPath"] = "tap"
port["exceptionInterface"] = tap
port["exceptionAddresses"] = "host"
cfg["dpdk"]["exception"] = {"packetsPerSecond": pps}
with open(path, "w") as f:
    json.dump(cfg, f, indent=4)
PY
    # The node's kernel stays off the af_packet veth (see the top of this file).
    ip netns exec "$NODE_NS" sysctl -qw net.ipv4.conf.all.rp_filter=1 "net.ipv4.conf.$NODE_IF.rp_filter=1" \
        "net.ipv4.conf.$NODE_IF.arp_ignore=8" || return 1

    log=$WORK/nicproxy.log
    h_start_nicproxy "$P" "$config" "$log"
    if ! h_wait_log "$log" 'data path ready' 60 "$H_NICPROXY_PID"; then
        echo "nicproxy with a tap exception path did not start; the exception path was not measured. Log tail:"
        tail -n 5 "$log" | sed 's/^/    /'
        return 1
    fi
    local deadline=$((SECONDS + 10))
    until ip -n "$NODE_NS" link show "$TAP" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || break
        sleep 0.1
    done
    if ! ip -n "$NODE_NS" link show "$TAP" >/dev/null 2>&1; then
        echo "no exception interface $TAP in the node namespace; the exception path was not measured"
        return 1
    fi
    # What the host's network manager does with exceptionAddresses "host".
    ip -n "$NODE_NS" addr add "$TOPO_NODE_IP/$TOPO_SUBNET_PREFIXLEN" dev "$TAP" 2>/dev/null
    ip -n "$NODE_NS" link set "$TAP" up
    echo "== through the exception path: client $TOPO_CLIENT_IP -> veth -> nicproxy (net_af_packet framecnt=$framecnt, worker lcore 1 on CPU 1) -> $TAP (net_tap) -> iperf3 server on $TOPO_NODE_IP; dpdk.exception.packetsPerSecond $EXCEPTION_PPS; iperf3 on CPU $IPERF_CPUS"
    if ! ip netns exec "$CLIENT_NS" ping -c 3 -i 0.2 -W 1 -q "$TOPO_NODE_IP" >/dev/null 2>&1; then
        echo "   the node address does not answer ping through the exception path: iperf3 will say so"
    fi
    start_server "$NODE_NS" "$TOPO_NODE_IP" || return 1
    for direction in "" -R; do
        label="client -> node"
        [[ -n $direction ]] && label="node -> client (-R)"
        thread_ticks "$H_NICPROXY_PID" >"$WORK/ticks.before"
        before=$(path_counters)
        started=$(date +%s.%N)
        # shellcheck disable=SC2086  # empty or -R
        run_iperf "$CLIENT_NS" "$TOPO_NODE_IP" "   $label" $direction
        thread_ticks "$H_NICPROXY_PID" >"$WORK/ticks.after"
        after=$(path_counters)
        thread_usage "$WORK/ticks.before" "$WORK/ticks.after" \
            "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
        path_report "$before" "$after"
    done
    stop_server
    echo "   exception path counters (non-zero) after both runs:"
    exception_metrics
    echo "   node kernel: frames dropped by rp_filter (its copies of what came in on the af_packet veth):" \
        "$(ip netns exec "$NODE_NS" nstat -az TcpExtIPReversePathFilter 2>/dev/null | awk '/IPReversePathFilter/ { print $2 }')"
}

for framecnt in $FRAMECNTS; do
    run_exception_path "$framecnt"
    h_stop_nicproxy TERM 15 >/dev/null 2>&1
    h_cleanup "$P" >/dev/null 2>&1
done

# ---- reference: two plain namespaces over one veth --------------------------------------
ip netns add "$REF_A" && ip netns add "$REF_B" || exit 1
ip -n "$REF_A" link add "${P}a" type veth peer name "${P}b" netns "$REF_B" || exit 1
for side in "$REF_A ${P}a 10.51.0.1" "$REF_B ${P}b 10.51.0.2"; do
    read -r ns ifname address <<<"$side"
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$address/24" dev "$ifname"
    ip -n "$ns" link set "$ifname" up
done
for offloads in topology default; do
    if [[ $offloads == topology ]]; then
        for side in "$REF_A ${P}a" "$REF_B ${P}b"; do
            read -r ns ifname <<<"$side"
            ip netns exec "$ns" ethtool -K "$ifname" tx off tso off gso off gro off >/dev/null 2>&1
        done
        echo "== reference: plain veth between two namespaces, offloads as in the topology (tx checksum, TSO, GSO, GRO off)"
    else
        for side in "$REF_A ${P}a" "$REF_B ${P}b"; do
            read -r ns ifname <<<"$side"
            ip netns exec "$ns" ethtool -K "$ifname" tx on tso on gso on gro on >/dev/null 2>&1
        done
        echo "== reference: plain veth between two namespaces, the veth's default offloads"
    fi
    start_server "$REF_B" 10.51.0.2 || exit 1
    run_iperf "$REF_A" 10.51.0.2 "   a -> b"
    run_iperf "$REF_A" 10.51.0.2 "   b -> a (-R)" -R
    stop_server
done
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
