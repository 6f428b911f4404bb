#!/usr/bin/env bash
# dpdk_services_test.sh: nicproxy's DPDK data path end to end, with real clients and servers.
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100, backends 10.50.0.11-13
# (scripts/backend_server.py: HTTP 8080 and 9090, UDP echo 5353), nicproxy on the node veth
# through net_af_packet, answering for 10.50.0.1; all on one bridge in a fabric namespace.
# Services: tests/e2e/e2e-services.json (namespace "demo"):
#   web      10.96.0.10:80/TCP  -> named targetPort "http-alt" = 8080, NodePort 30080, 3 endpoints
#   echo     10.96.0.20:53/UDP  -> 5353, 3 endpoints
#   multi    10.96.0.30:80 -> 8080, :81 -> 9090, endpoint 10.50.0.11 only
#   empty    10.96.0.40:80/TCP, :53/UDP, no endpoints (reject)
#   web-ext  externalIPs 10.50.0.50:80 -> 8080
#   web-lb   LoadBalancer ingress 203.0.113.10:80 -> 8080 (routed via 10.50.0.1), NodePort 30081
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

PREFIX="npe$$"
WORK=$(mktemp -d /tmp/nicproxy-e2e.XXXXXX)
LOG="$WORK/nicproxy.log"

e2e_install_traps

in_client() { h_in_ns "$PREFIX" client "$@"; }

# http_many URL N: N sequential requests from the client; one line per request, the body
# or "ERR:<curl exit code>".
http_many() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    in_client bash -c '
        for ((i = 0; i < $2; i++)); do
            out=$(curl -sS --max-time 3 "$1" 2>/dev/null) && echo "$out" || echo "ERR:$?"
        done' _ "$1" "$2"
}

# check_http NAME URL N EXPECT_REGEX MIN_DISTINCT
check_http() {
    local name=$1 url=$2 n=$3 expect=$4 min_distinct=$5 out bad distinct summary
    out=$(http_many "$url" "$n")
    bad=$(grep -cvE "^(${expect})\$" <<<"$out")
    distinct=$(grep -E "^(${expect})\$" <<<"$out" | sort -u | wc -l)
    summary=$(sort <<<"$out" | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')
    if [[ $bad -ne 0 ]]; then
        fail "$name" "$bad of $n requests to $url failed or answered wrongly: $summary"
    elif [[ $distinct -lt $min_distinct ]]; then
        fail "$name" "only $distinct distinct answers from $url, want >= $min_distinct: $summary"
    else
        pass "$name ($n/$n ok: $summary)"
    fi
}

CHECKS=(
    "startup: Using dpdk Proxier and data path ready"
    "a: ClusterIP 10.96.0.10:80, 60 requests, all 3 endpoints answer"
    "b: NodePort 10.50.0.1:30080"
    "c: multi-port named targetPort 10.96.0.30:80 -> backend-1:8080"
    "c: multi-port named targetPort 10.96.0.30:81 -> backend-1:9090"
    "d: UDP 10.96.0.20:53 reply through the VIP"
    "e: no endpoints, TCP 10.96.0.40:80 refused within 1 s"
    "e: no endpoints, UDP 10.96.0.40:53 gets ICMP port unreachable"
    "f: externalIP 10.50.0.50:80"
    "f: LoadBalancer ingress 203.0.113.10:80 (routed)"
    "f: LoadBalancer NodePort 10.50.0.1:30081"
    "FullNAT: backends see 10.50.0.1 as the client"
    "ICMP echo to 10.50.0.1"
    "TCP tracking: a 4 MiB download through the ClusterIP arrives whole"
    "reload: SIGHUP picks up a new endpoint for demo/empty"
    "h: SIGTERM stops nicproxy with exit code 0"
    "h: counters printed at exit"
    "TCP tracking: no segment of real connections refused (tcp_out_of_window, tcp_invalid_state)"
)


# ---- prerequisites --------------------------------------------------------------------
if [[ $(id -u) -ne 0 ]]; then
    fail_all_from "needs root" 0
    exit 1
fi
if [[ ! -x $NICPROXY ]]; then
    fail_all_from "no nicproxy binary at $NICPROXY" 0
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
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"

h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ;;
    1) fail_all_from "no 'data path ready' within 30 s; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
    *) fail_all_from "nicproxy exited before 'data path ready'; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')" 0; exit 1 ;;
