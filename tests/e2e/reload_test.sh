#!/usr/bin/env bash
# reload_test.sh: a services-file reload (SIGHUP) is all or nothing. nicproxy runs as a
# kernel proxy (iptables, then nftables) in a router namespace with real netfilter, a
# real HTTP backend and a curl loop that keeps requesting one Service through every
# reload. A file with one bad item (another Service's port 70000), `{}`, a file with an
# invalid namespace and a file where two Services share a clusterIP are each refused:
# the log names the key path, the rules of every Service stay (the bad item's own
# included), and the curl loop sees no failed request. Then a good change applies.
# `nicproxy --validate` on each refused file exits non-zero naming the key path.
#
# Addresses (scripts/netns_router_topology.sh): client 10.10.0.2, router 10.10.0.1 (the
# node), backends be1 10.21.0.2 and be2 10.22.0.2 answering HTTP on 8080 and UDP on
# 5353. Services (tests/e2e/kernel-services.json, namespace e2e): web 10.96.1.10:80 ->
# be1, be2 (the curl loop's target); dns 10.96.1.15:53/UDP -> be2 (items[9], the item
# made bad); lb 10.96.1.14:80 -> be1 (items[7], removed by the good change).
#
# Prints "PASS: name" or "FAIL: name (reason)" per check; exits non-zero if any failed.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../../scripts/netns_router_topology.sh
source "$ROOT/scripts/netns_router_topology.sh"
# shellcheck source=../../scripts/e2e_lib.sh
source "$ROOT/scripts/e2e_lib.sh"
BUILD_DIR=${BUILD_DIR:-build}
[[ $BUILD_DIR == /* ]] || BUILD_DIR=$ROOT/$BUILD_DIR
NICPROXY=${NICPROXY:-$BUILD_DIR/daemon/nicproxy}

P=rl$$
WORK=$(mktemp -d /tmp/nicproxy-reload.XXXXXX)
NP_PID=""
LOOP_PID=""
BACKEND_PIDS=()

in_ns() { local role=$1; shift; ip netns exec "$(rtopo_ns "$P" "$role")" "$@"; }

cleanup() {
    [[ -n $LOOP_PID ]] && kill "$LOOP_PID" 2>/dev/null && wait "$LOOP_PID" 2>/dev/null
    [[ -n $NP_PID ]] && kill -TERM "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null
    for pid in "${BACKEND_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${BACKEND_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    rtopo_down "$P"
    if [[ $FAILED -eq 0 && ${KEEP_WORK:-0} != 1 ]]; then rm -rf "$WORK"; else echo "# logs kept in $WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ ! -x $NICPROXY ]]; then
    fail "reload: nicproxy built" "$NICPROXY missing"
    exit 1
fi
rtopo_up "$P" || { fail "reload: topology" "rtopo_up failed"; exit 1; }
for i in 1 2; do
    in_ns "be$i" python3 "$ROOT/scripts/backend_server.py" --name "backend-$i" --http 8080 --udp 5353 --quiet \
        >"$WORK/backend-$i.log" 2>&1 &
    BACKEND_PIDS+=("$!")
done
for i in 1 2; do
    for _ in $(seq 50); do grep -qs listening "$WORK/backend-$i.log" && break; sleep 0.1; done
done

GOOD=$ROOT/tests/e2e/kernel-services.json

# derive NAME PYTHON: $WORK/NAME.json, the good file changed by PYTHON (statements on
# `d`, the parsed JSON; `item(name)` finds an item by metadata.name).
derive() {
    python3 - "$GOOD" "$WORK/$1.json" "$2" <<'PY'
import json, sys
src, dst, expr = sys.argv[1:4]
d = json.load(open(src))
def item(name):
    return next(i for i in d["items"] if i["metadata"]["name"] == name)
exec(expr)
json.dump(d, open(dst, "w"), indent=1)
PY
}
derive bad-item 'item("dns")["spec"]["ports"][0]["port"] = 70000'
echo '{}' >"$WORK/empty-object.json"
derive bad-namespace 'item("lb")["metadata"]["namespace"] = "e2e/x"'
derive clash 'item("lb")["spec"]["clusterIP"] = "10.96.1.10"; item("lb")["spec"]["clusterIPs"] = ["10.96.1.10"]'
derive without-lb 'd["items"] = [i for i in d["items"] if i["metadata"]["name"] not in ("lb", "lb-1")]'

# Each refused file, the key path its error names, and a word of the message.
REFUSED=(bad-item empty-object bad-namespace clash)
declare -A KEYPATH=(
    [bad-item]='items[9].spec.ports[0].port: 70000 is not a valid port'
    [empty-object]='items: required'
    [bad-namespace]='items[7].metadata.namespace: Invalid value: "e2e/x"'
    [clash]='items[7].spec.clusterIPs: Invalid value: "10.96.1.10": provided IP is already allocated'
)

# ---- --validate on every refused file ------------------------------------------------
for name in "${REFUSED[@]}"; do
    printf '{"mode": "iptables", "nodeName": "router", "servicesFile": "%s"}\n' "$WORK/$name.json" \
        >"$WORK/validate-$name.conf.json"
    "$NICPROXY" --config "$WORK/validate-$name.conf.json" --validate >"$WORK/validate-$name.out" 2>&1
    rc=$?
    REASON="exit $rc: $(grep -v '^  ' "$WORK/validate-$name.out" | tail -n 3 | tr '\n' '|' | cut -c1-300)"
    check "reload: --validate $name.json exits non-zero naming ${KEYPATH[$name]%%:*}" \
        eval "[[ $rc -ne 0 ]] && grep -qF -- '${KEYPATH[$name]}' '$WORK/validate-$name.out'"
done

# ruleset MODE: what nicproxy installed (no counters).
ruleset() {
    if [[ $1 == iptables ]]; then
        in_ns router iptables-save -t nat | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'
    else
        in_ns router nft list table ip kube-proxy 2>/dev/null
    fi
}

# curl_loop FILE: requests web's ClusterIP until killed, one line per request: "ok" or
# "fail EXIT". Each request is a new connection, so a missing rule shows at once.
curl_loop() {
    local rc
    trap 'exit 0' TERM
    while true; do
        in_ns client curl -sS -o /dev/null --max-time 2 http://10.96.1.10/ 2>/dev/null
        rc=$?
        if [[ $rc -eq 0 ]]; then echo ok; else echo "fail $rc"; fi
    done >"$1"
}

# reload_refused MODE NAME: installs the refused file, SIGHUP, waits for the refusal.
reload_refused() {
    cp "$WORK/$2.json" "$WORK/services.json"
    hup_and_wait "$NP_PID" "$WORK/$1.log" "nothing applied"
}

# reload_applied MODE: SIGHUP, waits for one more "synced generation".
reload_applied() { hup_and_wait "$NP_PID" "$WORK/$1.log" "synced generation"; }

run_mode() {
    local mode=$1 name before after n_ok n_fail
    cp "$GOOD" "$WORK/services.json"
    cat >"$WORK/$mode.json" <<JSON
{"mode": "$mode", "nodeName": "router", "clusterCIDR": "10.20.0.0/14", "servicesFile": "services.json",
 "iptables": {"minSyncPeriod": "100ms"}, "nftables": {"minSyncPeriod": "100ms"}}
JSON
    echo "---- mode $mode"
    if ! rtopo_start_nicproxy "$P" "$NICPROXY" "$WORK/$mode.json" "$WORK/$mode.log"; then
        fail "reload $mode: nicproxy starts" "no 'kernel proxy ready' in its log"
        return
    fi
    ruleset "$mode" >"$WORK/$mode-rules-before"
    REASON="$(grep -c . "$WORK/$mode-rules-before") lines"
    check "reload $mode: the rules of e2e/dns and e2e/lb are installed" \
        eval "grep -q 'e2e/dns' '$WORK/$mode-rules-before' && grep -q 'e2e/lb' '$WORK/$mode-rules-before'"

    curl_loop "$WORK/$mode-curl.log" &
    LOOP_PID=$!
    sleep 1
    for name in "${REFUSED[@]}"; do
        if reload_refused "$mode" "$name"; then
            pass "reload $mode: SIGHUP with $name.json is refused"
        else
            fail "reload $mode: SIGHUP with $name.json is refused" \
                "no new 'nothing applied' line; log tail: $(tail -n 3 "$WORK/$mode.log" | tr '\n' '|' | cut -c1-300)"
        fi
        REASON="log: $(grep -F "servicesFile" "$WORK/$mode.log" | tail -n 2 | tr '\n' '|' | cut -c1-300)"
        check "reload $mode: the log names ${KEYPATH[$name]%%:*}" grep -qF -- "${KEYPATH[$name]}" "$WORK/$mode.log"
        sleep 0.5  # a sync after a refused reload would show here
        ruleset "$mode" >"$WORK/$mode-rules-$name"
        REASON="$(diff "$WORK/$mode-rules-before" "$WORK/$mode-rules-$name" | head -n 4 | tr '\n' ';')"
        check "reload $mode: after $name.json the rules are exactly as before (e2e/dns's included)" \
            cmp -s "$WORK/$mode-rules-before" "$WORK/$mode-rules-$name"
    done
    sleep 1
    kill "$LOOP_PID" 2>/dev/null
    wait "$LOOP_PID" 2>/dev/null
    LOOP_PID=""
    n_ok=$(grep -c '^ok' "$WORK/$mode-curl.log")
    n_fail=$(grep -c '^fail' "$WORK/$mode-curl.log")
    REASON="$n_ok ok, $n_fail failed: $(grep '^fail' "$WORK/$mode-curl.log" | sort | uniq -c | tr '\n' ';')"
    check "reload $mode: the curl loop through 4 refused reloads: no failed request (of $n_ok)" \
        test "$n_fail" -eq 0 -a "$n_ok" -ge 10
    REASON="nicproxy pid $NP_PID is gone"
    check "reload $mode: nicproxy still runs" kill -0 "$NP_PID"

    # A good change applies: lb goes, web and dns stay.
    cp "$WORK/without-lb.json" "$WORK/services.json"
    reload_applied "$mode" || fail "reload $mode: the good file syncs" "no new 'synced generation' line"
    ruleset "$mode" >"$WORK/$mode-rules-after"
    REASON="$(grep -c 'e2e/lb' "$WORK/$mode-rules-after") lines of e2e/lb left"
    check "reload $mode: a good file applies (e2e/lb's rules gone, e2e/dns's kept)" \
        eval "! grep -q 'e2e/lb' '$WORK/$mode-rules-after' && grep -q 'e2e/dns' '$WORK/$mode-rules-after'"
    before=$(in_ns client curl -sS --max-time 2 http://10.96.1.10/ 2>/dev/null)
    after=$(in_ns client curl -sS --max-time 2 http://10.96.1.14/ 2>/dev/null; echo "exit $?")
    REASON="web: '$before'; lb: '$after'"
    check "reload $mode: web still answers, lb no longer does" \
        eval "[[ '$before' == backend-* && '$after' != backend-* ]]"

    kill -TERM "$NP_PID" 2>/dev/null
    wait "$NP_PID" 2>/dev/null
    NP_PID=""
    in_ns router "$NICPROXY" --cleanup --config "$WORK/$mode.json" >/dev/null 2>&1
}

run_mode iptables
run_mode nftables
exit $((FAILED > 0))
