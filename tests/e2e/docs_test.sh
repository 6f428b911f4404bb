#!/usr/bin/env bash
# docs_test.sh: what README.md tells an operator holds.
#
# - Every relative link and #anchor in README.md and docs/*.md resolves
#   (scripts/check_doc_links.py).
# - Each configuration in README.md's ```json and ```yaml blocks passes `nicproxy --validate`: the
#   services file or kubeconfig it names is replaced by a stand-in in a temp folder (the
#   demo's services file, a kubeconfig with a token), nothing else is changed.
# No namespaces, no traffic, no root needed.
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}
WORK=$(mktemp -d /tmp/nicproxy-docs.XXXXXX)
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
trap 'rm -rf "$WORK"' EXIT

if links=$(python3 "$ROOT/scripts/check_doc_links.py" 2>&1); then
    pass "docs: every relative link in README.md and docs/*.md resolves"
else
    fail "docs: every relative link in README.md and docs/*.md resolves" \
        "$(grep -v ' pages, ' <<<"$links" | head -n 5 | tr '\n' '|')"
fi

if [[ ! -x $NICPROXY ]]; then
    fail "docs: README's configurations validate" "no nicproxy binary at $NICPROXY"
    exit 1
fi

# The stand-ins: the demo's services file, and a kubeconfig that parses (never contacted).
cp "$ROOT/configs/demo-services.json" "$WORK/services.json"
cat >"$WORK/kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
current-context: docs
contexts:
- name: docs
  context: {cluster: docs, user: docs}
clusters:
- name: docs
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: docs
  user: {token: docs-test}
EOF

# Writes $WORK/readme-N.json for each ```json or ```yaml block of README.md, its servicesFile and
# clientConnection.kubeconfig pointed at the stand-ins; prints how many.
count=$(python3 - "$ROOT/README.md" "$WORK" <<'PY'
import json, re, sys
import yaml
readme, work = sys.argv[1:3]
blocks = [text for _, text in re.findall(r"^```(json|yaml)\n(.*?)^```", open(readme).read(), re.S | re.M)]
for i, text in enumerate(blocks):
    config = yaml.safe_load(text)  # JSON is YAML too
    if "servicesFile" in config:
        config["servicesFile"] = "services.json"
    if "kubeconfig" in config.get("clientConnection", {}):
        config["clientConnection"]["kubeconfig"] = "kubeconfig"
    with open(f"{work}/readme-{i}.json", "w") as f:
        json.dump(config, f)
print(len(blocks))
PY
) || count=0

if [[ $count -eq 0 ]]; then
    fail "docs: README's configurations validate" "no readable \`\`\`json or \`\`\`yaml block in README.md"
fi
for ((i = 0; i < count; i++)); do
    mode=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("mode", "dpdk"))' "$WORK/readme-$i.json")
    if "$NICPROXY" --config "$WORK/readme-$i.json" --validate >"$WORK/validate-$i.log" 2>&1; then
        pass "docs: README's configuration $((i + 1)) (mode $mode) validates"
    else
        fail "docs: README's configuration $((i + 1)) (mode $mode) validates" \
            "$(tail -n 3 "$WORK/validate-$i.log" | tr '\n' '|')"
    fi
done

exit $((FAILED > 0))
