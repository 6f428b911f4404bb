#!/usr/bin/env bash
# exception_path_test.sh: the exception path (docs/exception-path.md). nicproxy owns the
# node's only NIC and the node keeps working: its own servers, its own egress, ping and
# ARP, the pods behind its kernel as local endpoints, /healthz and the health-check node
# ports, while Service traffic stays on the fast path and a flood cannot starve it.
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100 and backends be1..be3
# 10.50.0.11-13 on one segment with the node veth, which nicproxy opens with
# net_af_packet. That veth is kept from the node's kernel as a NIC bound to vfio-pci would
# be: no address, ARP off, IPv6 off, strict rp_filter (no route through it), forwarding 0.
# The node's address 10.50.0.1/24 is on the exception interface, a net_tap named
# PREFIXt0 (exceptionAddresses "host": the test puts it there, as the host's network
# manager would; a later run checks that "nicproxy" puts it there itself). A pod
# namespace behind the node's kernel: veth, node side 10.244.1.1/24, pod 10.244.1.2/24
# (default route via 10.244.1.1), ip_forward on in the node namespace.
#
# Services (nodeName node-a):
#   web    ClusterIP 10.96.0.10:80 -> be1..be3:8080 (node-b: remote, the fast path; SNATed
#          from 10.50.0.10 only: with an exception path the node's address is the kernel's)
#   pod    ClusterIP 10.96.0.30:80 -> 10.244.1.2:8080 (node-a: local, through the kernel,
#          SNATed with the port's extra snatAddresses entry 10.50.0.10)
#   podlb  LoadBalancer 203.0.113.31:80, externalTrafficPolicy Local, healthCheckNodePort
#          32100 -> 10.244.1.2:8080 (local: the pod sees the client's 10.50.0.100)
# dpdk.exception.packetsPerSecond and burst 200, so that a flood of a few seconds is cut.
#
# Prints "PASS: name", "FAIL: name (reason)" or "SKIP: name (reason)" per check; exits
# non-zero if any failed. Root only; needs tcpdump and Debian's python3-scapy
# (scripts/setup.sh). Traffic stays inside the namespaces this script creates.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"

PREFIX="nex$$"
WORK=$(mktemp -d /tmp/nicproxy-exception.XXXXXX)
LOG=$WORK/nicproxy.log
NODE_NS=$(topo_ns "$PREFIX" node)
CLIENT_NS=$(topo_ns "$PREFIX" client)
POD_NS="$PREFIX-pod"
NODE_IF=$(topo_node_if "$PREFIX")
CLIENT_IF=$(topo_if "$PREFIX" client)
TAP="${PREFIX}t0"
POD_HOST_IF="${PREFIX}p"
POD_IF="${PREFIX}q"

NODE_IP=$TOPO_NODE_IP
CLIENT_IP=$TOPO_CLIENT_IP
SNAT_IP=10.50.0.10
POD_GW=10.244.1.1
POD_IP=10.244.1.2
WEB_VIP=10.96.0.10
POD_VIP=10.96.0.30
LB_IP=203.0.113.31
HC_PORT=32100
NODE_HTTP_PORT=8000   # a server of the node's own, on no Service's port
CLIENT_HTTP_PORT=8001 # a server in the client namespace that the node calls
FLOOD_PORT=9999
FRAME_PORT=7777       # frames written into the exception interface by hand
EXCEPTION_PATH=tap
# Low, so that the flood below drains the bucket whatever rate this machine's sender
# reaches, and a connection that took tokens (it must not) would be starved.
PACKETS_PER_SECOND=200

SERVER_PIDS=()
declare -A CAPTURE_PIDS=()

