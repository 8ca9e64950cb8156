# SPDX-License-Identifier: MIT
"""Soak driver for scripts/soak: mixed churn through a running ringlb, resource sampling.

Usage: soak.py --port PORT --pid PID --minutes M --report FILE
"""
import argparse
import hashlib
import os
import random
import socket
import sys
import threading
import time

SAMPLE_EVERY_S = 10


class Totals:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {"short": 0, "bulk": 0, "long": 0, "errors": 0}
        self.first_errors = []

    def add(self, kind, n=1):
        with self.lock:
            self.counts[kind] += n

    def error(self, what):
        with self.lock:
            self.counts["errors"] += 1
            if len(self.first_errors) < 10:
                self.first_errors.append(what)


def echo_exchange(port, payload, timeout=30.0):
    """Sends payload, half-closes, reads the echo to EOF; returns what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        received = bytearray()

        def reader():
            while True:
                chunk = sock.recv(1 << 16)
                if not chunk:
                    return
                received.extend(chunk)

        thread = threading.Thread(target=reader)
        thread.start()
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        thread.join(timeout)
        return bytes(received)


def short_worker(port, stop, totals, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        payload = rng.randbytes(rng.randint(1, 16 * 1024))
        try:
            if echo_exchange(port, payload) != payload:
                totals.error("short: echo differs")
            else:
                totals.add("short")
        except OSError as error:
            totals.error(f"short: {error}")


def bulk_worker(port, stop, totals, seed):
    rng = random.Random(seed)
    while not stop.is_set():
        payload = rng.randbytes(4 * 1024 * 1024)
        try:
            back = echo_exchange(port, payload)
            if hashlib.sha256(back).digest() != hashlib.sha256(payload).digest():
                totals.error(f"bulk: echo differs ({len(back)} of {len(payload)} bytes)")
            else:
                totals.add("bulk")
        except OSError as error:
            totals.error(f"bulk: {error}")
        stop.wait(0.5)


def long_worker(port, stop, totals, seed, count=200):
    """Keeps `count` mostly idle connections open, replacing some and pinging some."""
    rng = random.Random(seed)
    open_socks = []
    while not stop.is_set():
        try:
            while len(open_socks) < count:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                open_socks.append(sock)
            for _ in range(10):
                sock = open_socks.pop(rng.randrange(len(open_socks)))
                sock.close()
                totals.add("long")
            for sock in rng.sample(open_socks, 10):
                sock.sendall(b"ping")
                got = b""
                while len(got) < 4:
                    chunk = sock.recv(4 - len(got))
                    if not chunk:
                        raise OSError("long: closed while idle")
                    got += chunk
                if got != b"ping":
                    totals.error("long: ping echo differs")
        except OSError as error:
            totals.error(f"long: {error}")
            for sock in open_socks:
                sock.close()
            open_socks = []
        stop.wait(1.0)
    for sock in open_socks:
        sock.close()


def sample(pid):
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    rss_kib = int(fields["VmRSS"].split()[0])
    threads = int(fields["Threads"])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kib, fds, threads


def growing(values, tolerance):
    """True when the second half's peak exceeds the first half's by more than tolerance:
    a resource that settles stays flat; one that leaks keeps setting new peaks."""
    if len(values) < 4:
        return False
    half = len(values) // 2
    return max(values[half:]) > max(values[:half]) + tolerance


def main(argv):
    parser = argparse.ArgumentParser(prog="soak.py")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--report", required=True)
    args = parser.parse_args(argv)

    stop = threading.Event()
    totals = Totals()
    workers = [threading.Thread(target=short_worker, args=(args.port, stop, totals, i))
               for i in range(4)]
    workers += [threading.Thread(target=bulk_worker, args=(args.port, stop, totals, 100 + i))
                for i in range(2)]
    workers.append(threading.Thread(target=long_worker, args=(args.port, stop, totals, 200)))
    for worker in workers:
        worker.start()

    samples = []
    started = time.monotonic()
    end = started + args.minutes * 60
    try:
        while time.monotonic() < end:
            time.sleep(min(SAMPLE_EVERY_S, max(0.0, end - time.monotonic())))
            rss, fds, threads = sample(args.pid)
            elapsed = time.monotonic() - started
            samples.append((elapsed, rss, fds, threads))
            print(f"soak: {elapsed:6.0f} s  rss {rss / 1024:7.1f} MiB  fds {fds:5d}  "
                  f"threads {threads:2d}  {totals.counts}", file=sys.stderr, flush=True)
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)

    # The first minute is warm-up (pools and caches fill); judge what comes after.
    judged = [s for s in samples if s[0] >= 60] or samples
    problems = []
    if growing([s[1] for s in judged], 2048):
        problems.append("RSS keeps growing")
    if growing([s[2] for s in judged], 64):
        problems.append("open fds keep growing")
    if growing([s[3] for s in judged], 0):
        problems.append("threads keep growing")
    if totals.counts["errors"]:
        problems.append(f"{totals.counts['errors']} stream errors: {totals.first_errors}")

    with open(args.report, "w") as report:
        report.write("| elapsed s | RSS MiB | open fds | threads |\n|---:|---:|---:|---:|\n")
        for elapsed, rss, fds, threads in samples:
            report.write(f"| {elapsed:.0f} | {rss / 1024:.1f} | {fds} | {threads} |\n")
        report.write(f"\nconnections: {totals.counts}\n")
        report.write("\nresult: " + ("FAIL: " + "; ".join(problems) if problems else "PASS")
                     + "\n")
    print("soak: " + ("FAIL: " + "; ".join(problems) if problems else "PASS"), file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
