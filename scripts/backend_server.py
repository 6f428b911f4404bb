#!/usr/bin/env python3
"""A small backend for the nicproxy demo and e2e tests (Python 3 standard library only).

HTTP: every GET (any path) on every --http port answers 200 with the body "NAME:PORT\n";
      with --echo-client the body is "NAME:PORT from CLIENT_IP\n" (the source address the
      backend sees, for checks of masquerade and of externalTrafficPolicy: Local).
      GET /bytes/N answers N bytes (N <= 64 MiB) of a fixed pattern instead, for transfers
      that take many segments and windows: byte i is i * 7 % 251.
UDP:  every datagram on every --udp port is answered with "NAME:udp:PAYLOAD".

Runs until SIGINT or SIGTERM. Example, inside a backend namespace:
    backend_server.py --name backend-1 --http 8080 --http 9090 --udp 5353
"""

import argparse
import http.server
import signal
import socket
import sys
import threading


def pattern(size):
    """size bytes, byte i = i * 7 % 251 (what a client can check without a copy)."""
    block = bytes(i * 7 % 251 for i in range(251))
    return (block * (size // 251 + 1))[:size]


def make_handler(name, port, quiet, echo_client=False):
    plain = f"{name}:{port}\n".encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "nicproxy-backend/1"
        sys_version = ""

        def do_GET(self):
            body = f"{name}:{port} from {self.client_address[0]}\n".encode() if echo_client else plain
            if self.path.startswith("/bytes/") and self.path[7:].isdigit() and int(self.path[7:]) <= 64 << 20:
                body = pattern(int(self.path[7:]))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", name)
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self):
            body = plain
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Backend", name)
            self.end_headers()

        def log_message(self, fmt, *args):
            if not quiet:
                sys.stderr.write(f"{name} http:{port} {self.client_address[0]}:"
                                 f"{self.client_address[1]} {fmt % args}\n")

    return Handler


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def udp_echo(sock, name, port, quiet, stop):
    sock.settimeout(0.5)
    prefix = f"{name}:udp:".encode()
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(65535)
        except socket.timeout:
            continue
        except OSError:
            break
        try:
            sock.sendto(prefix + data, peer)
        except OSError as exc:
            if not quiet:
                sys.stderr.write(f"{name} udp:{port} send to {peer}: {exc}\n")
            continue
        if not quiet:
            sys.stderr.write(f"{name} udp:{port} {peer[0]}:{peer[1]} {len(data)} bytes\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True, help="name put in every answer")
    ap.add_argument("--http", type=int, action="append", default=[], metavar="PORT",
                    help="HTTP port (repeatable)")
    ap.add_argument("--udp", type=int, action="append", default=[], metavar="PORT",
                    help="UDP echo port (repeatable)")
    ap.add_argument("--bind", default="0.0.0.0", metavar="ADDR", help="address to bind")
    ap.add_argument("--quiet", action="store_true", help="no per-request log lines")
    ap.add_argument("--echo-client", action="store_true",
                    help="add ' from CLIENT_IP' to every HTTP answer")
    args = ap.parse_args()
    if not args.http and not args.udp:
        ap.error("give at least one --http or --udp port")

    stop = threading.Event()
    threads = []
    http_servers = []
    udp_socks = []

    for port in args.http:
        srv = Server((args.bind, port), make_handler(args.name, port, args.quiet, args.echo_client))
        http_servers.append(srv)
        threads.append(threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.2},
                                        daemon=True))
    for port in args.udp:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.bind, port))
        udp_socks.append(sock)
        threads.append(threading.Thread(target=udp_echo,
                                        args=(sock, args.name, port, args.quiet, stop),
                                        daemon=True))

    def on_signal(signum, _frame):
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    for t in threads:
        t.start()
    sys.stderr.write(f"{args.name}: listening on {args.bind} http={args.http} udp={args.udp}\n")
    sys.stderr.flush()

    while not stop.wait(0.5):
        pass
    for srv in http_servers:
        srv.shutdown()
        srv.server_close()
    for sock in udp_socks:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
