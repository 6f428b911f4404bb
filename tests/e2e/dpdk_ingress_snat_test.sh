#!/usr/bin/env bash
# dpdk_ingress_snat_test.sh: a second SNAT address and the ingress checks end to end, with
# real kernels on both sides (docs/snat.md, docs/ingress.md).
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100, backends 10.50.0.11-13, nicproxy
# on the node veth through net_af_packet with the port address 10.50.0.1 and
# "snatAddresses": ["10.50.0.5"]; services tests/e2e/e2e-services.json (web 10.96.0.10:80).
# The client namespace also writes hostile frames straight onto its veth (AF_PACKET):
# TCP SYNs to the VIP from 127.0.0.1 and from the subnet broadcast, pings from the subnet
# broadcast, SYNs with a wrong IPv4 header checksum, and UDP with a loose source route.
# (Frames from a broadcast or multicast source MAC cannot be tested here: the Linux bridge
# between the namespaces drops them itself; the dpdk tests cover them.)
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

PREFIX="npi$$"
WORK=$(mktemp -d /tmp/nicproxy-e2e.XXXXXX)
LOG="$WORK/nicproxy.log"
SNAT2=10.50.0.5
HOSTILE_EACH=5  # frames of each hostile kind

e2e_install_traps

in_client() { h_in_ns "$PREFIX" client "$@"; }
in_be1() { h_in_ns "$PREFIX" be1 "$@"; }

CHECKS=(
    "startup: data path ready with SNAT addresses 10.50.0.1 and $SNAT2"
    "40 requests to 10.96.0.10:80 all answered"
    "the backends saw connections from both SNAT addresses"
    "a backend learnt $SNAT2 by ARP at nicproxy's MAC"
    "no answer to hostile frames (martian sources, bad checksums, source routes)"
    "requests still answered after the hostile frames"
    "SIGTERM stops nicproxy with exit code 0"
    "martian_source counted for the spoofed sources"
    "bad_ip_checksum counted for the corrupt headers"
    "ip_source_route counted for the source-routed datagrams"
)

# ---- prerequisites and bring-up -----------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "no nicproxy binary at $NICPROXY" 0
    exit 1
fi
if ! topo_up "$PREFIX"; then
    fail_all_from "topology setup failed" 0
    exit 1
fi
# br_netfilter (loaded on this host, on by default in every namespace) makes the bridge
# check IPv4 headers itself and drop bad checksums before nicproxy sees them: let the
# fabric's bridge be a plain switch.
ip netns exec "$(topo_ns "$PREFIX" fabric)" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
if ! h_start_backends "$PREFIX" "$WORK"; then
    fail_all_from "backend servers did not start" 0
    exit 1
fi
CONFIG=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/tests/e2e/e2e-services.json" \
    "$(topo_node_if "$PREFIX")" "$WORK") || {
    fail_all_from "could not write the config" 0
    exit 1
}
python3 - "$CONFIG" "$SNAT2" <<'PY'
import json, sys
path, snat = sys.argv[1:3]
with open(path) as f:
    cfg = json.load(f)
cfg["dpdk"]["ports"][0]["snatAddresses"] = [snat]
with open(path, "w") as f:
    json.dump(cfg, f, indent=4)
PY
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    *) fail_all_from "no 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac
if grep -q "SNAT addresses 10.50.0.1 and $SNAT2" "$LOG"; then
    pass "${CHECKS[0]}"
else
    fail "${CHECKS[0]}" "the log does not name the SNAT addresses"
fi

# Warm-up: the client's first packet needs ARP for 10.50.0.1.
deadline=$((SECONDS + 10))
until in_client curl -sS --max-time 1 -o /dev/null http://10.96.0.10/ 2>/dev/null; do
    ((SECONDS >= deadline)) && break
    sleep 0.2
done

# ---- a second SNAT address ----------------------------------------------------------
requests() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    in_client bash -c 'for ((i = 0; i < $1; i++)); do
        curl -sS --max-time 3 http://10.96.0.10/ 2>/dev/null || echo "ERR:$?"; echo; done' _ "$1" | grep -v '^$'
}
out=$(requests 40)
bad=$(grep -cvE '^backend-[123]:8080$' <<<"$out")
if [[ $bad -eq 0 ]]; then
    pass "${CHECKS[1]}"
else
    fail "${CHECKS[1]}" "$bad of 40 failed: $(sort <<<"$out" | uniq -c | tr '\n' ' ')"
fi
from1=$(grep -c 'http:8080 10\.50\.0\.1:' "$WORK"/backend-*.log | awk -F: '{s += $2} END {print s + 0}')
from2=$(grep -c "http:8080 ${SNAT2//./\\.}:" "$WORK"/backend-*.log | awk -F: '{s += $2} END {print s + 0}')
if [[ $from1 -gt 0 && $from2 -gt 0 ]]; then
    pass "${CHECKS[2]} (10.50.0.1: $from1, $SNAT2: $from2)"
else
    fail "${CHECKS[2]}" "requests from 10.50.0.1: $from1, from $SNAT2: $from2"
