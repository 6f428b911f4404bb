#!/usr/bin/env bash
# validate_test.sh: `nicproxy --config FILE --validate` on good and bad configurations.
# No namespaces, no traffic: --validate parses the config and the services file and exits.
#
# Good: configs/demo.json (ships with the repo) and configs/nicproxy.example.json (PCI
# device, gateway; its servicesFile pointed at the demo services) exit 0 and list the
# services as namespace/name; a gateway that is an external IP is a warning (exit 0). Bad:
# each broken copy exits non-zero and names the key path, and so does the daemon started
# on it (issue 10: --validate and the daemon agree): duplicate keys, port addresses that
# are no host's (/0, network, broadcast, multicast, loopback, 0.0.0.0), more ports than
# the data path takes, two ports on one device. The daemon runs in a network namespace of
# its own (unshare --net), so that a file it failed to refuse could not touch this host.
#
# Issue 11: kubeadm's KubeProxyConfiguration (tests/fixtures/kubeadm-kube-proxy.yaml)
# validates unchanged; --write-config-to writes YAML that validates and writes itself
# again byte for byte; kube-proxy's ignored fields are one warning; bad YAML (duplicate
# keys, syntax, another apiVersion, unknown keys) is refused by both, naming where.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
WORK=$(mktemp -d /tmp/nicproxy-validate.XXXXXX)
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
trap 'rm -rf "$WORK"' EXIT

oneline() { tail -n 8 "$1" | tr '\n' '|' | cut -c1-400; }

if [[ ! -x $NICPROXY ]]; then
    fail "g: validate" "no nicproxy binary at $NICPROXY"
    exit 1
fi

# derive NAME PYTHON_EXPR: writes $WORK/NAME.json, the demo config changed by PYTHON_EXPR
# (a statement on `c`, the parsed JSON), with the services file next to it.
derive() {
    local name=$1 expr=$2
    python3 - "$ROOT/configs/demo.json" "$WORK/$name.json" "$expr" <<'PY'
import json, sys
src, dst, expr = sys.argv[1:4]
with open(src) as f:
    c = json.load(f)
exec(expr)
with open(dst, "w") as f:
    json.dump(c, f, indent=4)
PY
}
# derive_text NAME PYTHON_EXPR: the same on the demo config's text `t` (for what JSON
# libraries cannot write, such as a duplicate key).
derive_text() {
    local name=$1 expr=$2
    python3 - "$ROOT/configs/demo.json" "$WORK/$name.json" "$expr" <<'PY'
import sys
src, dst, expr = sys.argv[1:4]
with open(src) as f:
    t = f.read()
exec(expr)
with open(dst, "w") as f:
    f.write(t)
PY
}
cp "$ROOT/configs/demo-services.json" "$WORK/demo-services.json"

# ---- good configurations --------------------------------------------------------------
run_good() {
    local name=$1 config=$2 out rc missing svc
    out="$WORK/$(tr -c 'A-Za-z0-9' '_' <<<"$name").out"
    "$NICPROXY" --config "$config" --validate >"$out" 2>&1
    rc=$?
    if [[ $rc -ne 0 ]]; then
        fail "$name" "exit $rc: $(oneline "$out")"
        return
    fi
    missing=()
    for svc in demo/web demo/echo demo/multi demo/empty demo/web-ext demo/web-lb; do
        grep -q "$svc" "$out" || missing+=("$svc")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        pass "$name"
    else
        fail "$name" "exit 0 but does not list ${missing[*]}: $(oneline "$out")"
    fi
}
run_good "g: --validate configs/demo.json exits 0 and lists the services" "$ROOT/configs/demo.json"

python3 - "$ROOT/configs/nicproxy.example.json" "$WORK/example.json" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    c = json.load(f)
c["servicesFile"] = "demo-services.json"
with open(sys.argv[2], "w") as f:
    json.dump(c, f, indent=4)
PY
run_good "g: --validate configs/nicproxy.example.json (PCI device, gateway) exits 0" "$WORK/example.json"

# A warning, not an error: the gateway is demo/web-ext's external IP 10.50.0.50, which
# nicproxy answers ARP for (it is in the port's subnet) while the gateway answers for it too.
derive gateway-owns-external 'c["dpdk"]["ports"][0]["gateway"] = "10.50.0.50"'
out="$WORK/gateway-owns-external.out"
"$NICPROXY" --config "$WORK/gateway-owns-external.json" --validate >"$out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && grep -q 'warning: external IP 10.50.0.50 of demo/web-ext:http is the gateway of dpdk.ports\[0\]' "$out"; then
    pass "g: an external IP that is the gateway is warned about (exit 0)"
else
    fail "g: an external IP that is the gateway is warned about" "exit $rc: $(oneline "$out")"
