#!/usr/bin/env bash
# bench.sh: nicproxy-bench's sweep (CSV and PNG), the default configuration, and the
# worker-loop pauses during updates. Not part of scripts/test.sh (benchmarks print
# numbers; nothing here asserts a speed).
#
#   scripts/bench.sh [--hugepages N] [--out DIR] [--repeat R]
#
# --hugepages N  reserve N 2 MiB hugepages for the run (root) and restore the previous
#                count afterwards; without it the benchmark runs with --no-huge.
# Output: DIR/bench.csv, DIR/bench.png, DIR/bench.txt (default DIR: bench-results).
# Environment: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
OUT=bench-results
HUGE=0
REPEAT=3
while [[ $# -gt 0 ]]; do
    case $1 in
        --hugepages) HUGE=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --repeat) REPEAT=$2; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
[[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR"
ninja -C "$BUILD_DIR" tests/nicproxy-bench
BENCH=$BUILD_DIR/tests/nicproxy-bench
mkdir -p "$OUT"

mode=()
previous=""
if [[ $HUGE -gt 0 ]]; then
    previous=$(cat /proc/sys/vm/nr_hugepages)
    echo "$HUGE" >/proc/sys/vm/nr_hugepages
    trap 'echo "$previous" >/proc/sys/vm/nr_hugepages' EXIT
    echo "# reserved $(cat /proc/sys/vm/nr_hugepages) hugepages (was $previous)"
    mode=(--huge)
fi
{
    echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
    "$BENCH" "${mode[@]}" --repeat "$REPEAT" --sweep "$OUT/bench.csv"
    echo
    "$BENCH" "${mode[@]}" --repeat "$REPEAT" --services 10000 --flows 100000 --new-share 0.1 --packets 2000000
    "$BENCH" "${mode[@]}" --repeat "$REPEAT" --services 10000 --flows 100000 --size 1518 --packets 4000000
    echo
    "$BENCH" "${mode[@]}" --update-pauses --services 10000 --flows 100000
} | tee "$OUT/bench.txt"
# Debian's python3 (python3-matplotlib), not whatever python3 comes first in PATH.
"${PYTHON:-/usr/bin/python3}" scripts/bench_plot.py "$OUT/bench.csv" "$OUT/bench.png"
echo "# wrote $OUT/bench.csv, $OUT/bench.png, $OUT/bench.txt"
