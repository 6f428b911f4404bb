#!/usr/bin/env python3
"""Send hand-made IPv4 fragments of a UDP datagram (Python 3 standard library only; root).

    send_fragments.py DEST PORT --case incomplete   the first of two fragments only: never completes
    send_fragments.py DEST PORT --case overlap      two fragments that cover bytes 8..15 twice

The kernel routes them as any packet from this namespace (raw socket with IP_HDRINCL: it
fills in the source address, total length and header checksum, and keeps our offset and
flags). Each case uses its own IP id. Exits 0 once sent.
"""

import argparse
import socket
import struct
import sys


def fragment(dest, ident, offset_bytes, more, payload):
    flags = (0x2000 if more else 0) | (offset_bytes // 8)
    # version/IHL, TOS, total length (kernel fills), id, flags+offset, TTL, UDP, checksum (kernel
    # fills), source (kernel fills when 0), destination
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, ident, flags, 64, socket.IPPROTO_UDP, 0,
                         bytes(4), socket.inet_aton(dest))
    return header + payload


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dest")
    ap.add_argument("port", type=int)
    ap.add_argument("--case", choices=["incomplete", "overlap"], required=True)
    args = ap.parse_args()

    body = b"fragments-e2e-" * 4
    # UDP header with checksum 0 ("none"): the datagram never completes anyway.
    udp = struct.pack("!HHHH", 40999, args.port, 8 + len(body), 0) + body
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    try:
        if args.case == "incomplete":
            packets = [fragment(args.dest, 0x4e01, 0, True, udp[:32])]
        else:
            packets = [fragment(args.dest, 0x4e02, 0, True, udp[:16]),
                       fragment(args.dest, 0x4e02, 8, False, udp[8:])]
        for packet in packets:
            sock.sendto(packet, (args.dest, 0))
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
