#!/usr/bin/env python3
"""hold_thread.py TID SECONDS: stops one thread of another process for SECONDS, then lets it go.

Used by health_dpdk_test.sh to hang one DPDK worker lcore the way a driver deadlock would.
Why ptrace: SIGSTOP (or the cgroup freezer) stops every thread of the process, the HTTP
threads that answer /livez included, so the test could not see /livez fail. PTRACE_SEIZE +
PTRACE_INTERRUPT on one thread id stops that thread alone.

Prints "stopped TID" once the thread is in its ptrace stop, and "released TID" after
PTRACE_DETACH. The detach runs in a finally block, also on SIGTERM/SIGINT; if this process
is killed outright, the kernel detaches and resumes the thread itself, so the worker is
never left stopped.
"""
import ctypes
import os
import signal
import sys
import time

PTRACE_DETACH = 17
PTRACE_SEIZE = 0x4206
PTRACE_INTERRUPT = 0x4207
WALL = 0x40000000  # __WALL: wait for a thread that is not a thread-group leader

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(request, tid):
    if libc.ptrace(request, tid, None, None) == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"ptrace({request:#x}, {tid}): {os.strerror(err)}")


def main():
    tid, seconds = int(sys.argv[1]), float(sys.argv[2])
    # SIGTERM from the test's cleanup: leave through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    ptrace(PTRACE_SEIZE, tid)
    try:
        ptrace(PTRACE_INTERRUPT, tid)
        _, status = os.waitpid(tid, WALL)
        if not os.WIFSTOPPED(status):
            raise SystemExit(f"thread {tid} did not stop (status {status:#x})")
        print(f"stopped {tid}", flush=True)
        time.sleep(seconds)
    finally:
        ptrace(PTRACE_DETACH, tid)
        print(f"released {tid}", flush=True)


if __name__ == "__main__":
    main()
