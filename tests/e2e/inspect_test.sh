#!/usr/bin/env bash
# inspect_test.sh: looking into the running DPDK data path (issue 12): dpdk-dumpcap
# captures a port's traffic through rte_pdump, the telemetry commands list the services
# and the flows, and `nicproxy trace` names the frontend and the backend of a packet.
#
# Topology and services as dpdk_services_test.sh (scripts/netns_topology.sh,
# tests/e2e/e2e-services.json): client 10.50.0.100, backends 10.50.0.11-13, nicproxy on
# net_af_packet answering for 10.50.0.1; demo/web 10.96.0.10:80/TCP -> 8080 on 3 endpoints.
#
# dpdk-dumpcap is a secondary process: it needs the EAL's shared configuration (no
# --no-shconf, no --in-memory) and hugepages (a secondary cannot attach to --no-huge
# memory). So this test reserves 200 more 2 MiB hugepages, mounts a hugetlbfs of its own
# under its temp folder and runs nicproxy with --huge-dir there and a unique --file-prefix;
# all of it is given back on exit.
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
FILE_PREFIX="nicproxy-inspect-$$"
WORK=$(mktemp -d /tmp/nicproxy-e2e.XXXXXX)
LOG="$WORK/nicproxy.log"
HUGE_DIR="$WORK/huge"
HUGE_PAGES=200
HUGE_ADDED=0
DUMPCAP_PID=""
SOCKET="/var/run/dpdk/$FILE_PREFIX/dpdk_telemetry.v2"
CLIENT_PORT=41000

CHECKS=(
    "startup: nicproxy with hugepages and a shared configuration, data path ready"
    "pdump: dpdk-dumpcap attaches to nicproxy's port"
    "pdump: the capture holds the client's packet to the VIP 10.96.0.10:80 (before NAT)"
    "pdump: the capture holds the same connection NATed: 10.50.0.1 -> the backend's :8080"
    "telemetry: dpdk-telemetry.py lists /nicproxy/services with demo/web:http"
    "telemetry: /nicproxy/services: every service port of the test, no disagreement"
    "telemetry: /nicproxy/stats counts the packets"
    "telemetry: /nicproxy/flows,vip=10.96.0.10 lists the client's connection"
    "telemetry: /nicproxy/flows,backend= filters by backend"
    "trace: names the frontend demo/web:http and the backend that answered the curl"
    "trace: reports the existing flow of that connection"
    "trace: a frontend nobody serves is reported as such"
    "trace: bad input is refused, naming the bad part"
)

# shellcheck disable=SC2317  # called by e2e_cleanup
e2e_before_cleanup() {
    if [[ -n $DUMPCAP_PID ]]; then kill -INT "$DUMPCAP_PID" 2>/dev/null; wait "$DUMPCAP_PID" 2>/dev/null; fi
    # nicproxy first (its hugepage files), then the mount, then the pages.
    h_stop_nicproxy INT 10 2>/dev/null
    if mountpoint -q "$HUGE_DIR"; then umount "$HUGE_DIR"; fi
    if ((HUGE_ADDED > 0)); then
        echo $(($(cat /proc/sys/vm/nr_hugepages) - HUGE_ADDED)) >/proc/sys/vm/nr_hugepages
    fi
    rm -rf "/var/run/dpdk/$FILE_PREFIX"
}
e2e_install_traps

in_client() { h_in_ns "$PREFIX" client "$@"; }
telemetry() { python3 "$ROOT/tests/e2e/telemetry_query.py" "$SOCKET" "$1"; }
# json_get JSON PYTHON_EXPRESSION_ON_d: prints the expression's value.
json_get() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

# ---- prerequisites --------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
for tool in dpdk-dumpcap dpdk-telemetry.py tshark; do
    if ! command -v "$tool" >/dev/null; then
        fail_all_from "no $tool (scripts/setup.sh installs dpdk and tshark)" 0
        exit 1
    fi
done
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "no nicproxy binary at $NICPROXY" 0
    exit 1
fi

# ---- hugepages ------------------------------------------------------------------------
before=$(cat /proc/sys/vm/nr_hugepages)
echo $((before + HUGE_PAGES)) >/proc/sys/vm/nr_hugepages
HUGE_ADDED=$(($(cat /proc/sys/vm/nr_hugepages) - before))
mkdir -p "$HUGE_DIR"
if ((HUGE_ADDED < 150)) || ! mount -t hugetlbfs -o pagesize=2M nodev "$HUGE_DIR"; then
    fail_all_from "could not reserve $HUGE_PAGES hugepages (got $HUGE_ADDED) or mount hugetlbfs on $HUGE_DIR" 0
    exit 1
fi

