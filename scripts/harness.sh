# shellcheck shell=bash
# harness.sh: start and stop nicproxy and the backend servers in a netns topology.
# Sourced by scripts/demo.sh and tests/e2e/*.sh after scripts/netns_topology.sh.
#
#   h_write_config SRC_CONFIG SERVICES_FILE IFACE OUTDIR   -> prints the new config's path
#   h_start_backends PREFIX LOGDIR                         -> backend-1..3 on be1..be3
#   h_start_nicproxy PREFIX CONFIG LOGFILE [ROLE]          -> sets H_NICPROXY_PID
#   h_wait_log LOGFILE REGEX SECONDS [PID]                 -> 0 found, 1 timeout, 2 PID exited
#   h_stop_nicproxy [SIGNAL] [SECONDS]                     -> sets H_NICPROXY_RC
#   h_cleanup PREFIX                                       -> everything above undone
#
# The lines of nicproxy's log this harness relies on:
#   "data path ready"      the first sync is programmed, the data path forwards
#   "Using dpdk Proxier"   the proxier in use (checked by the e2e tests)

H_ROOT=${H_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
H_BUILD_DIR=${BUILD_DIR:-build}
[[ $H_BUILD_DIR == /* ]] || H_BUILD_DIR=$H_ROOT/$H_BUILD_DIR
NICPROXY=${NICPROXY:-$H_BUILD_DIR/daemon/nicproxy}
H_NICPROXY_PID=""
# shellcheck disable=SC2034  # read by the scripts that source this file
H_NICPROXY_RC=""
H_BACKEND_PIDS=()
H_BACKEND_HTTP_PORTS=(8080 9090)
H_BACKEND_UDP_PORTS=(5353)

# Copies SRC_CONFIG into OUTDIR with the services file next to it and every port's
# "iface=..." pointed at IFACE. Prints the path of the copy.
h_write_config() {
    local src=$1 services=$2 iface=$3 outdir=$4
    python3 - "$src" "$services" "$iface" "$outdir" <<'PY' || return 1
import json, os, re, shutil, sys
src, services, iface, outdir = sys.argv[1:5]
with open(src) as f:
    cfg = json.load(f)
shutil.copyfile(services, os.path.join(outdir, "services.json"))
cfg["servicesFile"] = "services.json"
for port in cfg.get("dpdk", {}).get("ports", []):
    port["device"] = re.sub(r"iface=[^,]*", "iface=" + iface, port["device"])
out = os.path.join(outdir, "nicproxy.json")
with open(out, "w") as f:
    json.dump(cfg, f, indent=4)
    f.write("\n")
print(out)
PY
}

# Starts backend-1..3 (HTTP 8080 and 9090, UDP echo 5353) in be1..be3; waits until they listen.
h_start_backends() {
    local p=$1 logdir=$2 i ns log args=() port deadline
    for port in "${H_BACKEND_HTTP_PORTS[@]}"; do args+=(--http "$port"); done
    for port in "${H_BACKEND_UDP_PORTS[@]}"; do args+=(--udp "$port"); done
    for i in 1 2 3; do
        ns=$(topo_ns "$p" "be$i")
        log="$logdir/backend-$i.log"
        ip netns exec "$ns" python3 "$H_ROOT/scripts/backend_server.py" \
            --name "backend-$i" "${args[@]}" >"$log" 2>&1 &
        H_BACKEND_PIDS+=("$!")
    done
    deadline=$((SECONDS + 10))
    for i in 1 2 3; do
        until grep -q 'listening' "$logdir/backend-$i.log" 2>/dev/null; do
            if ((SECONDS >= deadline)); then
                echo "harness: backend-$i did not start:" >&2
                cat "$logdir/backend-$i.log" >&2
                return 1
            fi
            sleep 0.1
        done
    done
}

# Starts nicproxy in the node namespace (or ROLE's); stdout and stderr go to LOGFILE.
# `ip netns exec` and `env` exec the next command, so $! is nicproxy's own pid.
# A non-interactive bash starts background jobs with SIGINT and SIGQUIT ignored;
# `env --default-signal` gives nicproxy the default dispositions back.
h_start_nicproxy() {
    local p=$1 config=$2 log=$3 role=${4:-node} ns
    ns=$(topo_ns "$p" "$role")
    ip netns exec "$ns" env --default-signal=INT,QUIT "$NICPROXY" --config "$config" >"$log" 2>&1 &
    H_NICPROXY_PID=$!
}

h_wait_log() {
    local log=$1 regex=$2 secs=$3 pid=${4:-} deadline
    deadline=$((SECONDS + secs))
    while ((SECONDS < deadline)); do
        if grep -Eq -- "$regex" "$log" 2>/dev/null; then
            return 0
        fi
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            grep -Eq -- "$regex" "$log" 2>/dev/null && return 0
            return 2
        fi
        sleep 0.1
    done
    return 1
}

# Sends SIGNAL (default TERM) and waits up to SECONDS (default 15) for nicproxy to exit;
# after that, SIGKILL. H_NICPROXY_RC is its exit status (128+n for a signal).
h_stop_nicproxy() {
    local sig=${1:-TERM} secs=${2:-15} deadline
    H_NICPROXY_RC=""
    [[ -n $H_NICPROXY_PID ]] || return 0
    kill -s "$sig" "$H_NICPROXY_PID" 2>/dev/null || true
    deadline=$((SECONDS + secs))
    while kill -0 "$H_NICPROXY_PID" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$H_NICPROXY_PID" 2>/dev/null; then
        echo "harness: nicproxy (pid $H_NICPROXY_PID) ignored SIG$sig for ${secs}s, killing it" >&2
        kill -s KILL "$H_NICPROXY_PID" 2>/dev/null || true
    fi
    local rc=0
    wait "$H_NICPROXY_PID" 2>/dev/null || rc=$?
    # shellcheck disable=SC2034  # read by the scripts that source this file
    H_NICPROXY_RC=$rc
    H_NICPROXY_PID=""
}

h_stop_backends() {
    local pid
    for pid in "${H_BACKEND_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${H_BACKEND_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    H_BACKEND_PIDS=()
}

h_cleanup() {
    local p=$1
    if [[ -n $H_NICPROXY_PID ]]; then
        h_stop_nicproxy INT 10 2>/dev/null
    fi
    h_stop_backends
    topo_down "$p"
}

# h_in_ns PREFIX ROLE CMD...: run CMD in ROLE's namespace.
h_in_ns() {
    local p=$1 role=$2 ns
    shift 2
    ns=$(topo_ns "$p" "$role")
    ip netns exec "$ns" "$@"
}