CHECKS=(
    "startup: the exception interface $TAP exists in the node namespace with the DPDK port's MAC and MTU"
    "node server: an HTTP server bound to $NODE_IP:$NODE_HTTP_PORT (no Service) answers the client through the DPDK port (nicproxy_port_to_kernel_packets_total grows)"
    "node egress: the node namespace's connection to the client's server ($CLIENT_IP:$CLIENT_HTTP_PORT) is routed by $TAP and leaves through the port (nicproxy_port_from_kernel_packets_total grows)"
    "ping: the client's pings to $NODE_IP are answered by the node's kernel (echo replies written by the kernel into $TAP)"
    "ARP: the client resolves $NODE_IP to the DPDK port's MAC"
    "ARP: the node's kernel resolves $CLIENT_IP on $TAP to the client's MAC"
    "local endpoint: curl to ClusterIP $POD_VIP reaches the pod behind the node's kernel, which sees the SNAT address $SNAT_IP"
    "local endpoint: curl to the externalTrafficPolicy Local LB IP $LB_IP reaches the pod, which sees the client's $CLIENT_IP"
    "fast path: 20 curls to the remote Service $WEB_VIP answered, nicproxy_flows_created_total grew by at least 20"
    "fast path: no frame of that Service traffic on $TAP (tcpdump)"
    "fast path: the remote backends see the extra SNAT address $SNAT_IP, never the node's $NODE_IP (its ports are the kernel's)"
    "flood: $FLOOD_PORT/udp at $NODE_IP for 6 s, a concurrent curl loop through $WEB_VIP all succeed"
    "flood: the same loop's curls to the local pod's ClusterIP $POD_VIP (through the kernel) all succeed"
    "flood: the exception_rate_limited drops grew (packetsPerSecond $PACKETS_PER_SECOND)"
    "kernel frames: a well-formed frame written into $TAP reaches the client (the control for the next two)"
    "kernel frames: an IPv4 frame whose total length exceeds the frame: dropped, kernel_frame_malformed counted, nothing at the client"
    "kernel frames: a 1700-byte frame (the tap's MTU raised, the port's 1500): dropped, kernel_frame_too_long counted, nothing at the client"
    "health: /healthz on $NODE_IP:10256 answers the client through the exception path"
    "health: the healthCheckNodePort $NODE_IP:$HC_PORT of podlb answers the client 200 with localEndpoints 1"
    "SIGTERM: exit 0 and $TAP removed"
    "exceptionAddresses \"nicproxy\": nicproxy puts $NODE_IP/24 on $TAP itself, the client's ping and /healthz answered"
)

# ---- helpers --------------------------------------------------------------------------
in_node() { ip netns exec "$NODE_NS" "$@"; }
in_client() { ip netns exec "$CLIENT_NS" "$@"; }
in_pod() { ip netns exec "$POD_NS" "$@"; }

stop_pid() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}
e2e_before_cleanup() {
    local name pid
    for name in "${!CAPTURE_PIDS[@]}"; do stop_pid "${CAPTURE_PIDS[$name]}"; done
    for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
    h_stop_nicproxy
    if [[ -e /run/netns/$POD_NS ]]; then
        for pid in $(ip netns pids "$POD_NS" 2>/dev/null); do kill "$pid" 2>/dev/null; done
        ip netns del "$POD_NS" 2>/dev/null
    fi
}
e2e_install_traps

mac_of() { ip -n "$1" -j link show dev "$2" | jq -r '.[0].address'; }
mtu_of() { ip -n "$1" -j link show dev "$2" | jq -r '.[0].mtu'; }
neigh_mac() { ip -n "$1" -j neigh show "$2" dev "$3" | jq -r '.[0].lladdr // "none"'; }

