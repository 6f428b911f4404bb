#!/usr/bin/env python3
"""Sends UDP datagrams to ADDRESS:PORT as fast as one Python thread can, for SECONDS.

The flood of tests/e2e/exception_path_test.sh: packets to a port of the node's address
that no Service uses, which the data path hands to the kernel until the exception path's
token bucket (dpdk.exception.packetsPerSecond) says no. Prints "flooding" as it starts (the
caller waits for that: starting Python can take a second) and "sent N in S s" at the end.
The socket is connected so that each send skips the route lookup; a full socket buffer
(ENOBUFS) or an ICMP port unreachable that came back (ECONNREFUSED) costs that datagram
and the loop goes on.

    udp_flood.py 10.50.0.1 9999 3
"""

import argparse
import socket
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address")
    parser.add_argument("port", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--size", type=int, default=64, help="payload bytes (default 64)")
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((args.address, args.port))
    payload = b"f" * args.size
    sent = 0
    start = time.monotonic()
    deadline = start + args.seconds
    print("flooding", flush=True)
    while True:
        # The clock is read once per 256 sends: it costs as much as a send.
        for _ in range(256):
            try:
                sock.send(payload)
                sent += 1
            except OSError:
                pass
        if time.monotonic() >= deadline:
            break
    print(f"sent {sent} in {time.monotonic() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
