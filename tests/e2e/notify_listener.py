#!/usr/bin/env python3
"""notify_listener.py: systemd's side of the notify protocol, for systemd_notify_test.sh.

Binds a unix datagram socket (the NOTIFY_SOCKET a service gets), and writes one line per
datagram to LOG: "<monotonic seconds> <assignments joined by |>". When a datagram holds
READY=1 it runs COMMAND at once, before reading the next one, and writes its exit code
and output to LOG.readyN for the Nth READY=1: what the dataplane held at the moment the
service said ready.

usage: notify_listener.py SOCKET LOG -- COMMAND...
"""
import os
import socket
import subprocess
import sys
import time


def main():
    sock_path, log_path = sys.argv[1], sys.argv[2]
    command = sys.argv[sys.argv.index("--") + 1:]
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    readies = 0
    with open(log_path, "a", buffering=1) as log:
        log.write("listening\n")
        while True:
            data = sock.recv(65536)
            states = data.decode("utf-8", "replace").strip("\n").split("\n")
            log.write("%.3f %s\n" % (time.monotonic(), "|".join(states)))
            if "READY=1" in states:
                readies += 1
                done = subprocess.run(command, capture_output=True, text=True)
                with open("%s.ready%d" % (log_path, readies), "w") as ready:
                    ready.write("exit %d\n%s%s" % (done.returncode, done.stdout, done.stderr))


if __name__ == "__main__":
    main()