# metric_sum NAME_REGEX [LABEL]: the sum of the samples on /metrics (the node namespace's
# 127.0.0.1:10249) of every family whose name matches NAME_REGEX whole and whose labels
# hold LABEL (e.g. reason="kernel_frame_malformed"); "none" when there is no such sample.
metric_sum() {
    in_node curl -sS --max-time 3 http://127.0.0.1:10249/metrics 2>/dev/null |
        awk -v re="^($1)\$" -v label="${2:-}" '
            /^#/ { next }
            {
                name = $1; sub(/\{.*/, "", name)
                if (name !~ re || (label != "" && index($1, label) == 0)) next
                sum += $NF; found = 1
            }
            END { if (found) printf "%d\n", sum; else print "none" }'
}
# drops REASON: that drop reason over every drops family (the workers' nicproxy_drops_total
# and the exception thread's), "none" when no family has it.
drops() { metric_sum 'nicproxy_.*drops_total' "reason=\"$1\""; }
# wait_growth BEFORE SECONDS COMMAND...: polls COMMAND (prints a number) until it is above
# BEFORE; prints the last value.
wait_growth() {
    local before=$1 deadline=$((SECONDS + $2)) v
    shift 2
    while :; do
        v=$("$@")
        if [[ $v =~ ^[0-9]+$ && $before =~ ^[0-9]+$ ]] && ((v > before)); then break; fi
        ((SECONDS >= deadline)) && break
        sleep 0.3
    done
    echo "$v"
}

# capture_start NAME NS IFACE FILTER...: tcpdump into $WORK/NAME.pcap until capture_stop.
capture_start() {
    local name=$1 ns=$2 iface=$3
    shift 3
    ip netns exec "$ns" tcpdump -Z root -i "$iface" -n -U -w "$WORK/$name.pcap" "$@" \
        >"$WORK/$name.tcpdump.log" 2>&1 &
    CAPTURE_PIDS[$name]=$!
    for _ in $(seq 50); do
        grep -q 'listening on' "$WORK/$name.tcpdump.log" && return 0
        sleep 0.1
    done
    echo "# tcpdump $name did not start: $(tr '\n' ' ' <"$WORK/$name.tcpdump.log")"
    return 1
}
# capture_count NAME: frames in the capture so far (tcpdump -U writes each at once).
capture_count() { tcpdump -r "$WORK/$1.pcap" -n 2>/dev/null | wc -l; }
# capture_wait NAME COUNT SECONDS: waits until the capture holds COUNT frames.
capture_wait() {
    local deadline=$((SECONDS + $3))
    until (($(capture_count "$1") >= $2)) || ((SECONDS >= deadline)); do sleep 0.2; done
}
# capture_stop NAME: stops it; prints how many frames it caught ("error" if it failed).
# A second for what is still on its way: the machine may be busy (the worker polls).
capture_stop() {
    local name=$1
    sleep 1
    kill -INT "${CAPTURE_PIDS[$name]}" 2>/dev/null
    wait "${CAPTURE_PIDS[$name]}" 2>/dev/null
    unset "CAPTURE_PIDS[$name]"
    tcpdump -r "$WORK/$name.pcap" -n >"$WORK/$name.txt" 2>/dev/null || { echo error; return; }
    wc -l <"$WORK/$name.txt"
}
capture_lines() { head -n 3 "$WORK/$1.txt" 2>/dev/null | tr '\n' '|'; }

# ---- configuration --------------------------------------------------------------------
write_services() {
    python3 - "$WORK/services.json" <<'PY'
import json, sys
def service(name, spec, status=None):
    item = {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "e2e", "name": name}, "spec": spec}
    if status:
        item["status"] = status
    return item
def slice_(name, node, addresses):
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": "e2e", "name": name + "-1", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": node} for a in addresses]}
port = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
items = [
    service("web", {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": port}),
    slice_("web", "node-b", ["10.50.0.11", "10.50.0.12", "10.50.0.13"]),
    service("pod", {"type": "ClusterIP", "clusterIP": "10.96.0.30", "clusterIPs": ["10.96.0.30"], "ports": port}),
    slice_("pod", "node-a", ["10.244.1.2"]),
    service("podlb", {"type": "LoadBalancer", "clusterIP": "10.96.0.31", "clusterIPs": ["10.96.0.31"],
                      "externalTrafficPolicy": "Local", "healthCheckNodePort": 32100,
                      "ports": [dict(port[0], nodePort=30081)]},
            {"loadBalancer": {"ingress": [{"ip": "203.0.113.31"}]}}),
    slice_("podlb", "node-a", ["10.244.1.2"]),
]
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(sys.argv[1], "w"), indent=1)
PY
}

# write_config KIND ADDRESSES: nicproxy.json for exceptionPath KIND, exceptionAddresses
# ADDRESSES.
write_config() {
    python3 - "$ROOT/configs/demo.json" "$WORK/nicproxy.json" "$NODE_IF" "$PREFIX" "$TAP" "$1" "$2" \
        "$PACKETS_PER_SECOND" <<'PY'
import json, sys
src, out, iface, prefix, tap, kind, addresses, pps = sys.argv[1:9]
cfg = json.load(open(src))
cfg["servicesFile"] = "services.json"
cfg["nodeName"] = "node-a"
cfg["healthzBindAddress"] = "0.0.0.0:10256"
cfg["dpdk"]["eal"] += ["--file-prefix", prefix]
cfg["dpdk"]["exception"] = {"packetsPerSecond": int(pps), "burst": int(pps)}
cfg["dpdk"]["ports"] = [{
    "device": "net_af_packet0,iface=" + iface,
    "address": "10.50.0.1/24",
    "snatAddresses": ["10.50.0.10"],
    "exceptionPath": kind,
    "exceptionInterface": tap,
    "exceptionAddresses": addresses,
}]
json.dump(cfg, open(out, "w"), indent=4)
PY
}

