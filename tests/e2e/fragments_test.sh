#!/usr/bin/env bash
# fragments_test.sh: UDP datagrams larger than the MTU through nicproxy's DPDK data path,
# end to end: the client's kernel fragments each request, nicproxy reassembles it,
# translates it and fragments it again, the backend's kernel reassembles it, and the
# backend's fragmented answer comes back the same way. Hand-made fragments that cannot
# make a datagram are dropped and counted.
#
# nicproxy must see the fragments as they are on the wire: net_af_packet asks the kernel
# to defragment (PACKET_FANOUT_FLAG_DEFRAG), so this test opens the port with net_tap. The
# tap device appears in the namespace nicproxy runs in, so nicproxy runs in the fabric
# namespace and the test puts the tap on the fabric bridge (with a MAC of its own on the
# kernel side: the bridge must not take nicproxy's MAC for one of its own).
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100, backends 10.50.0.11-13
# (scripts/backend_server.py: UDP echo on 5353, answering "NAME:udp:" + the datagram), all
# with MTU 1500; nicproxy answering for 10.50.0.1. Services: tests/e2e/e2e-services.json
# (echo 10.96.0.20:53/UDP -> 5353 on the three backends).
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

PREFIX="npf$$"
WORK=$(mktemp -d /tmp/nicproxy-fragments.XXXXXX)
LOG="$WORK/nicproxy.log"
TAP="${PREFIX}t"
SIZES=(2000 3000 4000 6000 8000)

e2e_install_traps

in_client() { h_in_ns "$PREFIX" client "$@"; }
in_fabric() { h_in_ns "$PREFIX" fabric "$@"; }

CHECKS=(
    "startup: net_tap port on the fabric bridge, data path ready"
    "large UDP datagrams (${SIZES[*]} bytes) to 10.96.0.20:53 reach a backend whole"
    "the backends' large answers reach the client whole"
    "nicproxy saw fragments: it reassembled and fragmented both directions"
    "a datagram that never completes and overlapping fragments are dropped and counted"
    "SIGTERM stops nicproxy with exit code 0"
)

# ---- prerequisites --------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then fail_all_from "needs root" 0; exit 1; fi
if [[ ! -x $NICPROXY ]]; then fail_all_from "no nicproxy binary at $NICPROXY" 0; exit 1; fi
if [[ ! -c /dev/net/tun ]]; then fail_all_from "no /dev/net/tun for net_tap" 0; exit 1; fi

# ---- bring up -------------------------------------------------------------------------
if ! topo_up "$PREFIX"; then fail_all_from "topology setup failed" 0; exit 1; fi
if ! h_start_backends "$PREFIX" "$WORK"; then fail_all_from "backend servers did not start" 0; exit 1; fi
cp "$ROOT/tests/e2e/e2e-services.json" "$WORK/services.json"
python3 - "$WORK" "$TAP" "$PREFIX" <<'PY' || { fail_all_from "could not write the config" 0; exit 1; }
import json, sys
work, tap, prefix = sys.argv[1:4]
cfg = {
    "mode": "dpdk",
    "nodeName": "node-a",
    "servicesFile": "services.json",
    "dpdk": {
        "eal": ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--file-prefix", prefix,
                "-l", "0-1", "--log-level", "*:warning"],
        "ports": [{"device": f"net_tap0,iface={tap}", "address": "10.50.0.1/24"}],
        "flowTableSize": 4096,
        "fragments": {"maxDatagrams": 256, "timeout": "1s"},
    },
}
with open(f"{work}/nicproxy.json", "w") as f:
    json.dump(cfg, f, indent=4)
PY
h_start_nicproxy "$PREFIX" "$WORK/nicproxy.json" "$LOG" fabric
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    *) fail_all_from "no 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac
# The kernel side of the tap: a MAC of its own (the bridge keeps its ports' MACs for
# itself), no IPv6 chatter, on the bridge.
if in_fabric sysctl -qw "net.ipv6.conf.$TAP.disable_ipv6=1" &&
    in_fabric ip link set "$TAP" address 02:00:00:00:fa:01 &&
    in_fabric ip link set "$TAP" master "${PREFIX}br" &&
    in_fabric ip link set "$TAP" up; then
    pass "${CHECKS[0]} ($(grep -oE 'driver [a-z_]+, MAC [0-9A-Fa-f:]+, MTU [0-9]+' "$LOG"))"
