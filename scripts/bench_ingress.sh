#!/usr/bin/env bash
# bench_ingress.sh: what each ingress check costs (docs/ingress.md). Runs nicproxy-bench's
# established-flow phase with every check, with none, and with each alone, the
# configurations interleaved round by round (so that a busy spell of a shared host does
# not land on one configuration), and prints each configuration's median Mpps over the
# rounds, over all bursts and over the bursts the worker ran without a context switch.
# Not a test: it prints numbers and asserts nothing.
#
#   scripts/bench_ingress.sh [--rounds N] [nicproxy-bench options, e.g. --services 1000]
#
# Defaults: 5 rounds of --services 10000 --flows 100000 --packets 10000000, --no-huge.
# Environment: BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
ROUNDS=5
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) extra+=("$1"); shift ;;
    esac
done
[[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR"
ninja -C "$BUILD_DIR" tests/nicproxy-bench >/dev/null
BENCH=$BUILD_DIR/tests/nicproxy-bench
configs=(all none mac martian checksum options)
results=$(mktemp)
trap 'rm -f "$results"' EXIT

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(git rev-parse --short HEAD 2>/dev/null || echo '?'); load average at start: $(cat /proc/loadavg)"
echo "# $BENCH --services 10000 --flows 100000 --repeat 1 --ingress-checks C ${extra[*]}, $ROUNDS rounds"
for ((round = 1; round <= ROUNDS; ++round)); do
    for c in "${configs[@]}"; do
        line=$("$BENCH" --services 10000 --flows 100000 --repeat 1 --ingress-checks "$c" "${extra[@]}" | tail -1)
        # Columns: ... | Mpps ns cyc | io-fwd ratio | conn/s | clean-Mpps cyc ratio conn/s sw% | ...
        read -r -a f <<<"$line"
        echo "$c ${f[7]} ${f[16]} ${f[17]}" >>"$results"
        echo "round $round  $(printf '%-9s' "$c") Mpps ${f[7]}  clean Mpps ${f[16]} (${f[17]} cycles/packet)"
    done
done
echo "# load average at the end: $(cat /proc/loadavg)"
echo "# medians over $ROUNDS rounds; cost relative to 'none' (clean)"
printf '%-9s %10s %12s %14s %10s\n' checks Mpps "clean Mpps" "clean cyc/pkt" "cost"
none=$(awk '$1 == "none" {print $4}' "$results" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
for c in "${configs[@]}"; do
    median() { awk -v c="$c" -v k="$1" '$1 == c {print $k}' "$results" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
    mpps=$(median 2)
    clean=$(median 3)
    cycles=$(median 4)
    cost=$(awk -v a="$cycles" -v b="$none" 'BEGIN {printf "%+.1f%%", (a - b) / b * 100}')
    printf '%-9s %10s %12s %14s %10s\n' "$c" "$mpps" "$clean" "$cycles" "$cost"
done
