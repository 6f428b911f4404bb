#!/usr/bin/env bash
# pmtu_test.sh: path-MTU discovery through nicproxy, end to end. A client behind a router
# whose link towards it has a smaller MTU fetches a 2 MB body from a real backend through
# a ClusterIP. The backend's 1500-byte segments (DF set) make the router's kernel send
# "fragmentation needed" (ICMP 3/4, MTU 1200) to the address they came from, the VIP;
# nicproxy must translate that error for the backend (outer SNAT address -> backend,
# quoted packet backend:8080 -> SNAT:port, every checksum), the backend's kernel lowers
# its path MTU and sends smaller segments, and the whole body arrives. Without the
# translation the backend retransmits full-size segments forever and curl times out.
# Done once with one worker and once with two (where the error may land on the worker
# that does not have the connection and must be handed on).
#
# Topology (scripts/netns_topology.sh, plus a namespace behind the client's):
#
#   PREFIX-far 10.70.0.2/24 --- 10.70.0.1/24 PREFIX-client 10.50.0.100/24 --- bridge --- PREFIX-node (nicproxy, 10.50.0.1)
#   (the real client,            (a router: forwarding on, its route to     |
#    default via 10.70.0.1)      10.70.0.0/24 "mtu lock 1200", ICMP         +-- PREFIX-be1 10.50.0.11: python3 -m http.server 8080
#                                 rate limits off; 10.96.0.0/12 via 10.50.0.1)
#
# Every link is 1500 bytes; only the router's route towards the client says 1200 ("lock":
# a forwarding router uses a route's MTU only when it is locked). Service: web
# 10.96.0.10:80/TCP -> 10.50.0.11:8080.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
# Root only. Traffic stays inside the namespaces this script creates. About 20 s.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"

PREFIX="npm$$"
WORK=$(mktemp -d /tmp/nicproxy-pmtu.XXXXXX)
FAR="${PREFIX}-far"
ROUTER_IF="${PREFIX}x"  # in the router (the topology's client namespace)
FAR_IF="${PREFIX}y"     # in the far client
BODY_BYTES=$((2 * 1024 * 1024))
PATH_MTU=1200

e2e_before_cleanup() {
    local pid
    for pid in $(ip netns pids "$FAR" 2>/dev/null); do kill "$pid" 2>/dev/null; done
    ip netns del "$FAR" 2>/dev/null || true
}
e2e_install_traps

in_router() { h_in_ns "$PREFIX" client "$@"; }
in_backend() { h_in_ns "$PREFIX" be1 "$@"; }
in_far() { ip netns exec "$FAR" "$@"; }

CHECKS=(
    "setup: the router's route to the client has MTU 1200, every link 1500"
    "1 worker: 2 MB through 10.96.0.10 arrives whole (size and sha256)"
    "1 worker: the router sent fragmentation needed"
    "1 worker: the backend learnt path MTU 1200 towards 10.50.0.1"
    "1 worker: nicproxy translated client-side ICMP errors for the backend (counters)"
    "2 workers: 2 MB through 10.96.0.10 arrives whole (size and sha256)"
    "2 workers: the backend learnt path MTU 1200 towards 10.50.0.1"
    "2 workers: nicproxy translated client-side ICMP errors for the backend (counters)"
)

if [[ $(id -u) -ne 0 ]]; then fail_all_from "needs root" 0; exit 1; fi
if [[ ! -x $NICPROXY ]]; then fail_all_from "no nicproxy binary at $NICPROXY" 0; exit 1; fi