# ---- bring up -------------------------------------------------------------------------
if ! topo_up "$PREFIX"; then
    fail_all_from "topology setup failed" 0
    exit 1
fi
if ! h_start_backends "$PREFIX" "$WORK"; then
    fail_all_from "backend servers did not start" 0
    exit 1
fi
CONFIG=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/tests/e2e/e2e-services.json" \
    "$(topo_node_if "$PREFIX")" "$WORK") || {
    fail_all_from "could not write the config" 0
    exit 1
}
# demo.json runs with --no-huge --no-shconf: replace its EAL arguments.
python3 - "$CONFIG" "$HUGE_DIR" "$FILE_PREFIX" <<'PY'
import json, sys
path, huge, prefix = sys.argv[1:4]
with open(path) as f:
    cfg = json.load(f)
cfg["dpdk"]["eal"] = ["-m", "256", "--huge-dir", huge, "--file-prefix", prefix, "--no-pci", "-l", "0-1",
                      "--log-level", "*:warning"]
cfg["dpdk"]["scheduler"] = "maglev"
with open(path, "w") as f:
    json.dump(cfg, f, indent=4)
PY
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) pass "${CHECKS[0]}" ;;
    *) fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac

# Warm-up: the client's first packet needs ARP for 10.50.0.1.
deadline=$((SECONDS + 10))
until in_client curl -sS --max-time 1 -o /dev/null http://10.96.0.10/ 2>/dev/null; do
    ((SECONDS >= deadline)) && break
    sleep 0.2
done

# ---- pdump ----------------------------------------------------------------------------
CAPTURE="$WORK/capture.pcapng"
dpdk-dumpcap --file-prefix "$FILE_PREFIX" -i net_af_packet0 -p -w "$CAPTURE" >"$WORK/dumpcap.log" 2>&1 &
DUMPCAP_PID=$!
attached=0
for _ in $(seq 100); do
    # dumpcap prints its running count once it has attached and enabled capture.
    grep -q "Packets captured:" "$WORK/dumpcap.log" && { attached=1; break; }
    kill -0 "$DUMPCAP_PID" 2>/dev/null || break
    sleep 0.1
done
if ((attached)); then
    pass "${CHECKS[1]}"
else
    fail "${CHECKS[1]}" "dumpcap: $(tr '\n' '|' <"$WORK/dumpcap.log" | tail -c 300)"
