#!/usr/bin/env bash
# test.sh: the one command that builds nicproxy and runs every test layer (root).
#
#   1. scripts/setup.sh          packages (quick when all are present)
#   2. meson setup + ninja       the build (BUILD_DIR, default build)
#   3. unit tests                $BUILD_DIR/tests/unit_tests          (GoogleTest)
#   4. DPDK tests                $BUILD_DIR/tests/dpdk/dpdk_tests     (GoogleTest, EAL --no-huge)
#      and the same again built with AddressSanitizer in ${BUILD_DIR}-asan: the RCU
#      reclamation tests (a reader beside an update storm) only catch a use after free
#      when the heap is instrumented
#   5. end-to-end tests          tests/e2e/*.sh (network namespaces, real clients and servers)
#      and the kernel-mode scripts again with the nicproxy of ${BUILD_DIR}-nodpdk
#      (meson -Ddpdk=disabled, the daemon only), counted as e2e-nodpdk/NAME
#   6. fuzzing                   scripts/fuzz.sh: every libFuzzer target of tests/fuzz for
#      FUZZ_TIME s (default 30), built with clang in ${BUILD_DIR}-fuzz; one pass per
#      target that ran clean, one failure per crash or sanitizer report
#
# Counts: a GoogleTest binary adds its "[  PASSED  ] N tests" and "[  FAILED  ] N tests";
# a binary that crashes or exits non-zero without a FAILED count adds 1 failed. An e2e
# script adds its "PASS:" and "FAIL:" lines; one that exits non-zero without a FAIL line
# adds 1 failed. A failed setup or build adds 1 failed each.
# The last line of the output is exactly "N passed, N failed"; exit 0 only if none failed.
#
# Options: --no-setup   skip scripts/setup.sh
#          --no-asan    skip the AddressSanitizer build of the DPDK tests
#          --no-e2e     skip the end-to-end tests (both builds)
#          --no-nodpdk  skip the -Ddpdk=disabled build and its kernel e2e tests
#          --no-fuzz    skip the fuzzing
# Environment: BUILD_DIR, GTEST_TIMEOUT (s, default 900), E2E_TIMEOUT (s, default 300),
#              FUZZ_TIME (s per fuzz target, default 30).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

BUILD_DIR=${BUILD_DIR:-build}
export BUILD_DIR
GTEST_TIMEOUT=${GTEST_TIMEOUT:-900}
E2E_TIMEOUT=${E2E_TIMEOUT:-300}
run_setup=1
run_e2e=1
run_asan=1
run_fuzz=1
run_nodpdk=1
for arg in "$@"; do
    case $arg in
        --no-setup) run_setup=0 ;;
        --no-e2e) run_e2e=0 ;;
        --no-asan) run_asan=0 ;;
        --no-fuzz) run_fuzz=0 ;;
        --no-nodpdk) run_nodpdk=0 ;;
        -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

LOGDIR=$(mktemp -d /tmp/nicproxy-test.XXXXXX)
total_passed=0
total_failed=0
summary=()

