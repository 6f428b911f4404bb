#!/usr/bin/env bash
# deploy_test.sh: the manifests in deploy/ hold together, and the ConfigMap's
# configuration is one nicproxy accepts. No cluster, no container runtime: every YAML in
# deploy/ is parsed and its facts checked (tests/e2e/deploy_check.py: host network,
# privileged, mounts, NODE_NAME, priority class, tolerations, probes, args...), then
# `nicproxy --validate` reads the ConfigMap's config.conf as the pod would (the mount
# point /var/lib/nicproxy replaced by a temp folder holding the ConfigMap's keys), and
# its commented dpdk example, uncommented, with mode dpdk, each as node-a would run it.
# rbac_test.sh holds the ClusterRole against real requests.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
WORK=$(mktemp -d /tmp/nicproxy-deploy.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

if ! python3 -c 'import yaml' 2>/dev/null; then
    fail "deploy: manifests" "python3-yaml missing (scripts/setup.sh)"
    exit 1
fi
python3 "$ROOT/tests/e2e/deploy_check.py" "$ROOT/deploy" || FAILED=$((FAILED + 1))

# The ConfigMap's keys as files, as the kubelet mounts them, with the mount point moved here.
python3 - "$ROOT/deploy/configmap.yaml" "$WORK" <<'PY' || fail "deploy: the ConfigMap's keys as files" "see above"
import re, sys, yaml
src, work = sys.argv[1:3]
data = yaml.safe_load(open(src))["data"]
for key, text in data.items():
    with open(f"{work}/{key}", "w") as f:
        f.write(text.replace("/var/lib/nicproxy/", work + "/"))
# The commented dpdk example, uncommented, in mode dpdk.
text = data["config.conf"].replace("/var/lib/nicproxy/", work + "/")
lines = text.split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("# dpdk:"))
lines[start:] = [re.sub(r"^# ?", "", l) for l in lines[start:]]
with open(f"{work}/config-dpdk.conf", "w") as f:
    f.write(re.sub(r"^mode: .*$", "mode: dpdk", "\n".join(lines), flags=re.M))
PY

if [[ ! -x $NICPROXY ]]; then
    fail "deploy: nicproxy --validate accepts the ConfigMap's config.conf" "no nicproxy binary at $NICPROXY"
    exit 1
fi
# The dpdk example leaves the port's address to each node: this "node" gives it in the
# environment (validate does not contact the API server for the Node's InternalIP then).
for conf in config config-dpdk; do
    mode=nftables
    [[ $conf == config-dpdk ]] && mode=dpdk
    out=$(NICPROXY_DPDK_PORT0_ADDRESS=192.168.10.5 "$NICPROXY" --config "$WORK/$conf.conf" \
        --hostname-override=node-a --validate 2>&1)
    rc=$?
    REASON="exit $rc: $(tr '\n' '|' <<<"$out" | cut -c1-400)"
    check "deploy: nicproxy --validate accepts the ConfigMap's config.conf$([[ $mode == dpdk ]] && echo "'s dpdk example") (mode $mode, the ConfigMap's kubeconfig.conf)" \
        test "$rc" -eq 0 -a -n "$(grep -F "mode $mode" <<<"$out")" -a -n "$(grep -F 'API server https://control-plane.example:6443' <<<"$out")"
done

[[ $FAILED -eq 0 ]]
