#!/usr/bin/env bash
# bench_ingress.sh: what each ingress check costs (docs/ingress.md). nicproxy-bench's
# established-flow phase with every check, with none, and with each alone, on the same
# flows and tables in one process, the configurations interleaved in short rounds (so
# that a busy spell of a shared host falls on all of them alike); the whole run is
# repeated in fresh processes (new memory layout each time). Not a test: it prints
# numbers and asserts nothing.
#
#   scripts/bench_ingress.sh [--runs N] [nicproxy-bench options]
#
# Defaults: 3 runs of --services 10000 --flows 100000 --packets 10000000
# --ingress-compare 20 (10 million packets per configuration, in rounds of 500,000),
# --no-huge. Environment: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
RUNS=3
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) RUNS=$2; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done
[[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR"
ninja -C "$BUILD_DIR" tests/nicproxy-bench >/dev/null
# The defaults, less those given on the command line (nicproxy-bench takes each once).
defaults=()
for pair in --services=10000 --flows=100000 --packets=10000000 --ingress-compare=20 --repeat=1; do
    key=${pair%%=*}
    [[ " ${extra[*]} " == *" $key "* ]] || defaults+=("$key" "${pair#*=}")
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for ((run = 1; run <= RUNS; ++run)); do
    echo "# run $run of $RUNS"
    "$BUILD_DIR/tests/nicproxy-bench" "${defaults[@]}" "${extra[@]}"
done
echo "# load average at the end: $(cat /proc/loadavg)"
