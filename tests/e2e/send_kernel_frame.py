#!/usr/bin/python3
"""Writes one Ethernet frame into a kernel interface, as the node's kernel would send it.

For tests/e2e/exception_path_test.sh: the frames the exception thread must check before
they leave through the DPDK port. KIND is
  good       a well-formed IPv4/UDP datagram (the positive control: it must arrive);
  malformed  the same, but the IPv4 total length claims 1400 bytes in a 60-byte frame;
  long       a well-formed datagram in a frame of 1700 bytes, longer than a 1500-byte
             MTU allows (raise the interface's MTU first: the kernel refuses to send a
             frame longer than the interface's own MTU).
Uses scapy (Debian's python3-scapy, hence /usr/bin/python3).

    send_kernel_frame.py KIND IFACE SRC_MAC DST_MAC SRC_IP DST_IP DPORT
"""

import sys

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.sendrecv import sendp


def frame(kind, src_mac, dst_mac, src_ip, dst_ip, dport):
    l2 = Ether(src=src_mac, dst=dst_mac)
    udp = UDP(sport=40000, dport=dport)
    if kind == "good":
        return l2 / IP(src=src_ip, dst=dst_ip) / udp / Raw(b"good frame from the kernel")
    if kind == "malformed":
        return l2 / IP(src=src_ip, dst=dst_ip, len=1400) / udp / Raw(b"malformed frame from the kernel")
    if kind == "long":
        # 14 (Ethernet) + 20 (IPv4) + 8 (UDP) + 1658 = 1700 bytes.
        return l2 / IP(src=src_ip, dst=dst_ip) / udp / Raw(b"L" * 1658)
    raise SystemExit(f"unknown kind {kind!r}")


def main():
    if len(sys.argv) != 8:
        raise SystemExit(__doc__)
    kind, iface, src_mac, dst_mac, src_ip, dst_ip, dport = sys.argv[1:]
    packet = frame(kind, src_mac, dst_mac, src_ip, dst_ip, int(dport))
    sendp(packet, iface=iface, verbose=False)
    print(f"sent {kind} frame of {len(bytes(packet))} bytes on {iface}")


if __name__ == "__main__":
    main()