# start_nicproxy KIND ADDRESSES: 0 ready and the exception interface there, 1 not (the
# reason in START_ERROR), 2 this nicproxy has no DPDK.
start_nicproxy() {
    START_ERROR=""
    write_config "$1" "$2" || { START_ERROR="could not write the config"; return 1; }
    : >"$LOG"
    h_start_nicproxy "$PREFIX" "$WORK/nicproxy.json" "$LOG"
    h_wait_log "$LOG" 'data path ready' 120 "$H_NICPROXY_PID"
    case $? in
        0) ;;
        1) START_ERROR="no 'data path ready' within 120 s (EAL and the ports start slowly on a loaded machine); log tail: $(tail -n 5 "$LOG" | tr '\n' '|')"; return 1 ;;
        *)
            grep -q 'built without DPDK' "$LOG" && return 2
            START_ERROR="nicproxy exited before 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')"
            return 1
            ;;
    esac
    for _ in $(seq 50); do
        ip -n "$NODE_NS" link show dev "$TAP" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    START_ERROR="no interface $TAP in the node namespace: $(ip -n "$NODE_NS" -br link | tr '\n' '|')"
    return 1
}

# ---- prerequisites --------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "no nicproxy binary at $NICPROXY" 0
    exit 1
fi
for tool in tcpdump jq curl ping; do
    if ! command -v "$tool" >/dev/null; then
        fail_all_from "$tool is not installed (scripts/setup.sh installs it)" 0
        exit 1
    fi
done
if ! /usr/bin/python3 -c 'import scapy' 2>/dev/null; then
    fail_all_from "python3-scapy is not installed (scripts/setup.sh installs it)" 0
    exit 1
fi

# ---- bring up -------------------------------------------------------------------------
topo_up "$PREFIX" || { fail_all_from "topo_up failed" 0; exit 1; }
# The harness gives the backends 10 s; Python can take longer to start on a loaded
# machine, so they get 30 s more here.
backends_listening() {
    grep -q listening "$WORK/backend-1.log" && grep -q listening "$WORK/backend-2.log" &&
        grep -q listening "$WORK/backend-3.log"
} 2>/dev/null
if ! h_start_backends "$PREFIX" "$WORK" 2>"$WORK/backends.err"; then
    for _ in $(seq 150); do
        backends_listening && break
        sleep 0.2
    done
    backends_listening || { fail_all_from "the backends did not start within 40 s" 0; exit 1; }
fi

# The node veth as a NIC that DPDK owns: the node's kernel neither answers nor sends on
# it, and takes nothing that arrives there (strict rp_filter, no route through it: the
# kernel would otherwise accept a frame to 10.50.0.1 on any interface). ip_forward first:
# it sets every interface's forwarding, the veth's included.
setup_node() {
    in_node sysctl -qw net.ipv4.ip_forward=1 &&
        in_node sysctl -qw "net.ipv4.conf.$NODE_IF.forwarding=0" &&
        in_node sysctl -qw "net.ipv4.conf.$NODE_IF.rp_filter=1" &&
        in_node sysctl -qw "net.ipv6.conf.$NODE_IF.disable_ipv6=1" &&
        ip -n "$NODE_NS" link set "$NODE_IF" arp off &&
        ip netns add "$POD_NS" &&
        ip -n "$POD_NS" link set lo up &&
        in_pod sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
        ip -n "$NODE_NS" link add "$POD_HOST_IF" type veth peer name "$POD_IF" netns "$POD_NS" &&
        ip -n "$NODE_NS" addr add "$POD_GW/24" dev "$POD_HOST_IF" &&
        ip -n "$NODE_NS" link set "$POD_HOST_IF" up &&
        ip -n "$POD_NS" addr add "$POD_IP/24" dev "$POD_IF" &&
        ip -n "$POD_NS" link set "$POD_IF" up &&
        ip -n "$POD_NS" route add default via "$POD_GW" &&
        in_pod ethtool -K "$POD_IF" tx off >/dev/null &&
        in_node ethtool -K "$POD_HOST_IF" tx off gro off >/dev/null
}
setup_node || { fail_all_from "the node and pod namespaces could not be set up" 0; exit 1; }

