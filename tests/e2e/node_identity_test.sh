#!/usr/bin/env bash
# node_identity_test.sh: one configuration file for every node (a DaemonSet's ConfigMap);
# each nicproxy finds its own node name and, in mode dpdk, its ports' addresses.
#
# Part A, mode nftables, real netfilter and curl. Two "node" namespaces run nicproxy from
# the SAME config file (no nodeName in it), told apart only by NODE_NAME:
#
#   P-client 10.10.1.2/24 --- 10.10.1.1/24 P-nodea 10.21.0.1/24 --- 10.21.0.2/24 P-poda (pod-a)
#            10.10.2.2/24 --- 10.10.2.1/24 P-nodeb 10.22.0.1/24 --- 10.22.0.2/24 P-podb (pod-b)
#   P-nodea 10.30.0.1/30 --- 10.30.0.2/30 P-nodeb   (each node routes the other's pod and
#                                                    client subnet over this link)
#   client: route 192.0.2.10 (the LoadBalancer IP) via node A, later via node B.
#
# Services (written below): "local" 10.96.1.11 NodePort 30081, LoadBalancer 192.0.2.10,
# externalTrafficPolicy Local -> pod-a (nodeName node-a), pod-b (nodeName node-b), :8080;
# "cluster" 10.96.1.12 NodePort 30080, eTP Cluster -> the same pods. Both pods are
# reachable from both nodes (the "cluster" check shows it), so a node that took the
# wrong pod as local would be seen answering with it, not merely time out.
#
# Part B, mode dpdk: a port address left out of the file comes from --dpdk-port-address,
# from NICPROXY_DPDK_PORT0_ADDRESS, or from the Node's InternalIP on the fake HTTPS API
# server (build/tests/fake_apiserver, in the node namespace of scripts/netns_topology.sh);
# --validate prints it, mistakes name the port and what was tried, and one nicproxy on
# net_af_packet forwards with the address taken from the Node.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check. Root only. Traffic stays inside
# the namespaces this script creates (the fake API server listens on loopback in one).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/netns_topology.sh
source "$ROOT/scripts/netns_topology.sh"
# shellcheck source=SCRIPTDIR/../../scripts/harness.sh
source "$ROOT/scripts/harness.sh"
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
FAKE="$H_BUILD_DIR/tests/fake_apiserver"

P=nid$$          # part A's namespaces
PREFIX=nib$$     # part B's topology (netns_topology.sh), cleaned by e2e_cleanup
WORK=$(mktemp -d /tmp/nicproxy-node-identity.XXXXXX)
TOKEN="e2e-token-$$-$RANDOM"
PIDS=()          # nicproxy A and B, pods, fake API server

# shellcheck disable=SC2317  # called from the trap
e2e_before_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for ns in client nodea nodeb poda podb; do ip netns del "$P-$ns" 2>/dev/null; done
}
e2e_install_traps

if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: node_identity_test.sh needs root (network namespaces, netfilter)"
    exit 0
fi
for bin in "$NICPROXY" "$FAKE"; do
    [[ -x $bin ]] || { fail "binaries built" "no $bin"; exit 1; }
done

in_ns() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }

# link NS_A IF_A ADDR_A NS_B IF_B ADDR_B: a veth pair between two namespaces.
link() {
    ip -n "$P-$1" link add "$2" type veth peer name "$5" netns "$P-$4" &&
        ip -n "$P-$1" addr add "$3" dev "$2" && ip -n "$P-$1" link set "$2" up &&
        ip -n "$P-$4" addr add "$6" dev "$5" && ip -n "$P-$4" link set "$5" up
}