# ---- topology -------------------------------------------------------------------------
setup_router() {
    local r
    r=$(topo_ns "$PREFIX" client)
    ip netns add "$FAR" || return 1
    ip -n "$FAR" link set lo up || return 1
    _topo_disable_ipv6 "$FAR"
    ip -n "$r" link add "$ROUTER_IF" type veth peer name "$FAR_IF" netns "$FAR" || return 1
    _topo_disable_ipv6 "$r" "$ROUTER_IF"
    _topo_disable_ipv6 "$FAR" "$FAR_IF"
    ip netns exec "$r" ethtool -K "$ROUTER_IF" tx off tso off gso off >/dev/null 2>&1 || return 1
    ip netns exec "$FAR" ethtool -K "$FAR_IF" tx off tso off gso off >/dev/null 2>&1 || return 1
    ip -n "$r" addr add 10.70.0.1/24 dev "$ROUTER_IF" || return 1
    ip -n "$r" link set "$ROUTER_IF" up || return 1
    ip -n "$FAR" addr add 10.70.0.2/24 dev "$FAR_IF" || return 1
    ip -n "$FAR" link set "$FAR_IF" up || return 1
    ip -n "$FAR" route add default via 10.70.0.1 || return 1
    # The router: forwarding; its route to the client with a locked MTU; no ICMP rate
    # limits (icmp_ratelimit would let one "fragmentation needed" a second through towards
    # the VIP, icmp_msgs_per_sec/burst bound all of them); no redirects, no source checks.
    ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 \
        net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000 \
        net.ipv4.conf.all.send_redirects=0 "net.ipv4.conf.$(topo_if "$PREFIX" client).send_redirects=0" \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 || return 1
    ip -n "$r" route replace 10.70.0.0/24 dev "$ROUTER_IF" src 10.70.0.1 mtu lock "$PATH_MTU" || return 1
    # The backend: no MTU probing (a black-hole detector would hide a missing translation);
    # be1 has no default route, so it reaches the far client only through nicproxy.
    in_backend sysctl -qw net.ipv4.tcp_mtu_probing=0 net.ipv4.ip_no_pmtu_disc=0 || return 1
}

start_web_server() {
    mkdir -p "$WORK/www" || return 1
    head -c "$BODY_BYTES" /dev/urandom >"$WORK/www/big.bin" || return 1
    echo ok >"$WORK/www/small.txt"
    in_backend python3 -m http.server 8080 --bind 10.50.0.11 --directory "$WORK/www" >"$WORK/http.log" 2>&1 &
    H_BACKEND_PIDS+=("$!")  # stopped by h_cleanup
    local deadline=$((SECONDS + 10))
    until in_backend python3 -c 'import socket; socket.create_connection(("10.50.0.11", 8080), 1)' 2>/dev/null; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.1
    done
}

write_services() {
    python3 - "$WORK/services.json" <<'PY'
import json, sys
meta = lambda name, uid, rv: {"name": name, "namespace": "pmtu", "uid": uid, "resourceVersion": rv,
                              "creationTimestamp": "2024-05-01T10:00:00Z"}
service = {"apiVersion": "v1", "kind": "Service", "metadata": meta("web", "7a1c0d2e-0000-4000-8000-000000000001", "1"),
           "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ipFamilies": ["IPv4"],
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}],
                    "type": "ClusterIP", "sessionAffinity": "None"}}
slice_meta = meta("web-abcde", "7a1c0d2e-0000-4000-8000-000000000002", "2")
slice_meta["labels"] = {"kubernetes.io/service-name": "web"}
endpoints = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": slice_meta,
             "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
             "endpoints": [{"addresses": ["10.50.0.11"], "conditions": {"ready": True}, "nodeName": "node-b"}]}
with open(sys.argv[1], "w") as f:
    json.dump({"apiVersion": "v1", "kind": "List", "items": [service, endpoints]}, f, indent=2)
PY
}

# write_config WORKERS: nicproxy.json for one or two workers on the node veth.
write_config() {
    python3 - "$WORK" "$(topo_node_if "$PREFIX")" "$PREFIX" "$1" <<'PY'
import json, sys
work, iface, prefix, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lcores = "0@0,1@1" if workers == 1 else "0@0,1@1,2@1"
device = f"net_af_packet0,iface={iface}" + (f",qpairs={workers}" if workers > 1 else "")
cfg = {"mode": "dpdk", "nodeName": "node-a", "servicesFile": "services.json",
       "dpdk": {"eal": ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--file-prefix", f"{prefix}w{workers}",
                        "--lcores", lcores, "--log-level", "*:warning"],
                "ports": [{"device": device, "address": "10.50.0.1/24"}],
                "workers": workers, "flowTableSize": 4096}}
with open(f"{work}/nicproxy.json", "w") as f:
    json.dump(cfg, f, indent=4)
PY
}

if ! topo_up "$PREFIX" || ! setup_router; then fail_all_from "topology setup failed" 0; exit 1; fi
if ! start_web_server; then fail_all_from "the backend's web server did not start" 0; exit 1; fi
if ! write_services; then fail_all_from "could not write the services file" 0; exit 1; fi

route=$(in_router ip route get 10.70.0.2)
links=$(in_router ip -o link show | grep -oE 'mtu [0-9]+' | sort -u | tr '\n' ' ')
if grep -q "mtu lock $PATH_MTU" <<<"$route" && [[ $links == "mtu 1500 mtu 65536 " ]]; then
    pass "${CHECKS[0]}"
