#!/usr/bin/env bash
# bench_pauses.sh: the worker's loop lengths during live updates, with the worker lcore
# under SCHED_FIFO so that the host's other tasks cannot preempt it (not a test; root).
#
# nicproxy-bench --update-pauses runs the real runWorker() on lcore 1 (CPU 1), fed by
# the main lcore (CPU 0), which also publishes a changed service every 50 ms; once
# without updates, once with. On a shared 2-vCPU host an ordinary worker thread is
# preempted now and then for hundreds of microseconds, which hides whether the data
# path itself ever pauses. Under SCHED_FIFO only interrupts and the kernel's own
# stop-class work can interrupt it. The kernel's RT throttling would stop a busy FIFO
# thread for 50 ms of every second, so sched_rt_runtime_us is set to -1 for the run and
# put back on exit, whatever happens.
# Usage: bash scripts/bench_pauses.sh [nicproxy-bench options, e.g. --services 100000]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[[ $(id -u) -eq 0 ]] || { echo "bench_pauses.sh: needs root" >&2; exit 1; }
[[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR"
ninja -C "$BUILD_DIR" tests/nicproxy-bench
knob=/proc/sys/kernel/sched_rt_runtime_us
saved=$(cat "$knob")
# A run killed with SIGKILL leaves -1 behind: put the kernel's default back then.
[[ $saved == -1 ]] && saved=950000
BENCH_PID=""
restore() {
    [[ -n $BENCH_PID ]] && kill -KILL "$BENCH_PID" 2>/dev/null
    echo "$saved" >"$knob"
}
trap restore EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
echo -1 >"$knob"
# Bounded: a busy FIFO thread starves its CPU's kernel threads, so nothing may wait on
# them for long (the two phases take 6 s plus setup).
timeout -k 5 120 "$BUILD_DIR/tests/nicproxy-bench" --update-pauses --realtime 50 "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
rc=$?
BENCH_PID=""
exit "$rc"
