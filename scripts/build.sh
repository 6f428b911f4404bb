#!/usr/bin/env bash
# build.sh: install dependencies (scripts/setup.sh), configure and build nicproxy.
#   --no-setup   skip scripts/setup.sh
# Environment: BUILD_DIR (default: build), MESON_ARGS (extra arguments to meson setup).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
run_setup=1
for arg in "$@"; do
    case $arg in
        --no-setup) run_setup=0 ;;
        -h | --help) sed -n '2,4p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument '$arg'" >&2; exit 2 ;;
    esac
done

if [[ $run_setup -eq 1 ]]; then
    bash scripts/setup.sh
fi

if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    # shellcheck disable=SC2086  # MESON_ARGS is a list of words on purpose
    meson setup "$BUILD_DIR" ${MESON_ARGS:-}
fi
ninja -C "$BUILD_DIR"