part_a_topology() {
    local ns
    for ns in client nodea nodeb poda podb; do
        ip netns add "$P-$ns" && ip -n "$P-$ns" link set lo up || return 1
    done
    for ns in nodea nodeb; do
        in_ns "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
            net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.all.rp_filter=0 \
            net.ipv4.conf.default.rp_filter=0 || return 1
    done
    link client "${P}ca" 10.10.1.2/24 nodea "${P}ac" 10.10.1.1/24 &&
        link client "${P}cb" 10.10.2.2/24 nodeb "${P}bc" 10.10.2.1/24 &&
        link nodea "${P}ap" 10.21.0.1/24 poda "${P}pa" 10.21.0.2/24 &&
        link nodeb "${P}bp" 10.22.0.1/24 podb "${P}pb" 10.22.0.2/24 &&
        link nodea "${P}ab" 10.30.0.1/30 nodeb "${P}ba" 10.30.0.2/30 || return 1
    ip -n "$P-poda" route add default via 10.21.0.1 &&
        ip -n "$P-podb" route add default via 10.22.0.1 &&
        ip -n "$P-nodea" route add 10.22.0.0/24 via 10.30.0.2 &&
        ip -n "$P-nodea" route add 10.10.2.0/24 via 10.30.0.2 &&
        ip -n "$P-nodeb" route add 10.21.0.0/24 via 10.30.0.1 &&
        ip -n "$P-nodeb" route add 10.10.1.0/24 via 10.30.0.1 &&
        ip -n "$P-client" route add 192.0.2.10/32 via 10.10.1.1
}

write_part_a_files() {
    cat >"$WORK/services.json" <<'JSON'
{"apiVersion": "v1", "kind": "List", "items": [
 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "local", "namespace": "e2e"},
  "spec": {"type": "LoadBalancer", "clusterIP": "10.96.1.11", "clusterIPs": ["10.96.1.11"],
           "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30081}],
           "externalTrafficPolicy": "Local", "internalTrafficPolicy": "Cluster"},
  "status": {"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"name": "local-1", "namespace": "e2e", "labels": {"kubernetes.io/service-name": "local"}},
  "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
  "endpoints": [{"addresses": ["10.21.0.2"], "conditions": {"ready": true}, "nodeName": "node-a"},
                {"addresses": ["10.22.0.2"], "conditions": {"ready": true}, "nodeName": "node-b"}]},
 {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "cluster", "namespace": "e2e"},
  "spec": {"type": "NodePort", "clusterIP": "10.96.1.12", "clusterIPs": ["10.96.1.12"],
           "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}],
           "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}},
 {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"name": "cluster-1", "namespace": "e2e", "labels": {"kubernetes.io/service-name": "cluster"}},
  "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
  "endpoints": [{"addresses": ["10.21.0.2"], "conditions": {"ready": true}, "nodeName": "node-a"},
                {"addresses": ["10.22.0.2"], "conditions": {"ready": true}, "nodeName": "node-b"}]}
]}
JSON
    # The one shared file: no nodeName.
    cat >"$WORK/shared.json" <<'JSON'
{"mode": "nftables", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json",
 "nftables": {"minSyncPeriod": "100ms"}}
JSON
}

# start_node NS NODE_NAME LOG: nicproxy from the shared file in NS; waits for "kernel proxy ready".
start_node() {
    ip netns exec "$P-$1" env --default-signal=INT,QUIT NODE_NAME="$2" \
        "$NICPROXY" --config "$WORK/shared.json" >"$3" 2>&1 &
    PIDS+=("$!")
    h_wait_log "$3" "kernel proxy ready" 15 "$!"
}

# shellcheck disable=SC2317  # called through check
names_from_env() {
    grep -q 'node name "node-a" from NODE_NAME' "$WORK/node-a.log" &&
        grep -q 'node name "node-b" from NODE_NAME' "$WORK/node-b.log"
}

# answers URL N: the distinct answers of N requests from the client, sorted, ';'-joined.
answers() {
    local i
    for i in $(seq "$2"); do
        in_ns client curl -sS --max-time 2 "$1" 2>/dev/null || echo "curl-exit-$?"
    done | sort -u | paste -sd ';'
}

# expect NAME URL N EXPECTED: PASS when the N answers are exactly EXPECTED.
expect() {
    local got
    got=$(answers "$2" "$3")
    REASON="answers: $got"
    check "$1" test "$got" = "$4"
}

echo "---- part A: two nodes, one config file, NODE_NAME tells them apart (nftables)"
if ! part_a_topology; then
    fail "A: topology" "namespaces or links could not be made"
