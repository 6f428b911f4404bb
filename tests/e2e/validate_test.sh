#!/usr/bin/env bash
# validate_test.sh: `nicproxy --config FILE --validate` on good and bad configurations.
# No namespaces, no traffic: --validate parses the config and the services file and exits.
#
# Good: configs/demo.json (ships with the repo) and configs/nicproxy.example.json (PCI
# device, gateway; its servicesFile pointed at the demo services) exit 0 and list the
# services as namespace/name; a gateway that is an external IP is a warning (exit 0). Bad:
# each broken copy exits non-zero and names the key path.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/dpdk_app/nicproxy}
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
# run_bad NAME KEYPATH PYTHON_EXPR
run_bad() {
    local name=$1 key=$2 expr=$3 out rc slug
    slug=$(tr -c 'A-Za-z0-9' '_' <<<"$name")
    derive "$slug" "$expr"
    out="$WORK/$slug.out"
    "$NICPROXY" --config "$WORK/$slug.json" --validate >"$out" 2>&1
    rc=$?
    if [[ $rc -eq 0 ]]; then
        fail "$name" "exit 0, want non-zero"
    elif grep -qiE 'segmentation fault|core dumped|terminate called' "$out" || [[ $rc -ge 128 ]]; then
        fail "$name" "crashed (exit $rc): $(oneline "$out")"
    elif ! grep -qF -- "$key" "$out"; then
        fail "$name" "exit $rc but the output does not name '$key': $(oneline "$out")"
    else
        pass "$name (exit $rc)"
    fi
}
run_bad "g: bad clusterCIDR is rejected naming clusterCIDR" "clusterCIDR" \
    'c["clusterCIDR"] = "10.244.0.0/33"'
run_bad "g: bad port address is rejected naming dpdk.ports[0].address" "dpdk.ports[0].address" \
    'c["dpdk"]["ports"][0]["address"] = "10.50.0.300/24"'
run_bad "g: unknown key is rejected naming it" "dpdk.flowTableSise" \
    'c["dpdk"]["flowTableSise"] = c["dpdk"].pop("flowTableSize")'
run_bad "g: wrong type is rejected naming the key" "dpdk.flowTableSize" \
    'c["dpdk"]["flowTableSize"] = "large"'

out="$WORK/missing.out"
"$NICPROXY" --config "$WORK/does-not-exist.json" --validate >"$out" 2>&1
rc=$?
if [[ $rc -ne 0 && $rc -lt 128 ]] && grep -q 'does-not-exist.json' "$out"; then
    pass "g: a missing config file is an error naming the file (exit $rc)"
else
    fail "g: a missing config file is an error naming the file" "exit $rc: $(oneline "$out")"
fi

[[ $FAILED -eq 0 ]]
