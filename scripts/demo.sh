#!/usr/bin/env bash
# demo.sh: nicproxy in front of three real backends, in network namespaces (root).
#
# Builds nicproxy if needed, creates a private topology (scripts/netns_topology.sh), starts
# three backend servers and nicproxy on the node veth (DPDK net_af_packet), then sends real
# traffic from a client namespace through the services in configs/demo-services.json and
# shows which backend answered. Everything is removed on exit. No traffic leaves the
# namespaces this script creates.
#
# Options: --no-build   skip setup and build (use the existing binary)
# Environment: BUILD_DIR (default build), NICPROXY (binary), KEEP_LOGS=1 keep the log dir.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
# shellcheck source=SCRIPTDIR/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/harness.sh
source "$ROOT/scripts/harness.sh"

do_build=1
for arg in "$@"; do
    case $arg in
        --no-build) do_build=0 ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

if [[ $(id -u) -ne 0 ]]; then
    echo "demo.sh: run as root (network namespaces, DPDK)" >&2
    exit 1
fi

if [[ -t 1 ]]; then
    BOLD=$'\e[1m' GREEN=$'\e[32m' RED=$'\e[31m' RESET=$'\e[0m'
else
    BOLD="" GREEN="" RED="" RESET=""
fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$RESET"; }
ok() { printf '    %sok%s    %s\n' "$GREEN" "$RESET" "$*"; }
bad() { printf '    %sFAIL%s  %s\n' "$RED" "$RESET" "$*"; PROBLEMS=$((PROBLEMS + 1)); }

PREFIX="npd$$"
WORK=$(mktemp -d /tmp/nicproxy-demo.XXXXXX)
LOG="$WORK/nicproxy.log"
PROBLEMS=0

# shellcheck disable=SC2317  # called from the traps
cleanup() {
    trap - EXIT INT TERM
    h_cleanup "$PREFIX"
    if [[ ${KEEP_LOGS:-0} == 1 || $PROBLEMS -ne 0 ]]; then
        echo "logs: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'echo; echo "interrupted"; exit 130' INT
trap 'exit 143' TERM

in_client() { h_in_ns "$PREFIX" client "$@"; }

# ---- build ----------------------------------------------------------------------------
if [[ $do_build -eq 1 ]]; then
    step "Build (scripts/build.sh; a no-op when up to date)"
    if ! bash scripts/build.sh >"$WORK/build.log" 2>&1; then
        tail -n 30 "$WORK/build.log"
        echo "demo.sh: build failed (full log: $WORK/build.log)" >&2
        PROBLEMS=1
        exit 1
    fi
    ok "$(tail -n 1 "$WORK/build.log")"
fi
if [[ ! -x $NICPROXY ]]; then
    echo "demo.sh: no nicproxy binary at $NICPROXY" >&2
    PROBLEMS=1
    exit 1
fi

# ---- topology, backends, nicproxy -----------------------------------------------------
step "Topology: namespaces $PREFIX-{client,node,be1,be2,be3,fabric}"
if ! topo_up "$PREFIX"; then
    PROBLEMS=1
    exit 1
fi
cat <<EOF
    client  $TOPO_CLIENT_IP    (routes $TOPO_SERVICE_CIDR and $TOPO_EXTERNAL_CIDR via $TOPO_NODE_IP)
    node    $(topo_node_if "$PREFIX")      nicproxy owns this veth (net_af_packet) and answers for $TOPO_NODE_IP
    be1-3   $TOPO_BE1_IP, $TOPO_BE2_IP, $TOPO_BE3_IP   HTTP :8080 :9090, UDP echo :5353
EOF

step "Backends"
if ! h_start_backends "$PREFIX" "$WORK"; then
    PROBLEMS=1
    exit 1
fi
ok "backend-1, backend-2, backend-3 listening"

step "nicproxy"
CONFIG=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/configs/demo-services.json" \
    "$(topo_node_if "$PREFIX")" "$WORK") || { PROBLEMS=1; exit 1; }
echo "    $NICPROXY --config $CONFIG"
echo "    (configs/demo.json with iface=$(topo_node_if "$PREFIX"); services: configs/demo-services.json)"
h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0) ok "data path ready (pid $H_NICPROXY_PID)" ;;
    *)
        bad "nicproxy did not report 'data path ready'"
        tail -n 20 "$LOG"
        exit 1
        ;;