fi
if "$NICPROXY" --config "$ROOT/configs/demo.json" --validate 2>&1 | grep -q 'nicproxy would answer'; then
    fail "g: the demo configuration has no ARP owner warning" "it warns"
else
    pass "g: the demo configuration has no ARP owner warning"
fi

# ---- bad configurations ---------------------------------------------------------------
# refused NAME KEYPATH FILE FLAG [PREFIX...]: `PREFIX nicproxy --config FILE FLAG` exits
# non-zero naming KEYPATH (FLAG: --validate, or "" for the daemon).
refused() {
    local name=$1 key=$2 config=$3 flag=$4 out rc slug
    shift 4
    slug=$(tr -c 'A-Za-z0-9' '_' <<<"$name")
    out="$WORK/$slug.out"
    timeout -s INT 30 "$@" "$NICPROXY" --config "$config" ${flag:+"$flag"} >"$out" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]]; then
        fail "$name" "exit 0, want non-zero: $(oneline "$out")"
    elif grep -qiE 'segmentation fault|core dumped|terminate called' "$out" || [[ $rc -ge 124 ]]; then
        fail "$name" "crashed or hung (exit $rc): $(oneline "$out")"
    elif ! grep -qF -- "$key" "$out"; then
        fail "$name" "exit $rc but the output does not name '$key': $(oneline "$out")"
    elif grep -q 'EAL' "$out"; then
        fail "$name" "exit $rc, but only after starting the EAL: $(oneline "$out")"
    else
        pass "$name (exit $rc)"
    fi
}

# The daemon's half needs a network namespace of its own.
DAEMON_NS=(unshare --net)
if ! unshare --net true 2>/dev/null; then
    echo "SKIP: the daemon's half of the bad-configuration checks: cannot unshare a network namespace"
    DAEMON_NS=()
fi

