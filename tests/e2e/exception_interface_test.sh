#!/usr/bin/env bash
# exception_interface_test.sh: the kernel side of the exception path (issue 13): the
# interface nicproxy makes for a DPDK port, what it carries, and how it goes. The traffic
# through it is exception_path_test.sh's.
#
# Topology (scripts/netns_topology.sh): nicproxy on the node veth through net_af_packet,
# port address 10.50.0.1/24, gateway 10.50.0.254 (nobody: the route only has to exist),
# client 10.50.0.100. Runs:
#   1. exceptionPath "tap", exceptionInterface PREFIX"x0", exceptionAddresses "nicproxy":
#      the interface appears in the node namespace as a tap with the port's MAC and MTU,
#      holds 10.50.0.1/24 and the default route via 10.50.0.254; the exception thread
#      reads what the kernel sends on it (metrics); a frame longer than the port's MTU
#      (the interface's MTU raised behind nicproxy's back) and a malformed one (written
#      with a packet socket) are dropped and counted; SIGTERM: exit 0, interface and route gone.
#   2. exceptionPath "virtio-user": where /dev/vhost-net is missing, start-up fails naming
#      it and how to load it (and virtio-user's traffic is a SKIP); where it exists, the
#      interface comes up.
#   3. An interface of the exception interface's name already in the namespace: start-up
#      fails naming it, and the existing interface is left alone.
#   4. --validate names the key path of a bad exceptionPath.
#
# Prints "PASS: name", "FAIL: name (reason)" or "SKIP: name (why)" per check. Root only.
# Traffic stays inside the namespaces this script creates.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"

PREFIX="nei$$"
WORK=$(mktemp -d /tmp/nicproxy-exception-if.XXXXXX)
EXC_IF="${PREFIX}x0"

CHECKS=(
    "tap: nicproxy starts with an exception interface (data path ready)"
    "tap: the interface is in the node namespace, a tap, up, its queue as deep as the rings (qlen 4096)"
    "tap: it has the port's MAC address"
    "tap: it has the port's MTU"
    "tap: exceptionAddresses nicproxy: 10.50.0.1/24 on it and the default route via 10.50.0.254"
    "tap: the start-up log names the interface, its kind, MAC, MTU and who sets its addresses"
    "tap: metrics name the interface (nicproxy_exception_interface_info) with every drop reason from 0"
    "tap: the exception thread takes what the kernel sends (from_kernel packets grow by its ARP requests)"
    "tap: a frame longer than the port's MTU from the kernel is dropped and counted (kernel_frame_too_long)"
    "tap: a malformed IPv4 frame from the kernel is dropped and counted (kernel_frame_malformed)"
    "tap: SIGTERM: exit 0, the interface and its route are gone"
    "virtio-user: without /dev/vhost-net start-up fails, naming it and modprobe vhost_net"
    "name in use: start-up fails naming the interface, which is left as it was"
    "--validate: a bad exceptionPath is refused with its key path"
)

in_node() { h_in_ns "$PREFIX" node "$@"; }
scrape() { in_node curl -sS --max-time 5 http://127.0.0.1:10249/metrics; }
# metric FILE SERIES_REGEX: the sum of the samples whose series matches (0 when none).
metric() { awk -v re="$2" '$0 !~ /^#/ && $1 ~ re { s += $2 } END { printf "%.0f\n", s + 0 }' "$1"; }
# wait_metric FILE SERIES_REGEX AT_LEAST: scrapes into FILE until the sum reaches AT_LEAST
# or 10 s pass (the exception thread may wait for a CPU on a loaded machine); VALUE is the last sum.
wait_metric() {
    local deadline=$((SECONDS + 10))
    while :; do
        scrape >"$1" 2>/dev/null
        VALUE=$(metric "$1" "$2")
        ((VALUE >= $3 || SECONDS >= deadline)) && return
        sleep 0.2
    done
}

# write_config FILE PORT_JSON_EXTRA: a one-port config with a unique file prefix.
write_config() {
    python3 - "$ROOT/configs/demo.json" "$(topo_node_if "$PREFIX")" "$1" "$2" "$PREFIX" <<'PY'
import json, re, sys
src, iface, out, extra, prefix = sys.argv[1:6]
cfg = json.load(open(src))
cfg["servicesFile"] = "services.json"
cfg["dpdk"]["eal"] += ["--file-prefix", prefix]
port = cfg["dpdk"]["ports"][0]
port["device"] = re.sub(r"iface=[^,]*", "iface=" + iface, port["device"])
port["gateway"] = "10.50.0.254"
port.update(json.loads(extra))
json.dump(cfg, open(out, "w"), indent=4)
PY
}

# start CONFIG LOG: nicproxy in the node namespace; 0 once the data path is ready, else
# 1 (timeout) or 2 (it exited).
start() {
    h_start_nicproxy "$PREFIX" "$1" "$2"
    h_wait_log "$2" 'data path ready' 120 "$H_NICPROXY_PID"
}

e2e_install_traps
if [[ $(id -u) -ne 0 ]]; then fail_all_from "needs root" 0; exit 1; fi
if [[ ! -x $NICPROXY ]]; then fail_all_from "no nicproxy binary at $NICPROXY" 0; exit 1; fi
if ! topo_up "$PREFIX"; then fail_all_from "topology setup failed" 0; exit 1; fi
cp "$ROOT/tests/e2e/e2e-services.json" "$WORK/services.json"
NODE_IF=$(topo_node_if "$PREFIX")

# ---- 1. tap ------------------------------------------------------------------------
LOG=$WORK/tap.log
write_config "$WORK/tap.json" "{\"exceptionPath\": \"tap\", \"exceptionInterface\": \"$EXC_IF\", \"exceptionAddresses\": \"nicproxy\"}"
start "$WORK/tap.json" "$LOG"
case $? in
    0) pass "${CHECKS[0]}" ;;
    *) fail_all_from "no 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac

link=$(in_node ip -d link show "$EXC_IF" 2>&1)
REASON="ip -d link: $(tr '\n' ' ' <<<"$link")"
check "${CHECKS[1]}" eval 'grep -q "tun type tap" <<<"$link" && grep -q "<[^>]*\bUP\b" <<<"$link" && grep -q "qlen 4096" <<<"$link"'

# net_af_packet takes the veth's MAC; the log line "opened port 0 (..., MAC M, MTU N)" says what DPDK has.
port_mac=$(in_node cat "/sys/class/net/$NODE_IF/address")
opened=$(grep -o 'opened port 0 (.*MTU [0-9]*' "$LOG")
port_mtu=$(sed -n 's/.*MTU \([0-9]*\)$/\1/p' <<<"$opened")
if_mac=$(in_node cat "/sys/class/net/$EXC_IF/address" 2>/dev/null)
if_mtu=$(in_node cat "/sys/class/net/$EXC_IF/mtu" 2>/dev/null)
REASON="port MAC $port_mac ($opened), interface MAC $if_mac"
check "${CHECKS[2]}" eval '[[ -n $if_mac && ${if_mac,,} == "${port_mac,,}" && ${opened,,} == *"${port_mac,,}"* ]]'
REASON="port MTU '$port_mtu', interface MTU '$if_mtu'"
check "${CHECKS[3]}" eval '[[ -n $port_mtu && $if_mtu == "$port_mtu" ]]'

addresses=$(in_node ip -4 -o addr show dev "$EXC_IF" 2>&1)
routes=$(in_node ip -4 route show default 2>&1)
REASON="addresses: $addresses; default route: $routes"
check "${CHECKS[4]}" eval 'grep -q "inet 10\.50\.0\.1/24 brd 10\.50\.0\.255" <<<"$addresses" &&
    grep -q "^default via 10\.50\.0\.254 dev $EXC_IF" <<<"$routes"'

line=$(grep "exception interface $EXC_IF (tap" "$LOG")
REASON="log: ${line:-nothing}"
check "${CHECKS[5]}" eval '[[ $line == *"MAC ${port_mac^^}"* && $line == *"MTU $port_mtu"* && $line == *"set by nicproxy"* ]]'

# The metrics server may take a moment after "data path ready".
deadline=$((SECONDS + 10))
until scrape >"$WORK/metrics-0.txt" 2>/dev/null || ((SECONDS >= deadline)); do sleep 0.2; done
REASON="$(grep -c '^nicproxy_exception' "$WORK/metrics-0.txt") nicproxy_exception series"
every_drop_reason_at_zero() {
    local r
    for r in kernel_frame_malformed kernel_frame_too_long kernel_ring_full tx_full; do
        grep -q "^nicproxy_exception_drops_total{.*reason=\"$r\"} 0" "$1" || return 1
    done
}
check "${CHECKS[6]}" eval 'grep -q "^nicproxy_exception_interface_info{.*interface=\"$EXC_IF\".*kind=\"tap\"" "$WORK/metrics-0.txt" &&
    every_drop_reason_at_zero "$WORK/metrics-0.txt"'

# The kernel asks for three neighbours on the interface: ARP requests leave it and reach the
# exception thread (whether they reach the wire is the workers' half).
before=$(metric "$WORK/metrics-0.txt" 'nicproxy_exception_packets_total.*from_kernel')
pings=()
for ip in 10.50.0.100 10.50.0.101 10.50.0.102; do
    in_node ping -c 1 -W 1 "$ip" >/dev/null 2>&1 &
    pings+=("$!")
done
wait "${pings[@]}"
wait_metric "$WORK/metrics-1.txt" 'nicproxy_exception_packets_total.*from_kernel' $((before + 3))
after=$VALUE
REASON="from_kernel packets $before -> $after"
check "${CHECKS[7]}" eval '((after >= before + 3))'