else
    fail_all_from "could not put $TAP on the bridge" 0
    exit 1
fi

# Warm-up: the client's first datagram needs ARP for 10.50.0.1.
deadline=$((SECONDS + 10))
until in_client python3 "$ROOT/scripts/udp_client.py" 10.96.0.20 53 --payload warm-up --timeout 0.5 >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
        echo "# warm-up: 10.96.0.20:53 still not answering after 10 s"
        break
    fi
    sleep 0.2
done

# ---- checks ---------------------------------------------------------------------------
# A payload of SIZE bytes that changes along its length: "SIZE:" then a counter.
payload_of() { python3 -c 'import sys; n = int(sys.argv[1]); s = (f"{n}:" + "".join(f"{i:05d}," for i in range(n)))[:n]; print(s, end="")' "$1"; }

bad_answers=()
for size in "${SIZES[@]}"; do
    payload=$(payload_of "$size")
    answer=$(in_client python3 "$ROOT/scripts/udp_client.py" 10.96.0.20 53 --payload "$payload" --timeout 3 2>&1)
    if [[ ! $answer =~ ^backend-[123]:udp:(.*)$ || ${BASH_REMATCH[1]} != "$payload" ]]; then
        bad_answers+=("$size: ${#answer} bytes, starting '${answer:0:40}'")
    fi
done
# backend_server.py logs "NAME udp:5353 PEER LENGTH bytes" for every datagram it answered.
received=$(cat "$WORK"/backend-*.log | grep -oE 'udp:5353 10\.50\.0\.1:[0-9]+ [0-9]+ bytes' | awk '{print $3}' | sort -n | tr '\n' ' ')
missing=()
for size in "${SIZES[@]}"; do
    grep -qw "$size" <<<"$received" || missing+=("$size")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    pass "${CHECKS[1]} (backends got datagrams of: $received)"
else
    fail "${CHECKS[1]}" "no backend got a datagram of ${missing[*]} bytes from 10.50.0.1; got: $received"
fi
if [[ ${#bad_answers[@]} -eq 0 ]]; then
    pass "${CHECKS[2]} (${#SIZES[@]}/${#SIZES[@]} answers complete and equal to the request)"
else
    fail "${CHECKS[2]}" "$(IFS='|'; echo "${bad_answers[*]}")"
fi

# Hostile fragments: two that overlap, then one that never completes. Nothing arrives
# after it, so the worker's housekeeping must free it once the 1 s timeout is over.
in_client python3 "$ROOT/tests/e2e/send_fragments.py" 10.96.0.20 53 --case overlap
in_client python3 "$ROOT/tests/e2e/send_fragments.py" 10.96.0.20 53 --case incomplete
sleep 2

h_stop_nicproxy TERM 15
stop_rc=$H_NICPROXY_RC
# counter NAME: the last "NAME <number>" in the log (formatCounters prints "  name  value").
counter() {
    grep -oE "(^|[[:space:]])$1[[:space:]]+[0-9]+" "$LOG" | tail -n 1 | awk '{ print $2 + 0 }'
}
reassembled=$(counter datagrams_reassembled)
fragmented=$(counter datagrams_fragmented)
want=$((2 * ${#SIZES[@]}))
if [[ ${reassembled:-0} -ge $want && ${fragmented:-0} -ge $want ]]; then
    pass "${CHECKS[3]} (datagrams_reassembled $reassembled, datagrams_fragmented $fragmented, fragments_sent $(counter fragments_sent))"
else
    fail "${CHECKS[3]}" "want at least $want reassembled and fragmented; got ${reassembled:-none} and ${fragmented:-none}"
fi
timeouts=$(counter drop_fragment_timeout)
rejected=$(counter drop_fragment_rejected)
if [[ ${timeouts:-0} -eq 1 && ${rejected:-0} -eq 2 ]]; then
    pass "${CHECKS[4]} (drop_fragment_timeout $timeouts, drop_fragment_rejected $rejected)"
else
    fail "${CHECKS[4]}" "want drop_fragment_timeout 1 and drop_fragment_rejected 2; got ${timeouts:-none} and ${rejected:-none}"
fi
if [[ $stop_rc == 0 ]]; then
    pass "${CHECKS[5]}"
else
    fail "${CHECKS[5]}" "exit status $stop_rc; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')"
fi

[[ $FAILED -eq 0 ]]
