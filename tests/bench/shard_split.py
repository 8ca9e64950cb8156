#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Usage: tests/bench/shard_split.py RINGLB TESTBACKEND STEERING [CONNECTIONS] [PORTS]
# CONNECTIONS (default 2000) connections one after the other to ringlb (2 workers,
# global.shard_steering = STEERING) from PORTS (default 5) client ports, each reset after the
# backend's greeting so its port is free again; prints each worker's
# ringlb_shard_connections_total (issue 12, item 6).
import re, socket, struct, subprocess, sys, tempfile, urllib.request
ringlb, backend_bin, steering = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
nports = int(sys.argv[5]) if len(sys.argv) > 5 else 5
b = subprocess.Popen([backend_bin, "--mode", "greet", "--reply", "g", "--listen", "127.0.0.1:0"],
                     stdout=subprocess.PIPE, text=True)
bport = int(re.search(r":(\d+)", b.stdout.readline()).group(1))
cfg = f"""[global]
workers = 2
shard_steering = "{steering}"
[admin]
bind = "127.0.0.1:0"
[[listener]]
name = "in"
bind = "127.0.0.1:0"
pool = "p"
[[pool]]
name = "p"
[[pool.backend]]
address = "127.0.0.1:{bport}"
"""
f = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False); f.write(cfg); f.close()
lb = subprocess.Popen([ringlb, "--config", f.name], stderr=subprocess.PIPE, text=True)
port = admin = None
while port is None or admin is None:
    line = lb.stderr.readline()
    m = re.search(r"listening listener=in address=127\.0\.0\.1:(\d+)", line)
    if m: port = int(m.group(1))
    m = re.search(r"admin listening address=127\.0\.0\.1:(\d+)", line)
    if m: admin = int(m.group(1))
ports = []
for _ in range(nports):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ports.append(s.getsockname()[1]); s.close()
for i in range(n):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", ports[i % nports])); s.connect(("127.0.0.1", port))
    assert s.recv(16).startswith(b"g")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); s.close()
text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
print(steering, " ".join(re.findall(r'ringlb_shard_connections_total\{shard="(\d+)"\} (\d+)', text).__repr__().split()))
lb.terminate(); b.terminate()
