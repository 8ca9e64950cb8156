#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Three ringlb hosts behind one VIP (bird2 BGP + BFD, ECMP on a resilient nexthop group) in
the namespaces of `scripts/ecmp-demo up`: Maglev agreement over 1,000 client addresses, a
rolling restart under new connections and long-lived streams, and a host crash.

Usage (as root): ecmp_test.py SOURCE_ROOT BUILD_ROOT
It builds the topology, re-runs itself inside the client namespace (--inside), and removes
the topology at the end. Every wait is on a state (a route, a BGP session, /healthz, a
counter), bounded by a generous timeout that fails the test with what it waited for.
"""
import collections
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from checks import WAIT, Failure, check, log, wait_for

VIP = "10.99.0.1"
HOSTS = (1, 2, 3)
GROUP = 100
SHUTDOWN_DELAY = 2.0  # global.shutdown_delay_ms of the topology's hosts
GRACE = 10.0  # global.shutdown_grace_ms
AGREEMENT_SOURCES = 1000
LOAD_SOURCES = range(1000, 1200)  # sources of the continuous new connections
STREAM_SOURCES = range(1500, 1600)  # sources of the long-lived streams
SOURCES = 1600


def source_address(i):
    return f"10.0.{1 + i // 250}.{1 + i % 250}"


def run(*args, check_rc=True):
    result = subprocess.run(args, capture_output=True, text=True)
    if check_rc and result.returncode != 0:
        raise Failure(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def host_of(address):
    """10.1.N.2 (a host's address towards the router and the backends) -> N."""
    return int(address.split(".")[2])


# --- the router's state ------------------------------------------------------------------

def group_hosts():
    """The hosts in the router's VIP nexthop group (empty when it has none)."""
    out = run("ip", "-n", "ecmp-router", "-j", "nexthop", "show", check_rc=False)
    nexthops = json.loads(out or "[]")
    gateway = {nh["id"]: nh["gateway"] for nh in nexthops if "gateway" in nh}
    for nh in nexthops:
        if nh["id"] == GROUP:
            return frozenset(host_of(gateway[member["id"]]) for member in nh["group"])
    return frozenset()


def vip_route_uses_group():
    out = run("ip", "-n", "ecmp-router", "-j", "route", "show", VIP, check_rc=False)
    return any(route.get("nhid") == GROUP for route in json.loads(out or "[]"))


def bgp_established(work, hosts):
    out = run("birdc", "-s", f"{work}/router.ctl", "show", "protocols", check_rc=False)
    up = {line.split()[0] for line in out.splitlines() if "Established" in line}
    return all(f"h{n}" in up for n in hosts)


def bucket_share(n):
    """The share of the VIP group's buckets that point at host n."""
    out = run("ip", "-n", "ecmp-router", "-j", "nexthop", "bucket", "show", "id", str(GROUP),
              check_rc=False)
    nexthops = json.loads(run("ip", "-n", "ecmp-router", "-j", "nexthop", "show"))
    gateway = {nh["id"]: nh["gateway"] for nh in nexthops if "gateway" in nh}
    buckets = [b["bucket"]["nhid"] for b in json.loads(out or "[]")]
    mine = sum(1 for nhid in buckets if host_of(gateway[nhid]) == n)
    return mine / len(buckets) if buckets else 0


def predicted_hosts(flows):
    """The host the router sends each (source, port) flow to, by `ip route get`."""
    lines = "".join(f"route get {VIP} from {source} iif e-router-client ipproto tcp "
                    f"sport {port} dport 80\n" for source, port in flows)
    result = subprocess.run(["ip", "-n", "ecmp-router", "-force", "-batch", "-"], input=lines,
                            capture_output=True, text=True)
    hosts = []
    for line in result.stdout.splitlines():
        words = line.split()
        if words and words[0] == VIP:
            hosts.append(host_of(words[words.index("via") + 1]) if "via" in words else None)
    check(len(hosts) == len(flows), f"ip route get answered {len(hosts)} of {len(flows)} "
          f"flows: {result.stderr.strip()[:300]}")
    return hosts


# --- ringlb hosts --------------------------------------------------------------------------

class Host:
    def __init__(self, n, work, build):
        self.n, self.work, self.build = n, work, build
        self.process = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.log_path = f"{self.work}/h{self.n}.ringlb.{self.runs}.log"
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(
                ["ip", "netns", "exec", f"ecmp-h{self.n}", f"{self.build}/src/ringlb",
                 "--config", f"{self.work}/h{self.n}.toml"], stdout=out, stderr=out)

    def healthy(self):
        code = run("ip", "netns", "exec", f"ecmp-h{self.n}", "curl", "-s", "-m", "1", "-o",
                   "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:9000/healthz",
                   check_rc=False)
        return code == "200"

    def logged(self, text):
        with open(self.log_path, errors="replace") as f:
            return text in f.read()

    def check_log(self):
        with open(self.log_path, errors="replace") as f:
            text = f.read()
        for marker in ("Sanitizer", "runtime error:"):
            check(marker not in text, f"h{self.n}: sanitizer report in its log:\n{text[-2000:]}")

    def stop(self):
        """SIGTERM; returns the seconds until it exited (with status 0)."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        rc = self.process.wait(timeout=SHUTDOWN_DELAY + GRACE + WAIT)
        elapsed = time.monotonic() - started
        check(rc == 0, f"h{self.n}: ringlb exited {rc} after SIGTERM (log {self.log_path})")
        self.check_log()
        self.process = None
        return elapsed


# --- clients ---------------------------------------------------------------------------------

def connect(source, port=0, timeout=5.0):
    """One connection to the VIP from source:port: returns (backend, host) from the greeting."""
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.settimeout(timeout)
        s.bind((source, port))
        s.connect((VIP, 80))
        greeting = s.makefile("rb").readline().decode().split()
        check(len(greeting) == 2, f"{source}:{port}: bad greeting {greeting}")
        return greeting[0], host_of(greeting[1])
    finally:
        s.close()


class Load:
    """Continuous new connections (each reads its greeting) from LOAD_SOURCES."""

    def __init__(self, threads=2):
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.per_host = collections.Counter()
        self.failures = []  # (start time, source, error)
        self.finished = []  # (start time, seconds) of each connection that worked
        self.threads = [threading.Thread(target=self.run, args=(t, threads), daemon=True)
                        for t in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, first, step):
        i = first
        while not self.stop_event.is_set():
            source = source_address(LOAD_SOURCES[i % len(LOAD_SOURCES)])
            i += step
            started = time.monotonic()
            try:
                _, host = connect(source)
                with self.lock:
                    self.ok += 1
                    self.per_host[host] += 1
                    self.finished.append((started, time.monotonic() - started))
            except (OSError, Failure) as error:
                with self.lock:
                    self.failures.append((started, source, repr(error)))
            # At most ~200 new connections a second in all: buckets of the router's group go
            # idle (no new flow for idle_timer) often enough for a returning host to take
            # its share back within seconds.
            self.stop_event.wait(0.01)

    def count(self, host=None):
        with self.lock:
            return self.ok if host is None else self.per_host[host]

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join()


class Stream(threading.Thread):
    """A long-lived connection: 256-byte chunks every 50 ms, each echoed back byte-exact.
    A flow that moved to another host would be reset there (no host shares connections),
    so a stream that keeps echoing has stayed on its host and backend."""

    CHUNK = 256

    def __init__(self, source):
        super().__init__(daemon=True)
        self.source = source
        self.sock = socket.socket()
        self.sock.settimeout(5.0)
        self.sock.bind((source, 0))
        self.sock.connect((VIP, 80))
        self.reader = self.sock.makefile("rb")
        backend, address = self.reader.readline().decode().split()
        self.backend, self.host = backend, host_of(address)
        self.echoes = 0
        self.error = None
        self.finished = False
        self.stop_event = threading.Event()
        self.start()

    def chunk(self, k):
        return bytes((k * 7 + j + ord(self.source[-1])) % 256 for j in range(self.CHUNK))

    def run(self):
        try:
            k = 0
            while not self.stop_event.is_set():
                data = self.chunk(k)
                self.sock.sendall(data)
                echoed = self.reader.read(self.CHUNK)
                if echoed != data:
                    raise Failure(f"echo {k} differs ({len(echoed)} bytes)")
                k += 1
                self.echoes = k
                self.stop_event.wait(0.05)
            self.sock.shutdown(socket.SHUT_WR)
            rest = self.reader.read()
            if rest:
                raise Failure(f"{len(rest)} unexpected bytes before EOF")
            self.finished = True
        except (OSError, Failure) as error:
            self.error = repr(error)
        finally:
            self.reader.close()
            self.sock.close()

    def name_(self):
        return f"stream {self.source} (h{self.host} -> {self.backend})"

    def finish(self):
        self.stop_event.set()
        self.join()


def open_streams(streams, hosts, per_host, next_source):
    """Opens streams until each of hosts carries per_host live ones."""
    for _ in range(100):
        counts = collections.Counter(s.host for s in streams if not s.stop_event.is_set())
        if all(counts[n] >= per_host for n in hosts):
            return next_source
        streams.append(Stream(source_address(STREAM_SOURCES[next_source % len(STREAM_SOURCES)])))
        next_source += 1
    raise Failure(f"100 streams did not give each of hosts {sorted(hosts)} {per_host} streams")


# --- the scenarios -------------------------------------------------------------------------

def wait_ready(work, hosts, ringlbs):
    for n in hosts:
        wait_for(f"h{n} /healthz 200", ringlbs[n].healthy)
    wait_for(f"BGP sessions with {sorted(hosts)} Established", lambda: bgp_established(work, hosts))
    wait_for(f"the router's VIP group to hold hosts {sorted(hosts)}",
             lambda: group_hosts() == frozenset(hosts))
    wait_for("the route to the VIP on the nexthop group", vip_route_uses_group)


CANDIDATE_PORTS = 80  # source ports asked about per source address


def agreement():
    """Each of 1,000 sources connects once to each host (source ports chosen by asking the
    router where each would go): all three hosts must send it to the same backend."""
    candidates = [(source_address(i), 10000 + p) for i in range(AGREEMENT_SOURCES)
                  for p in range(CANDIDATE_PORTS)]
    predicted = predicted_hosts(candidates)
    flows = {}  # (source, host) -> port
    for (source, port), host in zip(candidates, predicted):
        flows.setdefault((source, host), port)
    for i in range(AGREEMENT_SOURCES):
        for n in HOSTS:
            # (2/3)^80 per source and host, 3,000 pairs: under 1e-10 per run by chance; a
            # missing host is a router that ignores ports.
            check((source_address(i), n) in flows,
                  f"none of {CANDIDATE_PORTS} ports of {source_address(i)} routes to h{n}")

    def one(item):
        (source, n), port = item
        backend, host = connect(source, port)
        return source, n, backend, host

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, flows.items()))
    backends = collections.defaultdict(set)
    per_host = collections.Counter()
    per_backend = collections.Counter()
    for source, predicted_host, backend, host in results:
        check(host == predicted_host,
              f"{source}: predicted h{predicted_host}, its greeting came through h{host}")
        backends[source].add(backend)
        per_host[host] += 1
    for source, names in backends.items():
        check(len(names) == 1, f"{source} reached {sorted(names)} through the three hosts")
        per_backend[next(iter(names))] += 1
    check(all(per_host[n] == AGREEMENT_SOURCES for n in HOSTS), f"per host: {per_host}")
    check(len(per_backend) == 3, f"sources per backend: {per_backend}")
    log(f"agreement: {len(results)} connections, per host {dict(sorted(per_host.items()))}, "
        f"every source one backend; sources per backend {dict(sorted(per_backend.items()))}")


def rolling_restart(work, ringlbs, load, streams, next_source):
    probe = [(source_address(i), 10000) for i in range(AGREEMENT_SOURCES)]
    for n in HOSTS:
        others = [m for m in HOSTS if m != n]
        next_source = open_streams(streams, HOSTS, 1, next_source)
        next_source = open_streams(streams, [n], 2, next_source)
        mine = [s for s in streams if s.host == n and not s.stop_event.is_set()]
        theirs = [s for s in streams if s.host != n and not s.stop_event.is_set()]
        before = predicted_hosts(probe)
        started = time.monotonic()
        ringlbs[n].process.send_signal(signal.SIGTERM)
        wait_for(f"the router to withdraw h{n}", lambda: group_hosts() == frozenset(others),
                 timeout=SHUTDOWN_DELAY + WAIT)
        withdrawn = time.monotonic() - started
        # The watcher polls /healthz every 100 ms and BGP + ecmp-router-sync follow in
        # milliseconds: 2 s (the delay) is 10x what it takes on a loaded box.
        check(withdrawn < SHUTDOWN_DELAY,
              f"h{n} was withdrawn {withdrawn:.2f} s after SIGTERM, after its listeners closed")
        during = predicted_hosts(probe)
        moved = sum(1 for b, d in zip(before, during) if b != n and b != d)
        check(moved == 0, f"withdrawing h{n} moved {moved} flows of the surviving hosts")
        # The draining host's streams keep flowing after the withdrawal (the router keeps
        # established flows on their host) and after its listeners closed, then end within
        # the grace period.
        marks = {s: s.echoes for s in mine}
        wait_for(f"h{n}'s streams to make 10 more round trips after the withdrawal",
                 lambda: all(s.echoes >= marks[s] + 10 or s.error for s in mine))
        wait_for(f"h{n} to close its listeners (log: listeners=closed)",
                 lambda: ringlbs[n].logged("listeners=closed"), timeout=SHUTDOWN_DELAY + WAIT)
        marks = {s: s.echoes for s in mine}
        wait_for(f"h{n}'s streams to make 10 more round trips in the grace period",
                 lambda: all(s.echoes >= marks[s] + 10 or s.error for s in mine))
        for s in mine:
            s.finish()
            check(s.error is None and s.finished, f"{s.name_()} broke: {s.error}")
        rc = ringlbs[n].process.wait(timeout=SHUTDOWN_DELAY + GRACE + WAIT)
        stopped = time.monotonic() - started
        check(rc == 0, f"h{n}: ringlb exited {rc} after SIGTERM")
        check(stopped < SHUTDOWN_DELAY + GRACE,
              f"h{n} took {stopped:.1f} s to stop: its streams outlived the grace period")
        ringlbs[n].check_log()
        served = load.count(n)
        ringlbs[n].start()
        wait_ready(work, HOSTS, ringlbs)
        # A returning path takes only buckets idle for idle_timer, so new connections reach
        # it once some bucket has gone quiet.
        wait_for(f"h{n} to hold a sixth of the group's buckets",
                 lambda: bucket_share(n) >= 1 / 6)
        after = predicted_hosts(probe)
        returned = sum(1 for b, a in zip(before, after) if b != a)
        wait_for(f"new connections to reach h{n} again", lambda: load.count(n) > served)
        marks = {s: s.echoes for s in theirs}
        wait_for("the other hosts' streams to keep flowing",
                 lambda: all(s.echoes > marks[s] or s.error for s in theirs))
        for s in theirs:
            check(s.error is None, f"{s.name_()} broke while h{n} restarted: {s.error}")
        log(f"restart h{n}: withdrawn {withdrawn:.2f} s after SIGTERM, stopped after "
            f"{stopped:.2f} s; {len(mine)} streams on h{n} finished, {len(theirs)} on the others "
            f"kept flowing; of 1,000 5-tuples, {moved} of the surviving hosts' moved at the "
            f"withdrawal, {returned} route elsewhere than before once h{n} is back (the idle "
            f"buckets it took)")
    return next_source


def crash(ringlbs, streams, victim=2):
    """The whole host dies: first it stops answering (every packet in and out dropped, as
    a hung or powered-off machine: no FIN or RST leaves it), then its processes (ringlb,
    bird with BFD, the watcher) are killed. Runs its own load, so that every failure it
    sees comes from the crash."""
    survivors = [m for m in HOSTS if m != victim]
    theirs = [s for s in streams if s.host != victim and not s.stop_event.is_set()]
    mine = [s for s in streams if s.host == victim and not s.stop_event.is_set()]
    load = Load()
    wait_for("100 new connections before the crash", lambda: load.count() >= 100)
    killed = time.monotonic()
    run("ip", "netns", "exec", f"ecmp-h{victim}", "nft", "add table inet dead; "
        "add chain inet dead in { type filter hook prerouting priority -500; policy drop; }; "
        "add chain inet dead out { type filter hook output priority -500; policy drop; }")
    for pid in run("ip", "netns", "pids", f"ecmp-h{victim}").split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass  # a short-lived child (the watcher's health check) that ended meanwhile
    check(ringlbs[victim].process.wait(timeout=WAIT) == -signal.SIGKILL, "ringlb not killed")
    ringlbs[victim].process = None
    wait_for(f"the router to drop h{victim}", lambda: group_hosts() == frozenset(survivors),
             timeout=WAIT)
    dropped = time.monotonic() - killed
    mark = load.count()
    wait_for("200 new connections after the drop", lambda: load.count() >= mark + 200)
    load.stop()
    after = [c for c in load.finished if c[0] >= killed]
    failures = load.failures
    # A connection whose SYN went into the dead host waits for its SYN retransmission (1 s),
    # which the router sends over a live path once it has dropped the dead one.
    slow = [c for c in after if c[1] > 0.5]
    affected = [c[0] for c in slow] + [c[0] for c in failures]
    window = max(affected, default=killed) - killed
    log(f"crash h{victim}: path dropped {dropped:.2f} s after it died; new connections "
        f"started until {window:.2f} s after were delayed ({len(slow)}, by a SYN "
        f"retransmission) or failed ({len(failures)}); {len(mine)} streams on h{victim} lost")
    # BFD (100 ms x 3) notices the dead speaker in about 0.3 s and bird, the kernel and
    # ecmp-router-sync follow within milliseconds; BGP's hold time (3 s) is the backstop if
    # BFD packets were starved on a loaded 2-core box. 5 s holds with margin on both.
    check(dropped < 5.0, f"the router dropped the dead host after {dropped:.2f} s")
    check(window < 5.0, f"new connections were hit for {window:.2f} s after the crash")
    wait_for(f"the streams on h{victim} to break (they are lost with it)",
             lambda: all(s.error for s in mine))
    marks = {s: s.echoes for s in theirs}
    wait_for("the surviving hosts' streams to keep flowing",
             lambda: all(s.echoes > marks[s] or s.error for s in theirs))
    for s in theirs:
        check(s.error is None, f"{s.name_()} broke when h{victim} crashed: {s.error}")
    for s in mine:
        s.finish()


def inside(root, build, work):
    ringlbs = {n: Host(n, work, build) for n in HOSTS}
    load = None
    streams = []
    try:
        for n in HOSTS:
            ringlbs[n].start()
        wait_ready(work, HOSTS, ringlbs)
        log("ready: three hosts healthy, BGP Established, VIP group of three")
        agreement()
        load = Load()
        rolling_restart(work, ringlbs, load, streams, 0)
        load.stop()
        check(not load.failures, f"{len(load.failures)} new connections failed during the "
              f"rolling restart, first: {load.failures[:3]}")
        log(f"rolling restart: {load.ok} new connections, none failed, per host "
            f"{dict(sorted(load.per_host.items()))}")
        crash(ringlbs, streams)
        for s in streams:
            if not s.stop_event.is_set():
                s.finish()
                check(s.error is None and s.finished, f"{s.name_()} broke: {s.error}")
        log(f"{len(streams)} streams, none broken but those on the crashed host")
        running = [ringlbs[n] for n in HOSTS if ringlbs[n].process]
        for host in running:
            host.process.send_signal(signal.SIGTERM)
        for host in running:
            host.stop()  # SIGTERM again (harmless: it cuts the delay short), exit status 0
        return 0
    except Failure as failure:
        print(f"FAILED: {failure}", flush=True)
        return 1
    finally:
        if load:
            load.stop()
        for s in streams:
            s.stop_event.set()
        for n in HOSTS:
            if ringlbs[n].process:
                ringlbs[n].process.kill()
                ringlbs[n].process.wait()


def main():
    if sys.argv[1] == "--inside":
        sys.exit(inside(*sys.argv[2:5]))
    root, build = sys.argv[1], sys.argv[2]
    if os.geteuid() != 0:
        sys.exit("FAILED: the ecmp test needs root (network namespaces); CI runs it as root")
    for tool in ("ip", "bird", "birdc", "nft", "curl"):
        if not shutil.which(tool):
            sys.exit(f"FAILED: {tool} is missing (scripts/test installs TEST_PACKAGES)")
    work = tempfile.mkdtemp(prefix="ringlb-ecmp-")
    demo = [f"{root}/scripts/ecmp-demo"]
    env = dict(os.environ, ECMP_WORK=work, RINGLB_BUILD=build)
    rc = 1
    try:
        subprocess.run(demo + ["up", "--sources", str(SOURCES)], env=env, check=True)
        rc = subprocess.run(["ip", "netns", "exec", "ecmp-client", sys.executable, __file__,
                             "--inside", root, build, work]).returncode
    finally:
        if rc != 0:
            for name in sorted(os.listdir(work)):
                if name.endswith(".log"):
                    with open(f"{work}/{name}", errors="replace") as f:
                        print(f"--- {name}\n{f.read()[-1500:]}")
        subprocess.run(demo + ["down"], env=env)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