else
    write_part_a_files
    in_ns poda python3 "$ROOT/scripts/backend_server.py" --name pod-a --http 8080 --echo-client --quiet \
        >"$WORK/pod-a.log" 2>&1 &
    PIDS+=("$!")
    in_ns podb python3 "$ROOT/scripts/backend_server.py" --name pod-b --http 8080 --echo-client --quiet \
        >"$WORK/pod-b.log" 2>&1 &
    PIDS+=("$!")
    if ! h_wait_log "$WORK/pod-a.log" listening 10 || ! h_wait_log "$WORK/pod-b.log" listening 10; then
        fail "A: pods start" "backend_server.py did not listen"
    fi
    if start_node nodea node-a "$WORK/node-a.log" && start_node nodeb node-b "$WORK/node-b.log"; then
        REASON="$(grep -h 'node name' "$WORK/node-a.log" "$WORK/node-b.log" | tr '\n' '|')"
        check "A: each process names its node from NODE_NAME" names_from_env
        expect "A: eTP Cluster NodePort on node A reaches both pods (both are reachable)" \
            http://10.10.1.1:30080/ 16 "pod-a:8080 from 10.21.0.1;pod-b:8080 from 10.30.0.1"
        expect "A: eTP Local NodePort on node A: only node A's pod, client address kept" \
            http://10.10.1.1:30081/ 12 "pod-a:8080 from 10.10.1.2"
        expect "A: eTP Local NodePort on node B: only node B's pod, client address kept" \
            http://10.10.2.1:30081/ 12 "pod-b:8080 from 10.10.2.2"
        expect "A: eTP Local LoadBalancer IP routed to node A: only node A's pod" \
            http://192.0.2.10/ 12 "pod-a:8080 from 10.10.1.2"
        ip -n "$P-client" route replace 192.0.2.10/32 via 10.10.2.1
        expect "A: eTP Local LoadBalancer IP routed to node B: only node B's pod" \
            http://192.0.2.10/ 12 "pod-b:8080 from 10.10.2.2"
    else
        fail "A: both nodes' nicproxy start" "log tails: $(tail -n 3 "$WORK"/node-*.log | tr '\n' '|')"
    fi
fi

# The name's other sources and its errors, through --validate on the same file.
out=$(NODE_NAME=node-b "$NICPROXY" --validate --config "$WORK/shared.json" --hostname-override " Node-A " 2>&1)
REASON="output: $(tr '\n' '|' <<<"$out")"
check "A: --hostname-override wins over NODE_NAME, trimmed and lowercased" \
    grep -q 'node name "node-a" from --hostname-override' <<<"$out"
out=$(NODE_NAME="  " "$NICPROXY" --validate --config "$WORK/shared.json" 2>&1)
rc=$?
REASON="exit $rc: $(tr '\n' '|' <<<"$out")"
check "A: a blank NODE_NAME is refused, naming it" \
    test $rc -eq 1 -a -n "$(grep 'NODE_NAME is blank' <<<"$out")"
out=$(env -u NODE_NAME "$NICPROXY" --validate --config "$WORK/shared.json" 2>&1)
host=$(hostname | tr '[:upper:]' '[:lower:]')
REASON="output: $(tr '\n' '|' <<<"$out")"
check "A: without flag, nodeName or NODE_NAME, the hostname names the node" \
    grep -qF "node name \"$host\" from the hostname" <<<"$out"

echo "---- part B: a DPDK port's address per node (mode dpdk)"
if ! topo_up "$PREFIX"; then
    fail "B: topology" "topo_up failed"
    exit 1
fi
in_node() { h_in_ns "$PREFIX" node "$@"; }
fake_api_credentials "$WORK" "$TOKEN" ||
    { fail "B: certificates" "$(tail -n 2 "$WORK/openssl.log" | tr '\n' '|')"; exit 1; }