mkdir -p "$WORK/node-www" "$WORK/client-www"
echo "node-http-server" >"$WORK/node-www/index.html"
echo "client-http-server" >"$WORK/client-www/index.html"
in_pod python3 "$ROOT/scripts/backend_server.py" --name pod --http 8080 --echo-client >"$WORK/pod.log" 2>&1 &
SERVER_PIDS+=("$!")
in_client python3 -m http.server "$CLIENT_HTTP_PORT" --bind "$CLIENT_IP" --directory "$WORK/client-www" \
    >"$WORK/client-http.log" 2>&1 &
SERVER_PIDS+=("$!")

if ! write_services; then
    fail_all_from "could not write the services file" 0
    exit 1
fi
start_nicproxy "$EXCEPTION_PATH" host
case $? in
    0) ;;
    2) echo "SKIP: exception_path_test.sh (this nicproxy was built without DPDK)"; exit 0 ;;
    *) fail_all_from "$START_ERROR" 0; exit 1 ;;
esac
grep -q 'Using dpdk Proxier' "$LOG" || echo "# no 'Using dpdk Proxier' in the log"

# What the host's network manager does for exceptionAddresses "host": the node's address
# on the exception interface; rp_filter loose there (docs/exception-path.md says why).
PORT_MAC=$(mac_of "$NODE_NS" "$NODE_IF")
PORT_MTU=$(mtu_of "$NODE_NS" "$NODE_IF")
CLIENT_MAC=$(mac_of "$CLIENT_NS" "$CLIENT_IF")
ip -n "$NODE_NS" addr add "$NODE_IP/24" dev "$TAP"
ip -n "$NODE_NS" link set "$TAP" up
in_node sysctl -qw "net.ipv4.conf.$TAP.rp_filter=2"
in_node python3 -m http.server "$NODE_HTTP_PORT" --bind "$NODE_IP" --directory "$WORK/node-www" \
    >"$WORK/node-http.log" 2>&1 &
SERVER_PIDS+=("$!")
for _ in $(seq 50); do
    in_node ss -Hltn "sport = :$NODE_HTTP_PORT" | grep -q LISTEN &&
        in_client ss -Hltn "sport = :$CLIENT_HTTP_PORT" | grep -q LISTEN && break
    sleep 0.1
done

# ---- checks ---------------------------------------------------------------------------
TAP_MAC=$(mac_of "$NODE_NS" "$TAP")
TAP_MTU=$(mtu_of "$NODE_NS" "$TAP")
REASON="$TAP: MAC $TAP_MAC MTU $TAP_MTU; port ($NODE_IF): MAC $PORT_MAC MTU $PORT_MTU"
check "${CHECKS[0]}" eval '[[ $TAP_MAC == "$PORT_MAC" && $TAP_MTU == "$PORT_MTU" ]]'

# The workers count what they hand to the kernel and what they send for it.
to_kernel() { metric_sum nicproxy_port_to_kernel_packets_total; }
from_kernel() { metric_sum nicproxy_port_from_kernel_packets_total; }
grew() { [[ $1 =~ ^[0-9]+$ && $2 =~ ^[0-9]+$ ]] && (($2 > $1)); }

before=$(to_kernel)
out=$(in_client curl -sS --max-time 5 "http://$NODE_IP:$NODE_HTTP_PORT/" 2>&1)
after=$(wait_growth "$before" 3 to_kernel)
REASON="curl: $(head -c 200 <<<"$out"); nicproxy_port_to_kernel_packets_total $before -> $after"
check "${CHECKS[1]}" eval '[[ $out == node-http-server ]] && grew "$before" "$after"'