record() { # record NAME PASSED FAILED [NOTE]
    total_passed=$((total_passed + $2))
    total_failed=$((total_failed + $3))
    summary+=("$(printf '%-34s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}

banner() { printf '\n==== %s ====\n' "$*"; }

# ---- 1. setup -------------------------------------------------------------------------
if [[ $run_setup -eq 1 ]]; then
    banner "setup"
    if bash scripts/setup.sh; then
        record "setup" 0 0
    else
        record "setup" 0 1 "scripts/setup.sh failed"
    fi
fi

# ---- 2. build -------------------------------------------------------------------------
banner "build ($BUILD_DIR)"
build_ok=1
if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    meson setup "$BUILD_DIR" || build_ok=0
fi
if [[ $build_ok -eq 1 ]]; then
    ninja -C "$BUILD_DIR" || build_ok=0
fi
if [[ $build_ok -eq 1 ]]; then
    record "build" 0 0
else
    record "build" 0 1 "meson/ninja failed; tests below run on whatever binaries exist"
fi

# ---- 3, 4. GoogleTest binaries ---------------------------------------------------------
run_gtest() { # run_gtest NAME BINARY
    local name=$1 bin=$2 log rc p f note=""
    banner "$name ($bin)"
    if [[ ! -x $bin ]]; then
        echo "$bin not built yet: skipped"
        summary+=("$(printf '%-34s skipped (%s not built)' "$name" "$bin")")
        return
    fi
    log="$LOGDIR/$name.log"
    timeout "$GTEST_TIMEOUT" "$bin" --gtest_brief=1 --gtest_color=no 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    p=$(grep -oE '^\[  PASSED  \] [0-9]+ tests?' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
    f=$(grep -oE '^\[  FAILED  \] [0-9]+ tests?' "$log" | tail -n 1 | grep -oE '[0-9]+' || true)
    p=${p:-0}
    f=${f:-0}
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        f=1
        if [[ $rc -eq 124 ]]; then
            note="timed out after ${GTEST_TIMEOUT}s"
        else
            note="exit $rc without a gtest summary (crash?)"
        fi
    fi
    record "$name" "$p" "$f" "$note"
}
run_gtest "unit" "$BUILD_DIR/tests/unit_tests"
run_gtest "dpdk" "$BUILD_DIR/tests/dpdk/dpdk_tests"
if [[ $run_asan -eq 1 ]]; then
    banner "build (${BUILD_DIR}-asan, DPDK tests only)"
    asan_ok=1
    if [[ ! -f ${BUILD_DIR}-asan/build.ninja ]]; then
        # werror off here only: GCC 12 reports false maybe-uninitialized warnings under
        # -fsanitize=address; the main build above keeps every warning an error.
        meson setup "${BUILD_DIR}-asan" -Db_sanitize=address -Db_lundef=false -Dwerror=false || asan_ok=0
    fi
    [[ $asan_ok -eq 1 ]] && { ninja -C "${BUILD_DIR}-asan" tests/dpdk/dpdk_tests || asan_ok=0; }
    if [[ $asan_ok -eq 1 ]]; then
        # Leak checking is off: EAL keeps its memory until exit by design.
        ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 run_gtest "dpdk (asan)" "${BUILD_DIR}-asan/tests/dpdk/dpdk_tests"
    else
        record "dpdk (asan) build" 0 1 "meson/ninja failed"
    fi
fi

# ---- 5. end-to-end --------------------------------------------------------------------
run_e2e() { # run_e2e NAME SCRIPT [VAR=VALUE...]: the script with those variables set
    local name=$1 t=$2 log rc p f note=""
    shift 2
    banner "$name"
    log="$LOGDIR/${name//\//_}.log"
    env "$@" timeout "$E2E_TIMEOUT" bash "$t" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    p=$(grep -c '^PASS:' "$log" || true)
    f=$(grep -c '^FAIL:' "$log" || true)
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        f=1
        if [[ $rc -eq 124 ]]; then
            note="timed out after ${E2E_TIMEOUT}s"
        else
            note="exit $rc without a FAIL line"
        fi
    fi
    record "$name" "$p" "$f" "$note"
}
if [[ $run_e2e -eq 1 ]]; then
    shopt -s nullglob
    for t in tests/e2e/*.sh; do
        run_e2e "e2e/$(basename "$t" .sh)" "$t"
    done
    shopt -u nullglob
fi
# The kernel modes without DPDK: a node with no DPDK NIC builds nicproxy this way. Only
# the scripts that take NICPROXY from the environment and need no DPDK; the fake API
# server and the other helpers still come from BUILD_DIR.
if [[ $run_e2e -eq 1 && $run_nodpdk -eq 1 ]]; then
    banner "build (${BUILD_DIR}-nodpdk, -Ddpdk=disabled, daemon only)"
    nodpdk_ok=1
    if [[ ! -f ${BUILD_DIR}-nodpdk/build.ninja ]]; then
        meson setup "${BUILD_DIR}-nodpdk" -Ddpdk=disabled -Dtests=disabled || nodpdk_ok=0
    fi
    [[ $nodpdk_ok -eq 1 ]] && { ninja -C "${BUILD_DIR}-nodpdk" daemon/nicproxy || nodpdk_ok=0; }
    if [[ $nodpdk_ok -eq 1 ]]; then
        record "nodpdk build" 0 0
        nodpdk_bin=${BUILD_DIR}-nodpdk/daemon/nicproxy
        [[ $nodpdk_bin == /* ]] || nodpdk_bin=$PWD/$nodpdk_bin
        for t in kernel_proxy_test kernel_k8s_test reload_test signals_test validate_test systemd_notify_test \
            health_test hc_nodeport_test kernel_metrics_test; do
            run_e2e "e2e-nodpdk/$t" "tests/e2e/$t.sh" NICPROXY="$nodpdk_bin"
        done
    else
        record "nodpdk build" 0 1 "meson/ninja failed"
    fi
fi

# ---- 6. fuzzing ----------------------------------------------------------------------
if [[ $run_fuzz -eq 1 ]]; then
    banner "fuzz (scripts/fuzz.sh, ${FUZZ_TIME:-30}s per target, ${BUILD_DIR}-fuzz)"
    log="$LOGDIR/fuzz.log"
    FUZZ_BUILD_DIR="${BUILD_DIR}-fuzz" bash scripts/fuzz.sh --time "${FUZZ_TIME:-30}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    p=$(grep -c '^PASS:' "$log" || true)
    f=$(grep -c '^FAIL:' "$log" || true)
    note=""
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
        f=1
        note="exit $rc without a FAIL line"
    fi
    record "fuzz" "$p" "$f" "$note"
fi

# ---- summary --------------------------------------------------------------------------
if [[ $total_failed -eq 0 ]]; then
    rm -rf "$LOGDIR"
    banner "summary"
else
    banner "summary (logs in $LOGDIR)"
fi
for line in "${summary[@]}"; do
    echo "$line"
done
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
