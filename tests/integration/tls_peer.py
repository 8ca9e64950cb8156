#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# TLS peers for the routing-by-server-name test, on Python's ssl (OpenSSL): a backend that
# terminates TLS with its own certificate, and a client that completes a handshake with a
# chosen server name (or none) and says which certificate answered.
#
#   tls_peer.py server NAME CERT KEY [--proxy]
#       Listens on 127.0.0.1:0, prints "listening PORT". Per connection: with --proxy, reads
#       a PROXY v1 line first; then a first byte 0x16 (a TLS handshake record) means TLS,
#       anything else plain text. Sends "NAME sni=SNI proxy=LINE tls=VERSION\n" (SNI "-" when
#       the client sent none; LINE "-" without --proxy; VERSION "plain" for plain text), then
#       echoes every byte until the client's EOF.
#   tls_peer.py client PORT SNI CA [--proxy LINE] [--records N]
#       Connects to 127.0.0.1:PORT, sends LINE and CRLF first when given, completes a TLS
#       handshake naming SNI ("-": no server_name extension), verifying the chain against CA
#       (not the name: the test checks which certificate answered), reads the backend's line,
#       sends "ping\n" and checks its echo. --records N: the ClientHello goes out in records of
#       at most N bytes of handshake data each, one send (and one TCP segment) per record, a
#       short pause between them. Prints "ok cn=CN version=VERSION line=LINE" and exits 0; any
#       failure prints the reason to stderr and exits 1.
import socket
import ssl
import struct
import sys
import threading
import time


def read_line(sock):
    line = b""
    while not line.endswith(b"\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise EOFError("EOF before the end of a line; got %r" % line)
        line += chunk
    return line


def echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def serve_one(raw, name, context, proxy):
    try:
        raw.settimeout(30)
        line = "-"
        if proxy:
            line = read_line(raw).decode().strip().replace(" ", "_")
        first = raw.recv(1, socket.MSG_PEEK)
        if not first:
            return
        if first[0] != 0x16:
            raw.sendall(("%s sni=- proxy=%s tls=plain\n" % (name, line)).encode())
            echo(raw)
            return
        seen = {"sni": "-"}

        def on_sni(_sock, server_name, _context):
            seen["sni"] = server_name or "-"

        context.sni_callback = on_sni
        conn = context.wrap_socket(raw, server_side=True)
        conn.sendall(("%s sni=%s proxy=%s tls=%s\n" % (name, seen["sni"], line, conn.version())).encode())
        echo(conn)
        conn.close()
    except (OSError, EOFError, ssl.SSLError) as error:
        print("backend %s: connection ended: %s" % (name, error), file=sys.stderr, flush=True)
    finally:
        raw.close()


def server(args):
    name, cert, key = args[0], args[1], args[2]
    proxy = "--proxy" in args[3:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    print("listening %d" % listener.getsockname()[1], flush=True)
    while True:
        raw, _ = listener.accept()
        # A context per connection: the SNI callback records that connection's name.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        threading.Thread(target=serve_one, args=(raw, name, context, proxy), daemon=True).start()


def send_in_records(sock, outgoing, size):
    """Sends the ClientHello (one handshake record in `outgoing`) as records of `size` bytes."""
    data = outgoing.read()
    if len(data) < 5 or data[0] != 0x16:
        raise RuntimeError("the first flight is not a handshake record")
    version = data[1:3]
    (length,) = struct.unpack("!H", data[3:5])
    if len(data) != 5 + length:
        raise RuntimeError("the ClientHello is not exactly one record")
    body = data[5:]
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    for index, piece in enumerate(pieces):
        sock.sendall(b"\x16" + version + struct.pack("!H", len(piece)) + piece)
        if index + 1 < len(pieces):
            time.sleep(0.05)  # separate segments; correctness never depends on it
    return len(pieces)


def handshake_in_records(sock, context, sni, size):
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=sni)
    first = True
    while True:
        try:
            tls.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        if first:
            if send_in_records(sock, outgoing, size) < 2:
                raise RuntimeError("the ClientHello fits one record of %d bytes" % size)
            first = False
        elif outgoing.pending:
            sock.sendall(outgoing.read())
        if done:
            return tls, incoming, outgoing
        data = sock.recv(65536)
        if not data:
            raise EOFError("EOF during the handshake")
        incoming.write(data)


class BioStream:
    """Reads and writes application data through an SSLObject over a socket."""

    def __init__(self, sock, tls, incoming, outgoing):
        self.sock, self.tls, self.incoming, self.outgoing = sock, tls, incoming, outgoing

    def send(self, data):
        self.tls.write(data)
        self.sock.sendall(self.outgoing.read())

    def recv_line(self):
        line = b""
        while not line.endswith(b"\n"):
            try:
                line += self.tls.read(1)
            except ssl.SSLWantReadError:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("EOF before the end of a line; got %r" % line)
                self.incoming.write(data)
        return line

    def getpeercert(self):
        return self.tls.getpeercert()

    def version(self):
        return self.tls.version()


class SocketStream:
    def __init__(self, conn):
        self.conn = conn

    def send(self, data):
        self.conn.sendall(data)

    def recv_line(self):
        return read_line(self.conn)

    def getpeercert(self):
        return self.conn.getpeercert()

    def version(self):
        return self.conn.version()


def client(args):
    port, sni, ca = int(args[0]), args[1], args[2]
    rest = args[3:]
    proxy_line = rest[rest.index("--proxy") + 1] if "--proxy" in rest else None
    records = int(rest[rest.index("--records") + 1]) if "--records" in rest else 0
    server_name = None if sni == "-" else sni
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(ca)
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if proxy_line is not None:
        sock.sendall(proxy_line.encode() + b"\r\n")
    if records > 0:
        stream = BioStream(sock, *handshake_in_records(sock, context, server_name, records))
    else:
        stream = SocketStream(context.wrap_socket(sock, server_hostname=server_name))
    line = stream.recv_line().decode().strip()
    stream.send(b"ping\n")
    reply = stream.recv_line()
    if reply != b"ping\n":
        raise RuntimeError("echo: sent ping, got %r" % reply)
    subject = dict(item[0] for item in stream.getpeercert()["subject"])
    print("ok cn=%s version=%s line=%s" % (subject.get("commonName"), stream.version(), line),
          flush=True)
    sock.close()


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("server", "client"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        (server if sys.argv[1] == "server" else client)(sys.argv[2:])
    except Exception as error:  # noqa: BLE001 - any failure is the test's failure
        print("tls_peer: %s: %s" % (type(error).__name__, error), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
