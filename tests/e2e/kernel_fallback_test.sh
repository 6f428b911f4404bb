#!/usr/bin/env bash
# kernel_fallback_test.sh: mode "dpdk" with dpdk.kernelFallback "nftables", then
# "iptables": the DPDK path serves the client while the same snapshot is programmed
# into the node namespace's kernel for the interfaces DPDK does not own.
#
# Topology (scripts/netns_topology.sh): client 10.50.0.100, backends 10.50.0.11-13,
# nicproxy on the node veth through net_af_packet answering for 10.50.0.1.
# Services: tests/e2e/e2e-services.json (web 10.96.0.10:80 -> 8080, NodePort 30080).
# Checks: both proxiers logged; the client reaches 10.96.0.10 through DPDK; the
# node's kernel holds web's rules (nft element / KUBE-SERVICES rule); SIGTERM leaves
# the kernel rules, --cleanup removes them. Then kernelFallback "ipvs" on a kernel
# without IPVS: start-up fails naming the missing modules.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"

PREFIX="npf$$"
WORK=$(mktemp -d /tmp/nicproxy-fallback.XXXXXX)
e2e_install_traps
in_node() { h_in_ns "$PREFIX" node "$@"; }

if ! topo_up "$PREFIX" || ! h_start_backends "$PREFIX" "$WORK"; then
    fail "setup" "topology or backends"
    exit 1
fi
BASE=$(h_write_config "$ROOT/configs/demo.json" "$ROOT/tests/e2e/e2e-services.json" "$(topo_node_if "$PREFIX")" "$WORK")

for fallback in nftables iptables; do
    CONFIG="$WORK/$fallback.json"
    python3 - "$BASE" "$CONFIG" "$fallback" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["dpdk"]["kernelFallback"] = sys.argv[3]
json.dump(cfg, open(sys.argv[2], "w"))
PY
    LOG="$WORK/$fallback.log"
    h_start_nicproxy "$PREFIX" "$CONFIG" "$LOG"
    if ! h_wait_log "$LOG" 'data path ready' 30 "$H_NICPROXY_PID"; then
        fail "$fallback: nicproxy starts" "log tail: $(tail -n 3 "$LOG" | tr '\n' '|')"
        h_stop_nicproxy INT 10
        continue
    fi
    if grep -q 'Using dpdk Proxier' "$LOG" && grep -q "Using $fallback Proxier for the interfaces DPDK does not own" "$LOG"; then
        pass "$fallback: both proxiers logged"
    else
        fail "$fallback: both proxiers logged" "$(grep -c Proxier "$LOG") Proxier lines"
    fi
    ok=0
    for _ in $(seq 20); do
        if h_in_ns "$PREFIX" client curl -sS --max-time 1 http://10.96.0.10/ 2>/dev/null | grep -q '^backend-'; then
            ok=1
            break
        fi
        sleep 0.5
    done
    if [[ $ok -eq 1 ]]; then pass "$fallback: client reaches 10.96.0.10 through DPDK"; else fail "$fallback: client reaches 10.96.0.10 through DPDK" "no answer"; fi
    if [[ $fallback == nftables ]]; then
        rules=$(in_node nft list map ip kube-proxy service-ips 2>&1)
        pattern='10\.96\.0\.10 \. tcp \. 80 : goto service-[A-Z0-9]{8}-demo/web/tcp/http'
    else
        rules=$(in_node iptables-save -t nat 2>&1)
        pattern='-A KUBE-SERVICES -d 10\.96\.0\.10/32 -p tcp -m comment --comment "demo/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-'
    fi
    if grep -Eq -- "$pattern" <<<"$rules"; then
        pass "$fallback: the node's kernel holds web's rule"
    else
        fail "$fallback: the node's kernel holds web's rule" "$(head -c 300 <<<"$rules" | tr '\n' '|')"
    fi
    h_stop_nicproxy TERM 15
    if grep -Eq -- "$pattern" <<<"$(if [[ $fallback == nftables ]]; then in_node nft list map ip kube-proxy service-ips; else in_node iptables-save -t nat; fi 2>&1)"; then
        pass "$fallback: the kernel rules stay after SIGTERM"
    else
        fail "$fallback: the kernel rules stay after SIGTERM" "gone"
    fi
    in_node "$NICPROXY" --cleanup --config "$CONFIG" >"$WORK/$fallback-cleanup.log" 2>&1
    left=$( (in_node iptables-save; in_node nft list ruleset) 2>/dev/null | grep -cE 'KUBE-|kube-proxy')
    if [[ $left -eq 0 ]]; then pass "$fallback: --cleanup removes them"; else fail "$fallback: --cleanup removes them" "$left lines left"; fi
done

# dpdk.kernelFallback "ipvs" on a kernel without IPVS: nicproxy refuses to start and
# names the missing modules (with IPVS, tests/e2e/ipvs_test.sh covers the dataplane).
if [[ ! -e /proc/net/ip_vs ]]; then
    python3 - "$BASE" "$WORK/ipvs.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg["dpdk"]["kernelFallback"] = "ipvs"
json.dump(cfg, open(sys.argv[2], "w"))
PY
    in_node timeout 60 "$NICPROXY" --config "$WORK/ipvs.json" >"$WORK/ipvs.log" 2>&1
    rc=$?
    if [[ $rc -eq 1 ]] && grep -q 'missing modules ip_vs, ip_vs_rr, ip_vs_wrr, ip_vs_sh' "$WORK/ipvs.log"; then
        pass "ipvs: without kernel IPVS, dpdk.kernelFallback ipvs fails at start naming the modules"
    else
        fail "ipvs: without kernel IPVS, dpdk.kernelFallback ipvs fails at start naming the modules" \
            "exit $rc: $(tail -n 2 "$WORK/ipvs.log" | tr '\n' '|')"
    fi
fi
[[ $FAILED -eq 0 ]]
