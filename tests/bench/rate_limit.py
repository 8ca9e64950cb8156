#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Usage: tests/bench/rate_limit.py RINGLB TESTBACKEND BYTES RATE
# Measures listener.upload_bytes_per_s / download_bytes_per_s through the real binary: one
# BYTES-long download from a source backend and one upload to a sink, each on its own
# connection at RATE bytes/s, timed from connect to the last byte (issue 12, item 5).
# splice mode from $SPLICE (default auto). Example, from a build directory "build":
#   tests/bench/rate_limit.py build/src/ringlb build/tests/support/ringlb-testbackend 10485760 1048576
import os, re, socket, subprocess, sys, tempfile, time
ringlb, backend_bin, nbytes, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def start_backend(mode, extra):
    p = subprocess.Popen([backend_bin, "--mode", mode, "--listen", "127.0.0.1:0"] + extra,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    port = int(re.search(r":(\d+)", line).group(1))
    return p, port
src, src_port = start_backend("source", ["--bytes", str(nbytes)])
sink, sink_port = start_backend("sink", ["--report"])
cfg = f"""[global]
workers = 2
splice = "{os.environ.get("SPLICE","auto")}"
[[listener]]
name = "down"
bind = "127.0.0.1:0"
pool = "src"
download_bytes_per_s = {rate}
[[listener]]
name = "up"
bind = "127.0.0.1:0"
pool = "sink"
upload_bytes_per_s = {rate}
[[pool]]
name = "src"
[[pool.backend]]
address = "127.0.0.1:{src_port}"
[[pool]]
name = "sink"
[[pool.backend]]
address = "127.0.0.1:{sink_port}"
"""
f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False); f.write(cfg); f.close()
lb = subprocess.Popen([ringlb, "--config", f.name], stderr=subprocess.PIPE, text=True)
ports = {}
while len(ports) < 2:
    line = lb.stderr.readline()
    m = re.search(r"listening listener=(\w+) address=127\.0\.0\.1:(\d+)", line)
    if m: ports[m.group(1)] = int(m.group(2))
# download
t = time.monotonic(); s = socket.create_connection(("127.0.0.1", ports["down"])); got = 0
while True:
    b = s.recv(1 << 20)
    if not b: break
    got += len(b)
down = time.monotonic() - t; s.close()
# upload
t = time.monotonic(); s = socket.create_connection(("127.0.0.1", ports["up"]))
s.sendall(b"u" * nbytes); s.shutdown(socket.SHUT_WR)
line = sink.stdout.readline()
up = time.monotonic() - t; s.close()
print(f"download: {got} bytes in {down:.3f} s; upload: {line.strip()} in {up:.3f} s; "
      f"size/rate = {nbytes/rate:.3f} s")
for p in (lb, src, sink): p.terminate()