fake_api_kubeconfig "$WORK/kubeconfig"
printf '{"apiVersion": "v1", "kind": "List", "items": []}\n' >"$WORK/empty-services.json"
# dpdk.json: the demo's port with no address, prefixLength 24, following the fake API
# server; dpdk-file.json: the same with an empty services file instead.
python3 - "$ROOT/configs/demo.json" "$WORK" "$(topo_node_if "$PREFIX")" <<'PY' || { fail "B: configs" "python"; exit 1; }
import json, re, sys
src, work, iface = sys.argv[1:4]
cfg = json.load(open(src))
cfg.pop("nodeName")
cfg.pop("servicesFile")
cfg["clientConnection"] = {"kubeconfig": "kubeconfig"}
cfg["minSyncPeriod"] = "100ms"
port = cfg["dpdk"]["ports"][0]
port["device"] = re.sub(r"iface=[^,]*", "iface=" + iface, port["device"])
del port["address"]
port["prefixLength"] = 24
# The Node's InternalIP gives the port a "tap" exception interface by default (issue 13);
# nicproxy puts the address on it, as a node's network manager would.
port["exceptionAddresses"] = "nicproxy"
json.dump(cfg, open(work + "/dpdk.json", "w"), indent=1)
port["gateway"] = "10.60.0.1"
json.dump(cfg, open(work + "/dpdk-gateway.json", "w"), indent=1)
del port["gateway"]
del port["exceptionAddresses"]
cfg.pop("clientConnection")
cfg["servicesFile"] = "empty-services.json"
json.dump(cfg, open(work + "/dpdk-file.json", "w"), indent=1)
PY

# validate EXPECTED_RC NAME PATTERN ARGS...: nicproxy --validate in the node namespace
# (where the fake listens); PASS when it exits EXPECTED_RC and prints PATTERN (grep -E).
validate() {
    local want=$1 name=$2 pattern=$3 out rc
    shift 3
    out=$(in_node env "$@" 2>&1)
    rc=$?
    REASON="exit $rc: $(tr '\n' '|' <<<"$out")"
    check "$name" test "$rc" -eq "$want" -a -n "$(grep -E -- "$pattern" <<<"$out")"
}

validate 0 "B: --validate: port address from --dpdk-port-address, with the file's prefixLength" \
    'port 0: vdev .* address 10\.50\.0\.1/24$' \
    NODE_NAME=node-a "$NICPROXY" --validate --config "$WORK/dpdk-file.json" --dpdk-port-address 0=10.50.0.1
validate 0 "B: --validate: port address from NICPROXY_DPDK_PORT0_ADDRESS, with its own length" \
    'dpdk\.ports\[0\]\.address 10\.50\.0\.1/25 from NICPROXY_DPDK_PORT0_ADDRESS' \
    NODE_NAME=node-a NICPROXY_DPDK_PORT0_ADDRESS=10.50.0.1/25 "$NICPROXY" --validate --config "$WORK/dpdk-file.json"
validate 1 "B: --validate: no address anywhere (services file, no API server): refused, naming the port and what was tried" \
    'dpdk\.ports\[0\]\.address: not in the config file, no --dpdk-port-address 0=CIDR, no NICPROXY_DPDK_PORT0_ADDRESS, and the Node.s InternalIP cannot be asked for' \
    NODE_NAME=node-a "$NICPROXY" --validate --config "$WORK/dpdk-file.json"

start_fake_api "$(topo_ns "$PREFIX" node)" "$WORK/fake.log"
started=$?
PIDS+=("$FAKE_PID")
if [[ $started -ne 0 ]]; then
    fail "B: fake API server starts" "$(tr '\n' '|' <"$WORK/fake.log")"
    exit 1
fi
# fake PATH_AND_QUERY BODY: one control request to the fake API server.
fake() {
    fake_api_request "$(topo_ns "$PREFIX" node)" POST "$1" "$2" >/dev/null
}
if ! { fake "apply?resource=nodes" '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"},
  "status": {"addresses": [{"type": "Hostname", "address": "node-a"}, {"type": "InternalIP", "address": "10.50.0.1"}]}}' &&
    fake "apply?resource=services" '{"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": "demo", "name": "web"},
  "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
           "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}]}}' &&
    fake "apply?resource=endpointslices" '{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
  "metadata": {"namespace": "demo", "name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
  "addressType": "IPv4", "ports": [{"name": "http", "protocol": "TCP", "port": 8080}],
  "endpoints": [{"addresses": ["10.50.0.11"], "conditions": {"ready": true}}]}'; }; then
    fail "B: seed the fake API server" "curl failed"
fi