fi
# One connection from a known source port (trace below asks about exactly it); it is
# kept in the flow table (TIME_WAIT) for the telemetry checks.
BODY=$(in_client curl -sS --max-time 3 --local-port "$CLIENT_PORT" http://10.96.0.10/ 2>&1)
sleep 1
if [[ -n $DUMPCAP_PID ]]; then
    kill -INT "$DUMPCAP_PID" 2>/dev/null
    wait "$DUMPCAP_PID" 2>/dev/null
    DUMPCAP_PID=""
fi
packets=$(tshark -r "$CAPTURE" -Y tcp -T fields -e ip.src -e tcp.srcport -e ip.dst -e tcp.dstport 2>"$WORK/tshark.err" |
    tr '\t' ' ')
echo "$packets" >"$WORK/capture.txt"
if grep -q "^10.50.0.100 $CLIENT_PORT 10.96.0.10 80$" <<<"$packets"; then
    pass "${CHECKS[2]}"
else
    fail "${CHECKS[2]}" "no 10.50.0.100:$CLIENT_PORT -> 10.96.0.10:80 among $(wc -l <<<"$packets") TCP packets; $WORK/capture.txt"
fi
nated=$(grep -E "^10\.50\.0\.1 [0-9]+ 10\.50\.0\.1[123] 8080$" <<<"$packets" | head -1)
if [[ -n $nated ]]; then
    pass "${CHECKS[3]} ($nated)"
else
    fail "${CHECKS[3]}" "no 10.50.0.1 -> 10.50.0.1x:8080 packet; $WORK/capture.txt"
fi

# ---- telemetry ------------------------------------------------------------------------
tool_out=$(printf '/nicproxy/services\n' | timeout 10 dpdk-telemetry.py -f "$FILE_PREFIX" 2>&1)
if grep -q '"demo/web:http 10.96.0.10:80/TCP' <<<"$tool_out"; then
    pass "${CHECKS[4]}"
else
    fail "${CHECKS[4]}" "$(tr '\n' ' ' <<<"$tool_out" | tail -c 300)"
fi

services=$(telemetry /nicproxy/services)
echo "$services" >"$WORK/services.json"
want="demo/web:http demo/echo:dns demo/multi:http demo/multi:admin demo/empty:http demo/empty:dns demo/web-ext:http demo/web-lb:http"
missing=$(json_get "$services" "' '.join(n for n in '$want'.split() if not any(l.startswith(n + ' ') for l in d['/nicproxy/services']['services']))")
disagreements=$(json_get "$services" "d['/nicproxy/services']['disagreements']")
if [[ -z $missing && $disagreements == 0 ]]; then
    pass "${CHECKS[5]}"
else
    fail "${CHECKS[5]}" "missing: '$missing', disagreements: $disagreements; $WORK/services.json"
fi

stats=$(telemetry /nicproxy/stats)
echo "$stats" >"$WORK/stats.json"
rx=$(json_get "$stats" "d['/nicproxy/stats']['rx_packets']")
created=$(json_get "$stats" "d['/nicproxy/stats']['flows_created']")
if [[ $rx =~ ^[0-9]+$ ]] && ((rx > 0 && created > 0)); then
    pass "${CHECKS[6]} (rx_packets $rx, flows_created $created)"
else
    fail "${CHECKS[6]}" "rx_packets '$rx', flows_created '$created'; $WORK/stats.json"
fi

flows=$(telemetry /nicproxy/flows,vip=10.96.0.10)
echo "$flows" >"$WORK/flows.json"
line=$(json_get "$flows" "'\n'.join(d['/nicproxy/flows']['flow_list'])" | grep " 10.50.0.100:$CLIENT_PORT -> 10.96.0.10:80 => ")
if [[ -n $line ]]; then
    pass "${CHECKS[7]} ($line)"
else
    fail "${CHECKS[7]}" "$WORK/flows.json"
fi
# The backend the connection went to, from the flow: filtering by it keeps the flow,
# filtering by another backend does not.
flow_backend=$(sed -E 's/.* => ([0-9.]+):8080 .*/\1/' <<<"$line")
other=10.50.0.11
[[ $flow_backend == 10.50.0.11 ]] && other=10.50.0.12
with=$(json_get "$(telemetry "/nicproxy/flows,backend=$flow_backend")" "'\n'.join(d['/nicproxy/flows']['flow_list'])")
without=$(json_get "$(telemetry "/nicproxy/flows,backend=$other")" "'\n'.join(d['/nicproxy/flows']['flow_list'])")
if [[ -n $flow_backend ]] && grep -q ":$CLIENT_PORT -> " <<<"$with" && ! grep -q ":$CLIENT_PORT -> " <<<"$without"; then
    pass "${CHECKS[8]}"
else
    fail "${CHECKS[8]}" "backend '$flow_backend': with='$with' without='$without'"
fi

# ---- trace ----------------------------------------------------------------------------
trace=$("$NICPROXY" trace --file-prefix "$FILE_PREFIX" "10.50.0.100:$CLIENT_PORT" 10.96.0.10:80/tcp 2>&1)
echo "$trace" >"$WORK/trace.txt"
# The backend server answers with its name: backend-N serves 10.50.0.1N.
answered=$(sed -nE 's/^backend-([123]):8080$/10.50.0.1\1/p' <<<"$BODY")
if grep -q "^frontend: 10.96.0.10:80/TCP of demo/web:http" <<<"$trace" &&
    grep -q "^backend: $answered:8080 (Maglev)" <<<"$trace" && [[ -n $answered ]]; then
    pass "${CHECKS[9]} (curl answered by $answered)"
else
    fail "${CHECKS[9]}" "curl said '$BODY'; trace: $(tr '\n' '|' <<<"$trace")"
fi
if grep -q "^flow: w[0-9]* TCP 10.50.0.100:$CLIENT_PORT -> 10.96.0.10:80 => $answered:8080" <<<"$trace"; then
    pass "${CHECKS[10]}"
else
    fail "${CHECKS[10]}" "trace: $(tr '\n' '|' <<<"$trace")"
fi
none=$("$NICPROXY" trace --file-prefix "$FILE_PREFIX" 10.50.0.100 10.96.0.99:80/tcp 2>&1)
if grep -q "^frontend: none: no service port has 10.96.0.99:80/TCP" <<<"$none" && grep -q "^flow: none" <<<"$none"; then
    pass "${CHECKS[11]}"
else
    fail "${CHECKS[11]}" "$(tr '\n' '|' <<<"$none")"
fi
bad=$("$NICPROXY" trace --file-prefix "$FILE_PREFIX" 10.50.0.100 10.96.0.10:80/icmp 2>&1)
rc=$?
if [[ $rc -eq 2 ]] && grep -q "protocol 'icmp' is not tcp, udp or sctp" <<<"$bad"; then
    pass "${CHECKS[12]}"
else
    fail "${CHECKS[12]}" "exit $rc: $bad"
fi

exit $((FAILED > 0))