esac

deadline=$((SECONDS + 20))
until in_client curl -sS --max-time 1 -o /dev/null http://10.96.0.10/ 2>/dev/null; do
    if ((SECONDS >= deadline)) || ! kill -0 "$H_NICPROXY_PID" 2>/dev/null; then
        bad "http://10.96.0.10/ did not answer within 20 s"
        tail -n 20 "$LOG"
        exit 1
    fi
    sleep 0.2
done
ok "http://10.96.0.10/ answers"

# ---- traffic --------------------------------------------------------------------------
# spread TITLE URL N: N requests, then a table of who answered.
spread() {
    local title=$1 url=$2 n=$3 out errors
    step "$title: $n x curl $url"
    # shellcheck disable=SC2016  # expanded by the inner bash
    out=$(in_client bash -c '
        for ((i = 0; i < $2; i++)); do
            curl -sS --max-time 3 "$1" 2>/dev/null || echo "(failed)"
        done' _ "$url" "$n")
    printf '    %-20s %s\n' "answered by" "requests"
    sort <<<"$out" | uniq -c | while read -r count who; do
        printf '    %-20s %3d  %s\n' "$who" "$count" "$(printf '%*s' "$((count * 40 / n))" '' | tr ' ' '#')"
    done
    errors=$(grep -c '^(failed)$' <<<"$out")
    if [[ $errors -eq 0 ]]; then
        ok "$n/$n answered"
    else
        bad "$errors of $n requests failed"
    fi
}
spread "ClusterIP demo/web 10.96.0.10:80 (named targetPort http-alt -> 8080)" http://10.96.0.10/ 30
spread "NodePort demo/web 10.50.0.1:30080" http://10.50.0.1:30080/ 30
spread "externalIP demo/web-ext 10.50.0.50:80" http://10.50.0.50/ 9

step "Multi-port demo/multi 10.96.0.30 (:80 -> 8080, :81 -> 9090, endpoint backend-1 only)"
for port in 80 81; do
    if out=$(in_client curl -sS --max-time 3 "http://10.96.0.30:$port/" 2>&1); then
        ok ":$port -> $out"
    else
        bad ":$port -> $out"
    fi
done

step "UDP demo/echo 10.96.0.20:53 -> 5353"
if out=$(in_client python3 "$ROOT/scripts/udp_client.py" 10.96.0.20 53 --payload "hello from the client" --timeout 2 2>&1); then
    ok "reply: $out"
else
    bad "$out"
fi

step "No endpoints: demo/empty 10.96.0.40 (nicproxy rejects: TCP RST, ICMP port unreachable)"
t=$(in_client curl -sS -o /dev/null --max-time 3 -w '%{time_total}' http://10.96.0.40/ 2>"$WORK/curl.err")
rc=$?
if [[ $rc -eq 7 ]]; then
    ok "curl http://10.96.0.40/ refused after ${t}s: $(tr -d '\n' <"$WORK/curl.err")"
else
    bad "curl exit $rc after ${t}s, want 7 (connection refused): $(tr -d '\n' <"$WORK/curl.err")"
fi
out=$(in_client python3 "$ROOT/scripts/udp_client.py" 10.96.0.40 53 --timeout 2 2>&1)
rc=$?
if [[ $rc -eq 2 ]]; then
    ok "UDP 10.96.0.40:53: $out"
else
    bad "UDP 10.96.0.40:53: exit $rc, want 2 (ICMP port unreachable): $out"
fi

# ---- stop -----------------------------------------------------------------------------
step "Stop nicproxy (SIGINT) and show its counters"
lines_before=$(wc -l <"$LOG")
h_stop_nicproxy INT 15
tail -n +"$((lines_before + 1))" "$LOG" | sed 's/^/    /'
if [[ $H_NICPROXY_RC == 0 ]]; then
    ok "nicproxy exited with status 0"
else
    bad "nicproxy exited with status $H_NICPROXY_RC"
fi

echo
if [[ $PROBLEMS -eq 0 ]]; then
    printf '%sdemo ok%s\n' "$GREEN$BOLD" "$RESET"
    exit 0
fi
printf '%sdemo: %d problem(s)%s\n' "$RED$BOLD" "$PROBLEMS" "$RESET"
exit 1
