#!/usr/bin/env python3
"""Send one UDP datagram and print the reply (Python 3 standard library only).

Exit status: 0 a reply arrived (printed on stdout), 1 no reply within --timeout seconds,
2 ICMP port unreachable (the connected socket reports ConnectionRefusedError),
3 another error.

Example: udp_client.py 10.96.0.20 53 --payload hello --timeout 2
"""

import argparse
import socket
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--payload", default="ping", help="datagram payload (default: ping)")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    ap.add_argument("--bind", default="", metavar="ADDR", help="local address to bind")
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if args.bind:
            sock.bind((args.bind, 0))
        # A connected socket is what makes the kernel report ICMP errors to us.
        sock.connect((args.host, args.port))
        sock.settimeout(args.timeout)
        sock.send(args.payload.encode())
        data = sock.recv(65535)
    except ConnectionRefusedError:
        print(f"udp_client: {args.host}:{args.port}: ICMP port unreachable", file=sys.stderr)
        return 2
    except socket.timeout:
        print(f"udp_client: {args.host}:{args.port}: no reply within {args.timeout} s",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"udp_client: {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    finally:
        sock.close()
    print(data.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
