#!/usr/bin/env python3
"""A TCP client that keeps one connection open, for tests/e2e/dpdk_workers_test.sh.

  hold_client.py reset HOST PORT SECONDS     connect, print "connected", then wait for the
                                             peer: exit 0 and print "reset" on a RST,
                                             exit 1 on EOF or after SECONDS
  hold_client.py request HOST PORT FILE      connect, print "connected", wait until FILE
                                             exists, send one HTTP GET on the connection,
                                             print the body; exit 1 on any error
"""
import os
import socket
import sys
import time


def main():
    mode, host, port, arg = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.create_connection((host, port), timeout=5)
    print("connected", flush=True)
    if mode == "reset":
        s.settimeout(float(arg))
        try:
            data = s.recv(100)
        except ConnectionResetError:
            print("reset", flush=True)
            return 0
        except socket.timeout:
            print("timeout", flush=True)
            return 1
        print(f"closed {data!r}", flush=True)
        return 1
    deadline = time.time() + 120
    while not os.path.exists(arg):
        if time.time() > deadline:
            print("no go file", flush=True)
            return 1
        time.sleep(0.1)
    s.settimeout(5)
    s.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
    reply = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    print(reply.decode(errors="replace").split("\r\n\r\n", 1)[-1].strip(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
