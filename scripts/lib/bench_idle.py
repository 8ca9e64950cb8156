# SPDX-License-Identifier: MIT
"""The idle-memory workload's client for scripts/bench: opens connections through a
balancer one after another, each completing one proxied `GET /`, and keeps them open."""

import socket
import time

HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def one_request(sock):
    """Sends GET / on a connected socket and reads the whole response (Content-Length)."""
    sock.sendall(HTTP_REQUEST)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise OSError(f"unexpected status: {head.splitlines()[0]!r}")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise OSError("connection closed before the response body")
        body += chunk


def open_idle_connections(port, count, deadline):
    """Opens count connections to port, each completing one request; returns (sockets,
    failures, first error text). Stops early at the deadline."""
    sockets, failures, first_error = [], 0, None
    for _ in range(count):
        if time.monotonic() > deadline:
            failures += count - len(sockets) - failures
            first_error = first_error or "deadline reached"
            break
        sock = None
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            one_request(sock)
            sockets.append(sock)
        except OSError as error:
            failures += 1
            first_error = first_error or str(error)
            if sock is not None:
                sock.close()
    return sockets, failures, first_error