else
    fail "${CHECKS[0]}" "route: $route; link MTUs in the router: $links"
fi

# icmp_out_dest_unreachs: the router kernel's count of ICMP destination unreachable sent.
icmp_out_dest_unreachs() {
    # shellcheck disable=SC2016  # an awk program
    in_router awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) n[$i] = i; h = 1 } else print $n["OutDestUnreachs"] }' \
        /proc/net/snmp
}
# counter NAME: the value of NAME in the counters nicproxy printed at exit.
counter() {
    grep -oE "(^|[[:space:]])$1[[:space:]]+[0-9]+" "$LOG" | tail -n 1 | awk '{ print $2 + 0 } END { if (NR == 0) print 0 }'
}

# run_case WORKERS FIRST_CHECK: one nicproxy, one transfer; checks FIRST_CHECK.. in CHECKS.
run_case() {
    local workers=$1 c=$2 name="$1 worker" unreach_before got_bytes got_sum want_sum rc pmtu translated
    LOG="$WORK/nicproxy-$workers.log"
    write_config "$workers" || { fail_all_from "could not write the config" "$c"; return; }
    in_backend ip route flush cache  # forget what an earlier case taught the backend
    h_start_nicproxy "$PREFIX" "$WORK/nicproxy.json" "$LOG"
    if ! h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"; then
        h_stop_nicproxy INT 5
        for ((; c < ${#CHECKS[@]}; c++)); do
            [[ ${CHECKS[$c]} == "$name"* ]] && fail "${CHECKS[$c]}" "nicproxy not ready: $(tail -n 3 "$LOG" | tr '\n' '|')"
        done
        return
    fi
    # Warm-up (ARP on both sides of the router): a small file, up to 10 s.
    local deadline=$((SECONDS + 10))
    until in_far curl -sS --max-time 1 -o /dev/null http://10.96.0.10/small.txt 2>/dev/null; do
        ((SECONDS >= deadline)) && break
        sleep 0.2
    done

    rm -f "$WORK/got.bin"
    unreach_before=$(icmp_out_dest_unreachs)
    in_far curl -sS --max-time 20 -o "$WORK/got.bin" http://10.96.0.10/big.bin 2>"$WORK/curl.err"
    rc=$?
    got_bytes=$(stat -c %s "$WORK/got.bin" 2>/dev/null || echo 0)
    got_sum=$(sha256sum "$WORK/got.bin" 2>/dev/null | cut -d' ' -f1)
    want_sum=$(sha256sum "$WORK/www/big.bin" | cut -d' ' -f1)
    if [[ $rc -eq 0 && $got_bytes -eq $BODY_BYTES && $got_sum == "$want_sum" ]]; then
        pass "${CHECKS[$c]}"
    else
        fail "${CHECKS[$c]}" "curl exit $rc ($(tr '\n' ' ' <"$WORK/curl.err")), $got_bytes of $BODY_BYTES bytes"
    fi
    c=$((c + 1))
    if [[ $workers == 1 ]]; then
        local sent=$(($(icmp_out_dest_unreachs) - unreach_before))
        if ((sent > 0)); then pass "${CHECKS[$c]} ($sent)"; else fail "${CHECKS[$c]}" "OutDestUnreachs did not grow"; fi
        c=$((c + 1))
    fi
    pmtu=$(in_backend ip route get 10.50.0.1)
    if grep -q "mtu $PATH_MTU" <<<"$pmtu"; then
        pass "${CHECKS[$c]}"
    else
        fail "${CHECKS[$c]}" "ip route get 10.50.0.1 in be1: $(tr -s ' \n' ' ' <<<"$pmtu")"
    fi
    c=$((c + 1))
    h_stop_nicproxy TERM 15
    translated=$(counter icmp_errors_to_backend)
    if [[ ${translated:-0} -gt 0 ]]; then
        pass "${CHECKS[$c]} (icmp_errors_to_backend $translated, redirected $(counter redirected), drop_icmp_error_no_flow $(counter drop_icmp_error_no_flow || true))"
    else
        fail "${CHECKS[$c]}" "icmp_errors_to_backend '${translated}'; counters: $(grep -E 'icmp|redirected' "$LOG" | tr -s ' ' | tr '\n' '|')"
    fi
}

run_case 1 1
run_case 2 5

[[ $FAILED -eq 0 ]]