fi
in_be1 ping -c 1 -W 1 "$SNAT2" >/dev/null 2>&1  # makes sure be1 asked ARP for it
mac_port=$(in_be1 ip neigh show 10.50.0.1 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
mac_snat=$(in_be1 ip neigh show "$SNAT2" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
if [[ -n $mac_snat && $mac_snat == "$mac_port" ]]; then
    pass "${CHECKS[3]} ($mac_snat)"
else
    fail "${CHECKS[3]}" "be1's neighbours: 10.50.0.1 at '${mac_port}', $SNAT2 at '${mac_snat}'"
fi

# ---- hostile frames -----------------------------------------------------------------
client_if=$(topo_if "$PREFIX" client)
node_mac=$(in_client ip neigh show 10.50.0.1 | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}')
# Listens on the client's veth for anything nicproxy sends to the client while the hostile
# frames go out, then prints what it heard (count of frames from the node's MAC to the
# client's, other than ARP).
in_client python3 - "$client_if" "$node_mac" "$HOSTILE_EACH" >"$WORK/hostile.out" 2>&1 <<'PY'
import socket, struct, sys, time

iface, node_mac, each = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), int(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
own_mac = s.getsockname()[4]


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_header(src, dst, proto, payload_len, options=b"", corrupt=False):
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len, 0x1234, 0x4000, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst)) + options
    value = checksum(header) ^ (0x0101 if corrupt else 0)
    return header[:10] + struct.pack("!H", value) + header[12:]


def tcp_syn(src, sport):
    return struct.pack("!HHIIBBHHH", sport, 80, 1000, 0, 5 << 4, 0x02, 64240, 0, 0)


def frame(ip):
    return node_mac + own_mac + b"\x08\x00" + ip


frames = []
for i in range(each):
    syn = tcp_syn("127.0.0.1", 41000 + i)
    frames.append(frame(ip_header("127.0.0.1", "10.96.0.10", 6, len(syn)) + syn))
    syn = tcp_syn("10.50.0.255", 42000 + i)
    frames.append(frame(ip_header("10.50.0.255", "10.96.0.10", 6, len(syn)) + syn))
    echo = struct.pack("!BBHHH", 8, 0, 0, 0x77, i) + b"smurf"
    echo = echo[:2] + struct.pack("!H", checksum(echo)) + echo[4:]
    frames.append(frame(ip_header("10.50.0.255", "10.50.0.1", 1, len(echo)) + echo))
    syn = tcp_syn("10.50.0.100", 43000 + i)
    frames.append(frame(ip_header("10.50.0.100", "10.96.0.10", 6, len(syn), corrupt=True) + syn))
    udp = struct.pack("!HHHH", 44000 + i, 53, 8 + 5, 0) + b"query"
    lsrr = bytes([0x83, 7, 4]) + socket.inet_aton("10.50.0.1") + b"\0"  # loose source route, EOL
    frames.append(frame(ip_header("10.50.0.100", "10.96.0.20", 17, len(udp), options=lsrr) + udp))
for f in frames:
    s.send(f)
s.settimeout(0.2)
answers = 0
deadline = time.time() + 2
while time.time() < deadline:
    try:
        data = s.recv(2048)
    except socket.timeout:
        continue
    if data[6:12] == node_mac and data[0:6] == own_mac and data[12:14] != b"\x08\x06":
        answers += 1
print("sent %d answers %d" % (len(frames), answers))
PY
hostile=$(cat "$WORK/hostile.out")
if [[ $hostile == "sent $((HOSTILE_EACH * 5)) answers 0" ]]; then
    pass "${CHECKS[4]} ($hostile)"
else
    fail "${CHECKS[4]}" "$(tr '\n' ' ' <<<"$hostile")"
fi
out=$(requests 10)
if [[ $(grep -cE '^backend-[123]:8080$' <<<"$out") -eq 10 ]]; then
    pass "${CHECKS[5]}"
else
    fail "${CHECKS[5]}" "$(tr '\n' ' ' <<<"$out")"
fi

# ---- stop and read the counters -----------------------------------------------------
h_stop_nicproxy TERM 15
if [[ $H_NICPROXY_RC == 0 ]]; then
    pass "${CHECKS[6]}"
else
    fail "${CHECKS[6]}" "exit status $H_NICPROXY_RC; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')"
fi
counter() {
    grep -oE "(^|[[:space:]])$1[[:space:]]+[0-9]+" "$LOG" | tail -n 1 | awk '{ print $2 + 0 }'
}
# check_counter INDEX NAME WANT: the counter is exactly WANT (nothing else on these
# namespaces sends such frames).
check_counter() {
    local got
    got=$(counter "$2")
    if [[ ${got:-0} -eq $3 ]]; then
        pass "${CHECKS[$1]} ($2 $got)"
    else
        fail "${CHECKS[$1]}" "$2 ${got:-absent}, want $3"
    fi
}
check_counter 7 drop_martian_source $((HOSTILE_EACH * 3))
check_counter 8 drop_bad_ip_checksum "$HOSTILE_EACH"
check_counter 9 drop_ip_source_route "$HOSTILE_EACH"

[[ $FAILED -eq 0 ]]
