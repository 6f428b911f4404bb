#!/usr/bin/env bash
# image_test.sh: the image deploy/Containerfile builds, run as deploy/ runs it. Skipped
# unless NICPROXY_IMAGE_TEST=1 and podman has the DaemonSet's image (build it first:
# deploy/README.md); building it takes a quarter of an hour, so scripts/test.sh does not,
# and an image left from an older tree must not be tested as if it were this one.
#
# No container runtime runs it (that needs a cluster, or cgroups this host may lack): the
# image's root file system (podman create + mount) is entered with chroot in a network
# namespace made here, with what the kubelet would put there: the ConfigMap's keys at
# /var/lib/nicproxy (kubeconfig.conf's server pointed at the fake API server), the
# service-account token and CA at /run/secrets/kubernetes.io/serviceaccount, NODE_NAME,
# and the DaemonSet's args. Checks: the image's nicproxy --validate accepts the
# ConfigMap; it follows the fake (mode nftables, the ConfigMap's default), its rules
# carry a Service to a backend (curl from inside the namespace), the image's nft shows
# them, and SIGTERM stops it with exit 0.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check, or one SKIP line.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=SCRIPTDIR/../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
# shellcheck source=SCRIPTDIR/../../scripts/fake_api_lib.sh
source "$ROOT/scripts/fake_api_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
FAKE=$BUILD_DIR/tests/fake_apiserver
NODE=node-a

if [[ ${NICPROXY_IMAGE_TEST:-0} != 1 ]]; then
    echo "SKIP: image_test.sh: set NICPROXY_IMAGE_TEST=1 after building the image (deploy/README.md)"
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "SKIP: image_test.sh needs root (podman mount, network namespace)"
    exit 0
fi
if ! python3 -c 'import yaml' 2>/dev/null; then
    fail "image: the DaemonSet's image" "python3-yaml missing (scripts/setup.sh)"
    exit 1
fi
IMAGE=$(python3 -c 'import sys, yaml
d = next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d["kind"] == "DaemonSet")
print(d["spec"]["template"]["spec"]["containers"][0]["image"])' "$ROOT/deploy/daemonset.yaml")
if ! command -v podman >/dev/null || ! podman image exists "$IMAGE"; then
    echo "SKIP: image_test.sh: podman has no image $IMAGE (podman build -f deploy/Containerfile -t $IMAGE .)"
    exit 0
fi
if [[ ! -x $FAKE ]]; then
    fail "image: the DaemonSet's image" "no fake API server at $FAKE"
    exit 1
fi

WORK=$(mktemp -d /tmp/nicproxy-image.XXXXXX)
TOKEN="image-token-$$-$RANDOM"
NS=img$$
CONTAINER=""
FAKE_PID=""
NP_PID=""
BACKEND_PID=""
LOG=$WORK/nicproxy.log