esac
if grep -q 'Using dpdk Proxier' "$LOG"; then
    pass "${CHECKS[0]}"
else
    fail "${CHECKS[0]}" "log has 'data path ready' but not 'Using dpdk Proxier'"
fi

# Warm-up: the client's first packet needs ARP for 10.50.0.1; give it up to 10 s.
deadline=$((SECONDS + 10))
until in_client curl -sS --max-time 1 -o /dev/null http://10.96.0.10/ 2>/dev/null; do
    if ((SECONDS >= deadline)); then
        echo "# warm-up: http://10.96.0.10/ still failing after 10 s"
        break
    fi
    sleep 0.2
done

# ---- checks ---------------------------------------------------------------------------
B='backend-[123]'
check_http "${CHECKS[1]}" http://10.96.0.10/ 60 "$B:8080" 3
check_http "${CHECKS[2]}" http://10.50.0.1:30080/ 30 "$B:8080" 2
check_http "${CHECKS[3]}" http://10.96.0.30/ 5 "backend-1:8080" 1
check_http "${CHECKS[4]}" http://10.96.0.30:81/ 5 "backend-1:9090" 1

# d: UDP through the VIP, 10 datagrams from 10 source ports.
# shellcheck disable=SC2016  # expanded by the inner bash
udp_out=$(in_client bash -c '
    for i in $(seq 10); do
        python3 "$1" 10.96.0.20 53 --payload "hello-$i" --timeout 2 2>&1 || echo "ERR:$?"
    done' _ "$ROOT/scripts/udp_client.py")
udp_bad=$(grep -cvE "^backend-[123]:udp:hello-[0-9]+\$" <<<"$udp_out")
if [[ $udp_bad -eq 0 ]]; then
    pass "${CHECKS[5]} (10/10 ok: $(cut -d: -f1 <<<"$udp_out" | sort | uniq -c | awk '{printf "%s%s x%s", s, $2, $1; s=", "}'))"
else
    fail "${CHECKS[5]}" "$udp_bad of 10 failed: $(tr '\n' '|' <<<"$udp_out")"
fi

# e: reject when there are no endpoints.
t_out=$(in_client curl -sS -o /dev/null --max-time 3 -w '%{time_total}' http://10.96.0.40/ 2>"$WORK/curl-empty.err")
t_rc=$?
if [[ $t_rc -eq 7 ]] && awk -v t="$t_out" 'BEGIN { exit !(t < 1.0) }'; then
    pass "${CHECKS[6]} (curl exit 7 after ${t_out}s)"
else
    fail "${CHECKS[6]}" "curl exit $t_rc after ${t_out:-?}s: $(tr '\n' ' ' <"$WORK/curl-empty.err")"
fi
u_err=$(in_client python3 "$ROOT/scripts/udp_client.py" 10.96.0.40 53 --timeout 2 2>&1)
u_rc=$?
if [[ $u_rc -eq 2 ]]; then
    pass "${CHECKS[7]}"
else
    fail "${CHECKS[7]}" "udp_client exit $u_rc, want 2: $u_err"
fi

# f: external IP (on the port subnet: nicproxy answers ARP for it) and LoadBalancer IP.
check_http "${CHECKS[8]}" http://10.50.0.50/ 10 "$B:8080" 1
check_http "${CHECKS[9]}" http://203.0.113.10/ 10 "$B:8080" 1
check_http "${CHECKS[10]}" http://10.50.0.1:30081/ 10 "$B:8080" 1

# FullNAT: the backends' access logs name the SNAT address, never the client.
if grep -q '10\.50\.0\.100' "$WORK"/backend-*.log; then
    fail "${CHECKS[11]}" "a backend saw the client address 10.50.0.100"
elif grep -q 'http:8080 10\.50\.0\.1:' "$WORK"/backend-*.log; then
    pass "${CHECKS[11]}"
else
    fail "${CHECKS[11]}" "no request from 10.50.0.1 in the backend logs"
fi

if in_client ping -c 2 -i 0.2 -W 1 10.50.0.1 >/dev/null 2>&1; then
    pass "${CHECKS[12]}"
else
    fail "${CHECKS[12]}" "no echo reply"
fi

# TCP tracking: thousands of segments, window scaling and SACK as Linux negotiates them,
# through the window checks both ways; the pattern is checked byte for byte.
expected_sha=$(python3 -c 'import hashlib; b = bytes(i * 7 % 251 for i in range(251)); n = 4 << 20
print(hashlib.sha256((b * (n // 251 + 1))[:n]).hexdigest())')
got_sha=$(in_client bash -c 'curl -sS --max-time 20 http://10.96.0.10/bytes/4194304 | sha256sum' 2>&1 | cut -d" " -f1)
if [[ $got_sha == "$expected_sha" ]]; then
    pass "${CHECKS[13]}"
else
    fail "${CHECKS[13]}" "sha256 $got_sha, want $expected_sha"
fi

# reload: give demo/empty the endpoint 10.50.0.12 in the services file, then SIGHUP.
python3 - "$WORK/services.json" <<'PY'
import json, sys
path = sys.argv[1]
with open(path) as f:
    doc = json.load(f)
for item in doc["items"]:
    if item["kind"] == "EndpointSlice" and item["metadata"]["labels"].get("kubernetes.io/service-name") == "empty":
        item["endpoints"] = [{"addresses": ["10.50.0.12"], "conditions": {"ready": True}, "nodeName": "node-c"}]
        item["metadata"]["resourceVersion"] = "3004"
with open(path + ".new", "w") as f:
    json.dump(doc, f, indent=4)
PY
mv "$WORK/services.json.new" "$WORK/services.json"
kill -HUP "$H_NICPROXY_PID"
deadline=$((SECONDS + 5))
reload_out=""
while ((SECONDS < deadline)); do
    reload_out=$(in_client curl -sS --max-time 1 http://10.96.0.40/ 2>&1) && break
    sleep 0.2
done
if [[ $reload_out == "backend-2:8080" ]]; then
    pass "${CHECKS[14]}"
else
    fail "${CHECKS[14]}" "after SIGHUP http://10.96.0.40/ answered '$reload_out', want backend-2:8080"
fi

# h: clean stop.
h_stop_nicproxy TERM 15
if [[ $H_NICPROXY_RC == 0 ]]; then
    pass "${CHECKS[15]}"
else
    fail "${CHECKS[15]}" "exit status $H_NICPROXY_RC; log tail: $(tail -n 5 "$LOG" | tr '\n' '|')"
fi
# counter NAME: the last "NAME <number>" in the log (formatCounters prints "  name  value").
counter() {
    grep -oE "(^|[[:space:]])$1[[:space:]]+[0-9]+" "$LOG" | tail -n 1 | awk '{ print $2 + 0 }'
}
nat_fwd=$(counter nat_forward)
rejected=$(counter rejected)
if [[ -n $(counter rx_packets) && ${nat_fwd:-0} -gt 0 && ${rejected:-0} -gt 0 ]]; then
    pass "${CHECKS[16]} (nat_forward $nat_fwd, rejected $rejected)"
else
    fail "${CHECKS[16]}" "want rx_packets, nat_forward > 0 and rejected > 0 in the log; got nat_forward=$nat_fwd rejected=$rejected"
fi

out_of_window=$(counter tcp_out_of_window)
invalid_state=$(counter tcp_invalid_state)
refused=$((${out_of_window:-0} + ${invalid_state:-0}))
if [[ -n $nat_fwd && $refused -eq 0 ]]; then
    pass "${CHECKS[17]}"
else
    fail "${CHECKS[17]}" "tcp_out_of_window ${out_of_window:-0}, tcp_invalid_state ${invalid_state:-0}"
fi

[[ $FAILED -eq 0 ]]