route=$(in_node ip -o route get "$CLIENT_IP" 2>&1)
before=$(from_kernel)
out=$(in_node curl -sS --max-time 5 "http://$CLIENT_IP:$CLIENT_HTTP_PORT/" 2>&1)
after=$(wait_growth "$before" 3 from_kernel)
REASON="curl: $(head -c 200 <<<"$out"); route: $route; nicproxy_port_from_kernel_packets_total $before -> $after"
check "${CHECKS[2]}" eval '[[ $out == client-http-server && $route == *" dev $TAP "* ]] && grew "$before" "$after" && grep -q "^$NODE_IP .*GET / " "$WORK/client-http.log"'

capture_start ping "$NODE_NS" "$TAP" icmp
ping_out=$(in_client ping -c 3 -i 0.3 -W 2 "$NODE_IP" 2>&1)
ping_rc=$?
replies=$(capture_stop ping)
echo_replies=$(grep -c "$NODE_IP > $CLIENT_IP: ICMP echo reply" "$WORK/ping.txt" 2>/dev/null)
REASON="ping exit $ping_rc ($(tail -n 2 <<<"$ping_out" | tr '\n' ' ')); $replies ICMP frames on $TAP, $echo_replies echo replies: $(capture_lines ping)"
check "${CHECKS[3]}" eval '[[ $ping_rc == 0 ]] && ((echo_replies >= 3))'

seen=$(neigh_mac "$CLIENT_NS" "$NODE_IP" "$CLIENT_IF")
REASON="the client's neighbour $NODE_IP: $seen, the port's MAC $PORT_MAC"
check "${CHECKS[4]}" eval '[[ $seen == "$PORT_MAC" ]]'
seen=$(neigh_mac "$NODE_NS" "$CLIENT_IP" "$TAP")
REASON="the node's neighbour $CLIENT_IP on $TAP: $seen, the client's MAC $CLIENT_MAC"
check "${CHECKS[5]}" eval '[[ $seen == "$CLIENT_MAC" ]]'

out=$(in_client curl -sS --max-time 5 "http://$POD_VIP/" 2>&1)
REASON="curl: $(head -c 200 <<<"$out"); pod log: $(tail -n 2 "$WORK/pod.log" | tr '\n' '|')"
check "${CHECKS[6]}" eval '[[ $out == "pod:8080 from $SNAT_IP" ]]'
out=$(in_client curl -sS --max-time 5 "http://$LB_IP/" 2>&1)
REASON="curl: $(head -c 200 <<<"$out"); pod log: $(tail -n 2 "$WORK/pod.log" | tr '\n' '|')"
check "${CHECKS[7]}" eval '[[ $out == "pod:8080 from $CLIENT_IP" ]]'

# The remote Service: on the fast path, and nothing of it in the kernel.
flows_before=$(metric_sum nicproxy_flows_created_total)
capture_start web "$NODE_NS" "$TAP" ip and \( host "$WEB_VIP" or host 10.50.0.11 or host 10.50.0.12 or host 10.50.0.13 \)
# What nicproxy sends the backends (the fabric end of the port's veth): its SNAT source.
capture_start backends "$(topo_ns "$PREFIX" fabric)" "${NODE_IF}f" tcp dst port 8080
answered=0
for _ in $(seq 20); do
    in_client curl -sS --max-time 3 "http://$WEB_VIP/" 2>/dev/null | grep -q '^backend-' && answered=$((answered + 1))
done
web_frames=$(capture_stop web)
capture_stop backends >/dev/null
from_snat=$(grep -c "IP $SNAT_IP\.[0-9]* > 10\.50\.0\.1[123]\.8080:" "$WORK/backends.txt")
from_node=$(grep -c "IP $NODE_IP\.[0-9]* > 10\.50\.0\.1[123]\.8080:" "$WORK/backends.txt")
flows_after=$(wait_growth "$((flows_before + 19))" 5 metric_sum nicproxy_flows_created_total)
REASON="$answered of 20 answered; nicproxy_flows_created_total $flows_before -> $flows_after"
check "${CHECKS[8]}" eval '((answered == 20)) && [[ $flows_before =~ ^[0-9]+$ && $flows_after =~ ^[0-9]+$ ]] && ((flows_after - flows_before >= 20))'
REASON="$web_frames frames on $TAP: $(capture_lines web)"
check "${CHECKS[9]}" eval '[[ $web_frames == 0 ]]'
REASON="$from_snat segments from $SNAT_IP, $from_node from $NODE_IP: $(capture_lines backends)"
check "${CHECKS[10]}" eval '((from_snat > 0 && from_node == 0))'