stop_pid() { # stop_pid PID: SIGTERM, wait up to 15 s, then SIGKILL; sets STOP_RC
    STOP_RC=""
    [[ -n $1 ]] || return 0
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    STOP_RC=0
    wait "$1" 2>/dev/null || STOP_RC=$?
}
cleanup() {
    trap - EXIT INT TERM
    stop_pid "$NP_PID"
    stop_pid "$BACKEND_PID"
    stop_pid "$FAKE_PID"
    ip netns del "$NS" 2>/dev/null
    if [[ -n $CONTAINER ]]; then
        podman umount "$CONTAINER" >/dev/null 2>&1
        podman rm "$CONTAINER" >/dev/null 2>&1
    fi
    if [[ ${KEEP_WORK:-0} == 1 || $FAILED -ne 0 ]]; then echo "# logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

CHECKS=(
    "image: the image's nicproxy --validate accepts the ConfigMap's config.conf at /var/lib/nicproxy"
    "image: the image's nicproxy, started with the DaemonSet's args and NODE_NAME, follows the API server (mode nftables)"
    "image: a Service's ClusterIP reaches its backend through the rules it wrote, and the image's nft lists them"
    "image: SIGTERM stops it with exit 0"
)

if ! { CONTAINER=$(podman create "$IMAGE" 2>"$WORK/podman.err") && ROOTFS=$(podman mount "$CONTAINER" 2>>"$WORK/podman.err"); }; then
    fail_all_from "podman create/mount $IMAGE: $(tr '\n' '|' <"$WORK/podman.err")" 0
    exit 1
fi
echo "# $IMAGE: $(chroot "$ROOTFS" /usr/local/bin/nicproxy --version 2>&1)"
# Write only below real folders of the image: an absolute symlink (/var/run -> /run)
# would lead out of it, into this host.
for dir in run var/lib; do
    if [[ ! -d $ROOTFS/$dir || -L $ROOTFS/$dir ]]; then
        fail_all_from "the image's /$dir is not a folder" 0
        exit 1
    fi
done
SECRETS=$ROOTFS/run/secrets/kubernetes.io/serviceaccount
mkdir -p "$ROOTFS/var/lib/nicproxy" "$SECRETS"
fake_api_credentials "$WORK" "$TOKEN" image-ca || { fail_all_from "openssl could not make certificates" 0; exit 1; }
cp "$WORK/ca.crt" "$SECRETS/ca.crt"
printf '%s' "$TOKEN" >"$SECRETS/token"
# The ConfigMap's keys as the kubelet mounts them; the DaemonSet's args, NODE_NAME filled in.
python3 - "$ROOT/deploy" "$ROOTFS/var/lib/nicproxy" "$NODE" >"$WORK/args" <<'PY' || { fail_all_from "could not read deploy/" 0; exit 1; }
import re, sys, yaml
deploy, target, node = sys.argv[1:4]
docs = {}
for name in ("configmap.yaml", "daemonset.yaml"):
    for d in yaml.safe_load_all(open(f"{deploy}/{name}")):
        docs[d["kind"]] = d
for key, text in docs["ConfigMap"]["data"].items():
    if key == "kubeconfig.conf":
        text = re.sub(r"server: \S+", "server: https://127.0.0.1:6443", text)
    with open(f"{target}/{key}", "w") as f:
        f.write(text)
for a in docs["DaemonSet"]["spec"]["template"]["spec"]["containers"][0].get("args", []):
    print(a.replace("$(NODE_NAME)", node))
PY
mapfile -t ARGS <"$WORK/args"

# ---- the namespace: the fake API server, a backend on a veth of its own (and the
# default route, without which a ClusterIP has no route for the rules to rewrite) -----------------
if ! { ip netns add "$NS" && ip netns exec "$NS" ip link set lo up &&
    ip netns exec "$NS" ip link add be0 type veth peer name be1 && ip netns exec "$NS" ip addr add 10.77.0.11/24 dev be0 &&
    ip netns exec "$NS" ip link set be0 up && ip netns exec "$NS" ip link set be1 up &&
    ip netns exec "$NS" ip route add default dev be0; }; then
    fail_all_from "cannot make namespace $NS" 0
    exit 1
fi
# Not waited for here: the loop below waits for the fake and the backend together.
start_fake_api "$NS" "$WORK/fake.log" 0 || true
ip netns exec "$NS" python3 "$ROOT/scripts/backend_server.py" --name backend-1 --http 8080 --bind 10.77.0.11 \
    --quiet >"$WORK/backend.log" 2>&1 &
BACKEND_PID=$!
for _ in $(seq 50); do grep -qs 'listening on' "$WORK/fake.log" && grep -qs listening "$WORK/backend.log" && break; sleep 0.1; done
fake() {
    fake_api_request "$NS" POST "apply?resource=$1" "$2" >/dev/null
}
if ! { fake services '{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"demo","name":"web"},"spec":{"type":"ClusterIP","clusterIP":"10.96.0.10","clusterIPs":["10.96.0.10"],"ports":[{"name":"http","protocol":"TCP","port":80,"targetPort":8080}]}}' &&
    fake endpointslices '{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"namespace":"demo","name":"web-1","labels":{"kubernetes.io/service-name":"web"}},"addressType":"IPv4","ports":[{"name":"http","protocol":"TCP","port":8080}],"endpoints":[{"addresses":["10.77.0.11"],"conditions":{"ready":true},"nodeName":"node-b"}]}' &&
    fake nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$NODE\"},\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.77.0.1\"}]}}"; }; then
    fail_all_from "could not start or seed the fake API server: $(tr '\n' '|' <"$WORK/fake.log")" 0
    exit 1
fi

# ---- the checks -----------------------------------------------------------------------------
out=$(ip netns exec "$NS" env NODE_NAME="$NODE" chroot "$ROOTFS" /usr/local/bin/nicproxy "${ARGS[@]}" --validate 2>&1)
rc=$?
REASON="exit $rc: $(tr '\n' '|' <<<"$out" | cut -c1-400)"
check "${CHECKS[0]}" test "$rc" -eq 0

ip netns exec "$NS" env --default-signal=INT,QUIT NODE_NAME="$NODE" chroot "$ROOTFS" /usr/local/bin/nicproxy "${ARGS[@]}" >"$LOG" 2>&1 &
NP_PID=$!
ready=1
for _ in $(seq 300); do
    grep -Eq '(data path|proxy) ready' "$LOG" && { ready=0; break; }
    kill -0 "$NP_PID" 2>/dev/null || break
    sleep 0.1
done
REASON="log: $(tail -n 4 "$LOG" | tr '\n' '|' | cut -c1-400)"
check "${CHECKS[1]}" test "$ready" -eq 0 -a -n "$(grep -E 'Using nftables Proxier|mode nftables' "$LOG")"

answer=""
for _ in $(seq 30); do
    answer=$(ip netns exec "$NS" curl -sS --max-time 1 http://10.96.0.10/ 2>&1) && [[ $answer == backend-1:8080* ]] && break
    sleep 0.2
done
rules=$(ip netns exec "$NS" chroot "$ROOTFS" nft list table ip kube-proxy 2>&1)
REASON="curl http://10.96.0.10/ answered '$answer'; nft: $(grep -c 10.96.0.10 <<<"$rules") lines with 10.96.0.10"
check "${CHECKS[2]}" test "${answer%% *}" = backend-1:8080 -a -n "$(grep -F 10.96.0.10 <<<"$rules")"

stop_pid "$NP_PID"
NP_PID=""
REASON="exit status $STOP_RC; log: $(tail -n 3 "$LOG" | tr '\n' '|' | cut -c1-300)"
check "${CHECKS[3]}" test "$STOP_RC" = 0

[[ $FAILED -eq 0 ]]
