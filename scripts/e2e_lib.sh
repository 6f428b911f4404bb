# shellcheck shell=bash
# e2e_lib.sh: what the end-to-end scripts share: PASS:/FAIL: lines (scripts/test.sh
# counts them; FAILED counts the failures), check, failing the checks that a broken
# prerequisite makes impossible, and, for the scripts built on netns_topology.sh and
# harness.sh, one cleanup on exit.
#
# Those callers set PREFIX (topology prefix), WORK (a temp folder) and, for
# fail_all_from, the array CHECKS; they may define e2e_before_cleanup to stop what they
# started themselves (fake servers, background clients) before the topology goes.
# WORK is kept when a check failed or KEEP_WORK=1, and removed otherwise.

FAILED=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+ ($2)}"; FAILED=$((FAILED + 1)); }

# check NAME COMMAND...: PASS when COMMAND succeeds, else FAIL with $REASON (then cleared).
check() {
    local name=$1
    shift
    if "$@"; then pass "$name"; else fail "$name" "${REASON:-}"; fi
    REASON=""
}

# fail_all_from REASON INDEX: fails CHECKS[INDEX] and every check after it.
fail_all_from() {
    local reason=$1 i
    for ((i = $2; i < ${#CHECKS[@]}; i++)); do fail "${CHECKS[$i]}" "$reason"; done
}

# hup_and_wait PID LOG PATTERN: SIGHUP to PID, then waits up to 5 s for LOG to hold one
# more line matching PATTERN (grep) than before the signal.
hup_and_wait() {
    local pid=$1 log=$2 pattern=$3 before
    before=$(grep -c "$pattern" "$log")
    kill -HUP "$pid"
    for _ in $(seq 50); do
        (($(grep -c "$pattern" "$log") > before)) && return 0
        sleep 0.1
    done
    return 1
}

# shellcheck disable=SC2317  # called from the traps
e2e_cleanup() {
    trap - EXIT INT TERM
    if declare -F e2e_before_cleanup >/dev/null; then e2e_before_cleanup; fi
    h_cleanup "$PREFIX"
    if [[ ${KEEP_WORK:-0} == 1 || $FAILED -ne 0 ]]; then
        echo "# logs kept in $WORK"
    else
        rm -rf "$WORK"
    fi
}

e2e_install_traps() {
    trap e2e_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}