# A flood at the node's address, and Service traffic beside it.
limited_before=$(drops exception_rate_limited)
in_client python3 "$ROOT/tests/e2e/udp_flood.py" "$NODE_IP" "$FLOOD_PORT" 6 >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!
for _ in $(seq 100); do
    grep -q '^flooding' "$WORK/flood.log" && break
    sleep 0.1
done
# Curls while the flood lasts, 5 s each at most: on this machine the sender takes CPU
# from the worker and a SYN may be lost in the full af_packet ring (it is sent again
# after 1 and 3 s); a connection whose packets had to win tokens against the flood (they
# must not) loses nearly all of them and does not finish.
answered=0
pod_answered=0
tries=0
while kill -0 "$FLOOD_PID" 2>/dev/null; do
    tries=$((tries + 1))
    in_client curl -sS --max-time 5 "http://$WEB_VIP/" 2>>"$WORK/flood-curl.err" | grep -q '^backend-' && answered=$((answered + 1))
    in_client curl -sS --max-time 5 "http://$POD_VIP/" 2>>"$WORK/flood-curl-pod.err" | grep -q '^pod:' &&
        pod_answered=$((pod_answered + 1))
done
wait "$FLOOD_PID"
limited_after=$(wait_growth "$limited_before" 5 drops exception_rate_limited)
echo "# flood: $(tail -n 1 "$WORK/flood.log"); $answered and $pod_answered of $tries curls answered;" \
    "exception_rate_limited $limited_before -> $limited_after"
REASON="$answered of $tries curls answered during the flood ($(tail -n 1 "$WORK/flood.log")); $(head -n 2 "$WORK/flood-curl.err" 2>/dev/null | tr '\n' '|')"
check "${CHECKS[11]}" eval '((tries >= 1 && answered == tries))'
REASON="$pod_answered of $tries curls answered during the flood; $(head -n 2 "$WORK/flood-curl-pod.err" 2>/dev/null | tr '\n' '|')"
check "${CHECKS[12]}" eval '((tries >= 1 && pod_answered == tries))'
REASON="exception_rate_limited $limited_before -> $limited_after ($(tail -n 1 "$WORK/flood.log"))"
check "${CHECKS[13]}" eval '[[ $limited_before =~ ^[0-9]+$ && $limited_after =~ ^[0-9]+$ ]] && ((limited_after > limited_before))'

# Frames written into the exception interface by hand, as a broken kernel or a raw socket
# on the node could: only a sane one may leave through the port.
send_frame() { # KIND
    in_node /usr/bin/python3 "$ROOT/tests/e2e/send_kernel_frame.py" "$1" "$TAP" "$TAP_MAC" "$CLIENT_MAC" \
        "$NODE_IP" "$CLIENT_IP" "$FRAME_PORT" >>"$WORK/frames.log" 2>&1
}
capture_start good "$CLIENT_NS" "$CLIENT_IF" udp dst port "$FRAME_PORT"
send_frame good
capture_wait good 1 5
good=$(capture_stop good)
REASON="$good frames at the client: $(tail -n 1 "$WORK/frames.log")"
check "${CHECKS[14]}" eval '[[ $good == 1 ]]'

malformed_before=$(drops kernel_frame_malformed)
capture_start malformed "$CLIENT_NS" "$CLIENT_IF" udp dst port "$FRAME_PORT"
send_frame malformed
malformed_after=$(wait_growth "$malformed_before" 3 drops kernel_frame_malformed)
arrived=$(capture_stop malformed)
REASON="kernel_frame_malformed $malformed_before -> $malformed_after; $arrived frames at the client: $(capture_lines malformed) ($(tail -n 1 "$WORK/frames.log"))"
check "${CHECKS[15]}" eval '[[ $arrived == 0 && $malformed_before =~ ^[0-9]+$ && $malformed_after =~ ^[0-9]+$ ]] && ((malformed_after > malformed_before))'