# Too long: the interface's MTU raised past the port's, a static neighbour (no ARP
# needed), a 1800-byte ping: a 1842-byte frame against the port's 1500 + 14.
in_node ip link set dev "$EXC_IF" mtu 2000
in_node ip neigh replace 10.50.0.100 lladdr 02:00:00:00:00:64 dev "$EXC_IF" nud permanent
in_node ping -c 3 -W 1 -i 0.3 -s 1800 -M dont 10.50.0.100 >/dev/null 2>&1
in_node ip link set dev "$EXC_IF" mtu "$port_mtu"
wait_metric "$WORK/metrics-2.txt" 'nicproxy_exception_drops_total.*kernel_frame_too_long' 3
too_long=$VALUE
REASON="kernel_frame_too_long $too_long"
check "${CHECKS[8]}" eval '((too_long >= 3))'

# Malformed: an IPv4 header claiming 1000 bytes in a 60-byte frame, written on the
# interface with a packet socket (as the kernel would send it out).
in_node python3 - "$EXC_IF" "$port_mac" <<'PY'
import socket, struct, sys
iface, mac = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", ""))
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1000, 1, 0, 64, 17, 0,
                 socket.inet_aton("10.50.0.1"), socket.inet_aton("10.50.0.100"))
frame = b"\x02\x00\x00\x00\x00\x64" + mac + b"\x08\x00" + ip + bytes(26)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
for _ in range(2):
    s.send(frame)
PY
wait_metric "$WORK/metrics-3.txt" 'nicproxy_exception_drops_total.*kernel_frame_malformed' 2
malformed=$VALUE
REASON="kernel_frame_malformed $malformed"
check "${CHECKS[9]}" eval '((malformed >= 2))'

h_stop_nicproxy TERM 30
rc=$H_NICPROXY_RC
left=$(in_node ip -o link show "$EXC_IF" 2>/dev/null)
route=$(in_node ip -4 route show default 2>/dev/null)
REASON="exit $rc; link: ${left:-gone}; default route: ${route:-gone}"
check "${CHECKS[10]}" eval '[[ $rc == 0 && -z $left && -z $route ]]'

# ---- 2. virtio-user ----------------------------------------------------------------
LOG=$WORK/virtio.log
write_config "$WORK/virtio.json" "{\"exceptionPath\": \"virtio-user\", \"exceptionInterface\": \"$EXC_IF\"}"
if [[ -e /dev/vhost-net ]]; then
    start "$WORK/virtio.json" "$LOG"
    REASON="log tail: $(tail -n 3 "$LOG" | tr '\n' '|')"
    check "virtio-user: with /dev/vhost-net the interface comes up" in_node ip link show "$EXC_IF"
    h_stop_nicproxy TERM 15
else
    start "$WORK/virtio.json" "$LOG"
    started=$?
    [[ $started == 0 ]] && h_stop_nicproxy TERM 15
    wait "$H_NICPROXY_PID" 2>/dev/null
    H_NICPROXY_PID=""
    REASON="start: $started; log: $(grep -m1 'vhost' "$LOG")"
    check "${CHECKS[11]}" eval '[[ $started == 2 ]] && grep -q "needs /dev/vhost-net.*modprobe vhost_net" "$LOG" &&
        ! in_node ip link show "$EXC_IF" >/dev/null 2>&1'
    echo "SKIP: virtio-user: an exception interface that carries traffic (no /dev/vhost-net on this machine)"
fi

# ---- 3. the name taken -------------------------------------------------------------
LOG=$WORK/clash.log
in_node ip link add "$EXC_IF" type veth peer name "${PREFIX}x1"
write_config "$WORK/clash.json" "{\"exceptionPath\": \"tap\", \"exceptionInterface\": \"$EXC_IF\"}"
start "$WORK/clash.json" "$LOG"
started=$?
[[ $started == 0 ]] && h_stop_nicproxy TERM 15
H_NICPROXY_PID=""
kept=$(in_node ip -d link show "$EXC_IF" 2>&1)
REASON="start: $started; log: $(grep -m1 'exists already' "$LOG"); link: $(head -c 120 <<<"$kept")"
check "${CHECKS[12]}" eval '[[ $started == 2 ]] && grep -q "an interface named $EXC_IF exists already" "$LOG" &&
    grep -q "veth" <<<"$kept"'
in_node ip link del "$EXC_IF" 2>/dev/null

# ---- 4. --validate -----------------------------------------------------------------
write_config "$WORK/bad.json" '{"exceptionPath": "kni"}'
out=$("$NICPROXY" --validate --config "$WORK/bad.json" 2>&1)
rc=$?
REASON="exit $rc: $(tr '\n' '|' <<<"$out")"
check "${CHECKS[13]}" eval '[[ $rc != 0 ]] && grep -q "dpdk.ports\[0\].exceptionPath: \"kni\" is not one of tap, virtio-user, none" <<<"$out"'

exit $((FAILED > 0))
