#!/usr/bin/env bash
# fuzz.sh: builds the libFuzzer targets of tests/fuzz with clang 14, ASan and UBSan (in
# FUZZ_BUILD_DIR, default build-fuzz), writes their seed corpora from the fixtures, and runs
# each target for a bounded time (docs/fuzzing.md).
#
# Prints "PASS: fuzz TARGET (...)" when the target ran its time without a crash, a sanitizer
# report, a leak, a timeout or running out of memory, else "FAIL: fuzz TARGET (why)" with
# the input that did it kept under $FUZZ_BUILD_DIR/fuzz-artifacts/. Exits non-zero if any
# failed. The corpora grow in $FUZZ_BUILD_DIR/fuzz-corpus/ from one run to the next.
#
# Options: --time S     seconds per target (default 30; 0: no limit, for --runs)
#          --runs N     stop a target after N inputs (a long run: see docs/fuzzing.md)
#          --only NAME  run only this target (repeatable): packet services_file object
#                       config kubeconfig watch_stream
#          --no-build   use the binaries as they are
#          -- ARGS      passed to every fuzzer as they are (e.g. -jobs=2)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)

FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
TARGETS=(packet services_file object config kubeconfig watch_stream)
time_limit=30
runs=""
only=()
build=1
extra=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --time) time_limit=$2; shift ;;
        --runs) runs=$2; shift ;;
        --only) only+=("$2"); shift ;;
        --no-build) build=0 ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
    shift