validate 0 "B: --validate: port address from the Node's InternalIP, with the file's prefixLength" \
    'dpdk\.ports\[0\]\.address 10\.50\.0\.1/24 from the InternalIP of Node node-a' \
    NODE_NAME=node-a "$NICPROXY" --validate --config "$WORK/dpdk.json"
validate 0 "B: --validate: the port on the Node's InternalIP gets a tap exception interface by default" \
    'port 0: exception interface nicproxy0 \(tap, addresses set by nicproxy\)' \
    NODE_NAME=node-a "$NICPROXY" --validate --config "$WORK/dpdk.json"
validate 0 "B: --validate: --dpdk-port-address wins over the Node's InternalIP" \
    'port 0: vdev .* address 10\.50\.0\.2/24$' \
    NODE_NAME=node-a "$NICPROXY" --validate --config "$WORK/dpdk.json" --dpdk-port-address 0=10.50.0.2
validate 1 "B: --validate: a Node the API server does not know is refused, naming the port and the Node" \
    'dpdk\.ports\[0\]\.address: .*Node node-z is not known to the API server' \
    NODE_NAME=node-z "$NICPROXY" --validate --config "$WORK/dpdk.json"
validate 1 "B: --validate: the file's gateway is checked against the subnet found on the Node" \
    'dpdk\.ports\[0\]\.gateway: 10\.60\.0\.1 is not inside 10\.50\.0\.1/24 \(address 10\.50\.0\.1/24 from the InternalIP of Node node-a' \
    NODE_NAME=node-a "$NICPROXY" --validate --config "$WORK/dpdk-gateway.json"

# The daemon resolves as --validate does, and stops before the EAL when it cannot.
validate 1 "B: daemon: a Node the API server does not know stops it before the EAL, naming the port and the Node" \
    'dpdk\.ports\[0\]\.address: .*Node node-z is not known to the API server' \
    NODE_NAME=node-z timeout 20 "$NICPROXY" --config "$WORK/dpdk.json"

# One real run: nicproxy on net_af_packet answers ARP and forwards for the address it
# took from the Node (the file has none).
if ! h_start_backends "$PREFIX" "$WORK"; then
    fail "B: backends start" "see $WORK"
    exit 1
fi
in_node env --default-signal=INT,QUIT NODE_NAME=node-a "$NICPROXY" --config "$WORK/dpdk.json" \
    >"$WORK/dpdk.log" 2>&1 &
H_NICPROXY_PID=$!
h_wait_log "$WORK/dpdk.log" 'data path ready' 30 "$H_NICPROXY_PID"
case $? in
    0)
        REASON="log: $(grep -m2 -E 'address|node name' "$WORK/dpdk.log" | tr '\n' '|')"
        check "B: the daemon logs the port address it took from the Node" \
            grep -q 'dpdk.ports\[0\].address 10.50.0.1/24 from the InternalIP of Node node-a' "$WORK/dpdk.log"
        out=""
        for _ in $(seq 50); do
            out=$(h_in_ns "$PREFIX" client curl -sS --max-time 1 http://10.96.0.10/ 2>&1) && break
            sleep 0.2
        done
        REASON="answer '$out'"
        check "B: nicproxy forwards with the address from the Node (client -> 10.96.0.10 -> backend-1)" \
            test "$out" = "backend-1:8080"
        tap=$(in_node ip -4 -o addr show dev nicproxy0 2>&1)
        REASON="ip addr: $tap"
        check "B: the port's default tap exception interface holds the address from the Node" \
            grep -q 'inet 10.50.0.1/24' <<<"$tap"
        ;;
    2) if grep -q 'built without DPDK' "$WORK/dpdk.log"; then
           echo "SKIP: B: the forwarding run needs a nicproxy built with DPDK"
       else
           fail "B: nicproxy starts with the address from the Node" "$(tail -n 4 "$WORK/dpdk.log" | tr '\n' '|')"
       fi ;;
    *) fail "B: nicproxy starts with the address from the Node" "no 'data path ready' in 30 s: $(tail -n 4 "$WORK/dpdk.log" | tr '\n' '|')" ;;
esac
h_stop_nicproxy TERM 10
exit $((FAILED > 0))