long_before=$(drops kernel_frame_too_long)
ip -n "$NODE_NS" link set "$TAP" mtu 3000
capture_start long "$CLIENT_NS" "$CLIENT_IF" udp dst port "$FRAME_PORT"
send_frame long
long_after=$(wait_growth "$long_before" 3 drops kernel_frame_too_long)
arrived=$(capture_stop long)
ip -n "$NODE_NS" link set "$TAP" mtu "$PORT_MTU"
REASON="kernel_frame_too_long $long_before -> $long_after; $arrived frames at the client: $(capture_lines long) ($(tail -n 1 "$WORK/frames.log"))"
check "${CHECKS[16]}" eval '[[ $arrived == 0 && $long_before =~ ^[0-9]+$ && $long_after =~ ^[0-9]+$ ]] && ((long_after > long_before))'

# The node's HTTP endpoints on its address, as a load balancer probes them.
out=$(in_client curl -sS --max-time 5 -w ' %{http_code}' "http://$NODE_IP:10256/healthz" 2>&1)
REASON="answer: $(head -c 300 <<<"$out")"
check "${CHECKS[17]}" eval '[[ $out == *" 200" ]]'
out=$(in_client curl -sS --max-time 5 "http://$NODE_IP:$HC_PORT/" 2>&1)
local_endpoints=$(jq -r .localEndpoints <<<"$out" 2>/dev/null)
REASON="answer: $(head -c 300 <<<"$out")"
check "${CHECKS[18]}" test "$local_endpoints" = 1

h_stop_nicproxy TERM 15
tap_left=$(ip -n "$NODE_NS" -br link show dev "$TAP" 2>/dev/null)
REASON="exit $H_NICPROXY_RC; $TAP: ${tap_left:-gone}; log tail: $(tail -n 3 "$LOG" | tr '\n' '|')"
check "${CHECKS[19]}" eval '[[ $H_NICPROXY_RC == 0 && -z $tap_left ]]'
echo "# at shutdown: $(grep -E '^ +(nat_forward|drop_exception_[a-z_]+) ' "$LOG" | tr -s ' ' | tr '\n' ';')" \
    "$(grep -o 'exception interface .*' "$LOG")"
cp "$LOG" "$WORK/nicproxy-host.log"

# exceptionAddresses "nicproxy": the address on the interface comes from nicproxy.
if start_nicproxy "$EXCEPTION_PATH" nicproxy; then
    addrs=$(ip -n "$NODE_NS" -o -4 addr show dev "$TAP" 2>&1 | awk '{print $4}' | tr '\n' ' ')
    in_client ip neigh flush dev "$CLIENT_IF" >/dev/null 2>&1
    ping_out=$(in_client ping -c 2 -i 0.3 -W 2 "$NODE_IP" 2>&1)
    ping_rc=$?
    code=$(in_client curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://$NODE_IP:10256/healthz" 2>&1)
    REASON="addresses on $TAP: ${addrs:-none}; ping exit $ping_rc; /healthz: $code"
    check "${CHECKS[20]}" eval '[[ " $addrs " == *" $NODE_IP/24 "* && $ping_rc == 0 && $code == 200 ]]'
    h_stop_nicproxy TERM 15
    cp "$LOG" "$WORK/nicproxy-nicproxy.log"
else
    fail "${CHECKS[20]}" "$START_ERROR"
fi

# virtio-user: the same exception path over vhost-net, where the host has it.
if [[ ! -e /dev/vhost-net ]]; then
    echo "SKIP: virtio-user exception path (no /dev/vhost-net on this machine)"
elif start_nicproxy virtio-user nicproxy; then
    ping_out=$(in_client ping -c 2 -i 0.3 -W 2 "$NODE_IP" 2>&1)
    ping_rc=$?
    out=$(in_client curl -sS --max-time 5 "http://$NODE_IP:$NODE_HTTP_PORT/" 2>&1)
    REASON="ping exit $ping_rc; curl: $(head -c 200 <<<"$out")"
    check "virtio-user: the client's ping to $NODE_IP and the node's HTTP server answered" \
        eval '[[ $ping_rc == 0 && $out == node-http-server ]]'
    h_stop_nicproxy TERM 15
else
    fail "virtio-user: nicproxy starts with exceptionPath \"virtio-user\"" "$START_ERROR"
fi

[[ $FAILED -eq 0 ]]