done
[[ ${#only[@]} -gt 0 ]] && TARGETS=("${only[@]}")

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+ ($2)}"; FAILED=$((FAILED + 1)); }
FAILED=0

# ---- build ------------------------------------------------------------------------------
if [[ $build -eq 1 ]]; then
    if ! command -v clang++ >/dev/null; then
        for t in "${TARGETS[@]}"; do fail "fuzz $t" "no clang++: run scripts/setup.sh"; done
        exit 1
    fi
    export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1} CCACHE_BASEDIR=${CCACHE_BASEDIR:-$ROOT}
    if [[ ! -f $FUZZ_BUILD_DIR/build.ninja ]]; then
        # b_lundef=false: the sanitizer runtimes are linked into the programs, not the
        # libraries. tests disabled: GoogleTest suites are not needed here.
        if ! CC=clang CXX=clang++ meson setup "$FUZZ_BUILD_DIR" -Dfuzz=true -Db_sanitize=address,undefined \
            -Db_lundef=false -Dtests=disabled; then
            for t in "${TARGETS[@]}"; do fail "fuzz $t" "meson setup failed"; done
            exit 1
        fi
    fi
    ninja_targets=(tests/fuzz/packet_seeds)
    for t in "${TARGETS[@]}"; do ninja_targets+=("tests/fuzz/${t}_fuzzer"); done
    if ! ninja -C "$FUZZ_BUILD_DIR" "${ninja_targets[@]}"; then
        for t in "${TARGETS[@]}"; do fail "fuzz $t" "build failed"; done
        exit 1
    fi
fi

# ---- seed corpora -----------------------------------------------------------------------
CORPUS=$FUZZ_BUILD_DIR/fuzz-corpus
ARTIFACTS=$FUZZ_BUILD_DIR/fuzz-artifacts
SEEDS=$FUZZ_BUILD_DIR/fuzz-seeds
rm -rf "$SEEDS"
mkdir -p "$CORPUS" "$ARTIFACTS" "$SEEDS"/{packet,services_file,object,config,kubeconfig,watch_stream}
# Services files: the List fixtures. Objects: each of their items alone. Watch streams:
# their items as events, at a few chunk sizes (the first byte), with the lines a real
# stream also carries (CRLF, BOOKMARK, ERROR, a broken line).
cp configs/demo-services.json tests/e2e/*.json "$SEEDS/services_file/"
cp configs/*.json configs/*.yaml tests/fixtures/*.yaml "$SEEDS/config/"
# Checked-in seeds: the kubeconfigs, and inputs that once found a bug (docs/fuzzing.md).
for t in "${TARGETS[@]}"; do
    [[ -d tests/fuzz/seeds/$t ]] && cp tests/fuzz/seeds/"$t"/* "$SEEDS/$t/"
done
python3 - "$SEEDS" configs/demo-services.json tests/e2e/*.json <<'PY'
import json, os, sys
seeds, lists = sys.argv[1], sys.argv[2:]
items = []
for path in lists:
    with open(path) as f:
        items += json.load(f).get("items", [])
for i, item in enumerate(items):
    with open(os.path.join(seeds, "object", "item-%03d.json" % i), "w") as f:
        json.dump(item, f)
extra = ['{"type":"BOOKMARK","object":{"kind":"Service","metadata":{"resourceVersion":"12345"}}}',
         '{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}',
         '{"type":"ADDED","object":', '']
for n, chunk in enumerate((1, 7, 64, 255)):
    lines = []
    for i, item in enumerate(items[n::4]):
        kind = ("ADDED", "MODIFIED", "DELETED")[i % 3]
        lines.append(json.dumps({"type": kind, "object": item}, separators=(",", ":")))
    body = "\r\n".join(lines[:2]) + "\r\n" + "\n".join(lines[2:] + extra)
    with open(os.path.join(seeds, "watch_stream", "stream-%d" % chunk), "wb") as f:
        f.write(bytes([chunk]) + body.encode())
PY
if ! ASAN_OPTIONS=detect_leaks=0 "$FUZZ_BUILD_DIR/tests/fuzz/packet_seeds" "$SEEDS/packet" >/dev/null; then
    echo "fuzz.sh: packet_seeds failed: the packet target starts from an empty corpus" >&2
fi

# ---- run --------------------------------------------------------------------------------
# UBSan stops at its first report (libFuzzer then keeps the input); leaks count for the
# parsers, not for the packet path, whose EAL keeps its memory until exit by design.
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in "${TARGETS[@]}"; do
    bin=$FUZZ_BUILD_DIR/tests/fuzz/${t}_fuzzer
    if [[ ! -x $bin ]]; then
        fail "fuzz $t" "$bin not built"
        continue
    fi
    mkdir -p "$CORPUS/$t"
    cp "$SEEDS/$t"/* "$CORPUS/$t/" 2>/dev/null  # seeds refreshed; libFuzzer names its own by hash
    args=(-timeout=10 -rss_limit_mb=4096 -print_final_stats=1 "-artifact_prefix=$ARTIFACTS/$t-")
    [[ $time_limit != 0 ]] && args+=("-max_total_time=$time_limit")
    [[ -n $runs ]] && args+=("-runs=$runs")
    case $t in services_file | object | config | watch_stream) args+=("-dict=tests/fuzz/json.dict") ;; esac
    leaks=1
    [[ $t == packet ]] && leaks=0
    log=$ARTIFACTS/$t.log
    echo "fuzz.sh: $t for ${time_limit}s${runs:+ or $runs runs} (log $log)"
    ASAN_OPTIONS=detect_leaks=$leaks:abort_on_error=0 "$bin" "${args[@]}" "${extra[@]}" "$CORPUS/$t" >"$log" 2>&1
    rc=$?
    stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' "$log" | awk '{print $2}' | paste -sd' ')
    read -r executed rate <<<"$stats"
    artifact=$(grep -oE "Test unit written to [^ ]+" "$log" | tail -n 1 | sed 's/Test unit written to //')
    if [[ $rc -eq 0 && -z $artifact ]]; then
        pass "fuzz $t (${executed:-?} inputs, ${rate:-?}/s, no crash or sanitizer report)"
    else
        why=$(grep -m1 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error:|==[0-9]+== ERROR: libFuzzer)' "$log" | cut -c1-200)
        fail "fuzz $t" "exit $rc: ${why:-see $log}${artifact:+; input $artifact}"
        tail -n 40 "$log"
    fi
done
[[ $FAILED -eq 0 ]]
