#!/usr/bin/env python3
"""Sends one command to a DPDK telemetry socket and prints the reply's JSON, for
tests/e2e/inspect_test.sh (what dpdk-telemetry.py does, without its prompt).

  telemetry_query.py SOCKET COMMAND       e.g. /var/run/dpdk/P/dpdk_telemetry.v2 /nicproxy/flows,vip=10.96.0.10
"""
import json
import socket
import sys


def main():
    path, command = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    greeting = json.loads(s.recv(65536).decode())
    s.send(command.encode())
    reply = s.recv(greeting.get("max_output_len", 16384) + 1024).decode()
    print(json.dumps(json.loads(reply)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