# refused_by_both NAME KEYPATH FILE: --validate and the daemon both refuse FILE naming KEYPATH.
refused_by_both() {
    local name=$1 key=$2 config=$3
    refused "g: --validate: $name" "$key" "$config" --validate
    if [[ ${#DAEMON_NS[@]} -gt 0 ]]; then
        refused "g: daemon: $name" "$key" "$config" "" "${DAEMON_NS[@]}"
    fi
}

# run_bad NAME KEYPATH PYTHON_EXPR: the demo config changed by PYTHON_EXPR is refused by both.
run_bad() {
    local name=$1 key=$2 expr=$3 slug
    slug=$(tr -c 'A-Za-z0-9' '_' <<<"$name")
    derive "$slug" "$expr"
    refused_by_both "$name" "$key" "$WORK/$slug.json"
}
run_bad "bad clusterCIDR is rejected naming clusterCIDR" "clusterCIDR" \
    'c["clusterCIDR"] = "10.244.0.0/33"'
run_bad "bad port address is rejected naming dpdk.ports[0].address" "dpdk.ports[0].address" \
    'c["dpdk"]["ports"][0]["address"] = "10.50.0.300/24"'
run_bad "unknown key is rejected naming it" "dpdk.flowTableSise" \
    'c["dpdk"]["flowTableSise"] = c["dpdk"].pop("flowTableSize")'
run_bad "wrong type is rejected naming the key" "dpdk.flowTableSize" \
    'c["dpdk"]["flowTableSize"] = "large"'

# Duplicate keys: a JSON library keeps the last value without a word. The last "mode"
# is dpdk, so that a daemon which missed the duplicate would still not program this host.
derive_text dup-mode "t = t.replace('\"mode\": \"dpdk\",', '\"mode\": \"iptables\", \"mode\": \"dpdk\",', 1)"
refused_by_both "a duplicate top-level key is rejected naming it" "mode: duplicate key" "$WORK/dup-mode.json"
derive_text dup-address "t = t.replace('\"address\": \"10.50.0.1/24\"', '\"address\": \"10.50.0.1/24\", \"address\": \"10.50.0.2/24\"', 1)"
refused_by_both "a duplicate key in a port is rejected naming its path" "dpdk.ports[0].address: duplicate key" \
    "$WORK/dup-address.json"

# Port addresses that are no host's.
for bad in 0.0.0.0/0 10.50.0.1/0 0.0.0.0/24 10.50.0.0/24 10.50.0.255/24 224.0.0.5/24 127.0.0.1/8; do
    run_bad "port address $bad is rejected naming dpdk.ports[0].address" "dpdk.ports[0].address: $bad" \
        "c['dpdk']['ports'][0]['address'] = '$bad'"
done

# More ports than the data path takes (dpdk_app's kMaxPorts, control's kMaxDpdkPorts: 8).
add_ports() { # add_ports N: a statement giving the demo config N ports, each its own device
    echo "c['dpdk']['ports'] = [{'device': f'net_af_packet{i},iface=np-demo-{i}', 'address': f'10.{50 + i}.0.1/24'} for i in range($1)]"
}
derive eight-ports "$(add_ports 8)"
run_good "g: --validate accepts 8 ports, the data path's limit" "$WORK/eight-ports.json"
run_bad "9 ports are rejected naming dpdk.ports" "dpdk.ports: 9 ports; the data path takes at most 8" "$(add_ports 9)"

# Two ports on one device, however it is spelled.
run_bad "two ports on one interface are rejected naming dpdk.ports[1].device" "dpdk.ports[1].device" \
    "c['dpdk']['ports'].append({'device': 'net_af_packet1,iface=np-demo-node', 'address': '10.51.0.1/24'})"
run_bad "two ports on one PCI function are rejected naming dpdk.ports[1].device" "dpdk.ports[1].device" \
    "c['dpdk']['ports'] = [{'device': '0000:03:00.0', 'address': '10.50.0.1/24'}, {'device': '03:00.0,rxq=2', 'address': '10.51.0.1/24'}]"

# ---- the configuration as kube-proxy's (issue 11): YAML, kubeadm's file, --write-config-to
# A kubeconfig that resolves (--validate names the server, never contacts it).
cat >"$WORK/kubeconfig" <<'KC'
apiVersion: v1
kind: Config
current-context: e2e
clusters:
- name: fake
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: e2e
  context:
    cluster: fake
    user: nicproxy
users:
- name: nicproxy
  user:
    token: e2e-token
KC

# kubeadm's KubeProxyConfiguration (only mode changed), unchanged. Its kubeconfig path
# (/var/lib/kube-proxy/kubeconfig.conf) does not exist here: --kubeconfig overrides it.
FIXTURE="$ROOT/tests/fixtures/kubeadm-kube-proxy.yaml"
out="$WORK/kubeadm.out"
"$NICPROXY" --validate --config "$FIXTURE" --kubeconfig "$WORK/kubeconfig" >"$out" 2>&1
rc=$?
if [[ $rc -ne 0 ]] && grep -q 'servicesFile: required in mode nftables' "$out"; then
    echo "SKIP: g: kubeadm's KubeProxyConfiguration validates: kernel modes do not follow an API server in this build yet"
elif [[ $rc -eq 0 ]] && grep -q 'configuration OK' "$out" &&
    grep -q 'warning: kube-proxy settings that nicproxy ignores: bindAddress$' "$out"; then
    pass "g: kubeadm's KubeProxyConfiguration (YAML) validates unchanged, warning about bindAddress only"
else
    fail "g: kubeadm's KubeProxyConfiguration (YAML) validates unchanged" "exit $rc: $(oneline "$out")"
fi

# --write-config-to: the effective configuration as YAML; it validates and writes itself again.
out="$WORK/write.out"
"$NICPROXY" --config "$ROOT/configs/demo.json" --write-config-to "$WORK/demo.yaml" >"$out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && head -n 2 "$WORK/demo.yaml" | tr '\n' ' ' |
    grep -q '^apiVersion: kubeproxy.config.k8s.io/v1alpha1 kind: KubeProxyConfiguration $' &&
    grep -q '^  syncPeriod: 30s$' "$WORK/demo.yaml"; then
    pass "g: --write-config-to writes a KubeProxyConfiguration with the defaults filled in (exit 0)"
else
    fail "g: --write-config-to writes a KubeProxyConfiguration with the defaults filled in" \
        "exit $rc: $(oneline "$out") $(head -c 300 "$WORK/demo.yaml" 2>/dev/null | tr '\n' '|')"
fi
run_good "g: --validate the YAML --write-config-to wrote exits 0 and lists the services" "$WORK/demo.yaml"
"$NICPROXY" --config "$WORK/demo.yaml" --write-config-to "$WORK/demo-again.yaml" >"$out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && cmp -s "$WORK/demo.yaml" "$WORK/demo-again.yaml"; then
    pass "g: the written configuration loads back into the same configuration (written again, byte for byte)"
else
    fail "g: the written configuration loads back into the same configuration" \
        "exit $rc: $(diff "$WORK/demo.yaml" "$WORK/demo-again.yaml" 2>&1 | head -n 6 | tr '\n' '|')"
fi
out="$WORK/write-fail.out"
"$NICPROXY" --config "$ROOT/configs/demo.json" --write-config-to "$WORK/no-such-dir/out.yaml" >"$out" 2>&1
rc=$?
if [[ $rc -ne 0 && $rc -lt 128 ]] && grep -q 'no-such-dir/out.yaml: cannot write' "$out"; then
    pass "g: --write-config-to an unwritable path fails naming it (exit $rc)"
else
    fail "g: --write-config-to an unwritable path fails naming it" "exit $rc: $(oneline "$out")"
fi

run_good "g: --validate configs/kernel-nftables.yaml (YAML) exits 0 and lists the services" \
    "$ROOT/configs/kernel-nftables.yaml"
"$NICPROXY" --config "$ROOT/configs/kernel-nftables.json" --write-config-to "$WORK/nft-from-json.yaml" >/dev/null 2>&1
"$NICPROXY" --config "$ROOT/configs/kernel-nftables.yaml" --write-config-to "$WORK/nft-from-yaml.yaml" >/dev/null 2>&1
if [[ -s $WORK/nft-from-json.yaml ]] && cmp -s "$WORK/nft-from-json.yaml" "$WORK/nft-from-yaml.yaml"; then
    pass "g: configs/kernel-nftables.yaml and .json are the same configuration"
else
    fail "g: configs/kernel-nftables.yaml and .json are the same configuration" \
        "$(diff "$WORK/nft-from-json.yaml" "$WORK/nft-from-yaml.yaml" 2>&1 | head -n 6 | tr '\n' '|')"
fi

# kube-proxy fields nicproxy ignores: accepted, with one warning that names them.
derive kube-fields 'c["bindAddress"] = "10.50.0.1"; c["healthzBindAddress"] = ""; c["ipvs"] = {"strictARP": True}; c["featureGates"] = {"NFTablesProxyMode": True}'
out="$WORK/kube-fields.out"
"$NICPROXY" --config "$WORK/kube-fields.json" --validate >"$out" 2>&1
rc=$?
if [[ $rc -eq 0 ]] && [[ $(grep -c 'warning: kube-proxy settings' "$out") -eq 1 ]] &&
    grep -q 'nicproxy ignores: bindAddress, featureGates, ipvs.strictARP$' "$out"; then
    pass "g: kube-proxy fields nicproxy ignores are accepted with one warning naming them"
else
    fail "g: kube-proxy fields nicproxy ignores are accepted with one warning naming them" "exit $rc: $(oneline "$out")"
fi

# Bad YAML: refused by --validate and the daemon, naming the key path or the line.
yaml_bad() { # yaml_bad NAME PYTHON_EXPR: $WORK/NAME.yaml, demo.yaml's text `t` changed by PYTHON_EXPR
    python3 - "$WORK/demo.yaml" "$WORK/$1.yaml" "$2" <<'PY'
import sys
src, dst, expr = sys.argv[1:4]
with open(src) as f:
    t = f.read()
exec(expr)
with open(dst, "w") as f:
    f.write(t)
PY
}
yaml_bad dup-mode "t = t.replace('mode: dpdk\n', 'mode: iptables\nmode: dpdk\n', 1)"
refused_by_both "YAML: a duplicate key is rejected naming it" "mode: duplicate key" "$WORK/dup-mode.yaml"
yaml_bad dup-port "t = t.replace('address: 10.50.0.1/24', 'address: 10.50.0.1/24\n      address: 10.50.0.2/24', 1)"
refused_by_both "YAML: a duplicate key in a port is rejected naming its path" \
    "dpdk.ports[0].address: duplicate key" "$WORK/dup-port.yaml"
yaml_bad syntax "t = t.replace('  syncPeriod: 30s', '  syncPeriod: [30s', 1)"
refused_by_both "YAML: a syntax error names the line" "invalid YAML at line" "$WORK/syntax.yaml"
yaml_bad api-version "t = t.replace('kubeproxy.config.k8s.io/v1alpha1', 'kubeproxy.config.k8s.io/v1alpha2', 1)"
refused_by_both "YAML: another apiVersion is rejected naming apiVersion" "apiVersion: \"kubeproxy.config.k8s.io/v1alpha2\"" \
    "$WORK/api-version.yaml"
yaml_bad unknown "t = t + 'winkernel:\n  enableDsr: true\n'"
refused_by_both "YAML: an unknown key in a kube-proxy section is rejected naming it" "winkernel.enableDsr: unknown key" \
    "$WORK/unknown.yaml"

out="$WORK/missing.out"
"$NICPROXY" --config "$WORK/does-not-exist.json" --validate >"$out" 2>&1
rc=$?
if [[ $rc -ne 0 && $rc -lt 128 ]] && grep -q 'does-not-exist.json' "$out"; then
    pass "g: a missing config file is an error naming the file (exit $rc)"
else
    fail "g: a missing config file is an error naming the file" "exit $rc: $(oneline "$out")"
fi

[[ $FAILED -eq 0 ]]
