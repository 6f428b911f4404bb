#!/usr/bin/env bash
# bench_k8s.sh: the API-server-to-data-path benchmark (not part of test.sh).
# Builds, then runs build/tests/k8s_sync_bench: 10,000 services x 10 endpoints served by
# the in-process fake API server over HTTPS; prints the initial sync time and p50/p99/max
# of 1,000 single-endpoint changes from watch event to published DPDK table.
# Usage: bash scripts/bench_k8s.sh [SERVICES [ENDPOINTS [CHANGES]]]   (root: EAL)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR"
ninja -C "$BUILD_DIR" tests/k8s_sync_bench
exec "$BUILD_DIR/tests/k8s_sync_bench" "${1:-10000}" "${2:-10}" "${3:-1000}"
