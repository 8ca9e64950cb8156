# SPDX-License-Identifier: MIT
"""Runs scripts/bench's measurements: backends, contenders and workloads on loopback.

`bench.py run` starts the nginx backends once, then for every workload and round starts
each contender afresh (direct, HAProxy, nginx stream, ringlb, in that order: A B C D, A B C
D, ...), measures it, stops it, and writes every run's figures to a JSON file that
bench_report.py turns into docs/BENCHMARKS.md. Python 3 standard library only.

Every process it starts is written to PIDS_FILE (one pid a line) so that scripts/bench's
trap can end them even if this process dies; this process also ends them on any exit.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_wrk import WrkParseError, parse_wrk  # noqa: E402

CONTENDERS = ("direct", "haproxy", "nginx", "ringlb")

# Each workload: what wrk asks for and with how many connections. "idle" is not a wrk run:
# a Python client opens idle_connections through the balancer, one request each.
WORKLOADS = {
    "keepalive": {"path": "/", "connections": 64, "close": False,
                  "title": "keep-alive, 2-byte reply, 64 connections"},
    "close": {"path": "/", "connections": 32, "close": True,
              "title": "new connection per request (Connection: close), 32 connections"},
    "bulk": {"path": "/big", "connections": 8, "close": False,
             "title": "bulk 1 MiB responses, 8 connections"},
    "idle": {"title": "idle memory: RSS growth per idle proxied connection"},
}

NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"
BIG_FILE_BYTES = 1 << 20
READY_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# /proc readers

def _stat_fields(pid):
    """Fields of /proc/PID/stat after the command name, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2:].split()


def descendants(pid):
    """Every live process below pid (children, grandchildren, ...)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, pending = [], [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def tree_cpu_ticks(pid):
    """utime + stime, in clock ticks, of pid and its live descendants (all their threads,
    io_uring io-wq workers included; threads that exited are still counted by the kernel)."""
    total = 0
    for member in [pid] + descendants(pid):
        fields = _stat_fields(member)
        if fields:
            # After the name: state(0) ppid(1) ... utime is stat field 14, stime 15.
            total += int(fields[11]) + int(fields[12])
    return total


def _status_value(pid, key):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(pid):
    """VmRSS in KiB of pid and its live descendants (nginx: master plus worker)."""
    return sum(_status_value(member, "VmRSS") for member in [pid] + descendants(pid))


def tree_threads(pid):
    return sum(_status_value(member, "Threads") for member in [pid] + descendants(pid))


# ---------------------------------------------------------------------------------------
# Processes

class Processes:
    """Starts processes and guarantees they are ended: by stop(), by stop_all() on exit,
    and, should this process be killed, by scripts/bench's trap reading pids_file."""

    def __init__(self, pids_file):
        self.pids_file = pids_file
        self.live = {}

    def _write_pids(self):
        pids = set()
        for process in self.live.values():
            pids.add(process.pid)
            pids.update(descendants(process.pid))
        with open(self.pids_file + ".new", "w") as out:
            out.write("".join(f"{pid}\n" for pid in sorted(pids)))
        os.replace(self.pids_file + ".new", self.pids_file)

    def start(self, argv, log_path, mode="wb"):
        with open(log_path, mode) as output:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT)
        self.live[process.pid] = process
        self._write_pids()
        return process

    def wait(self, process, timeout):
        """Waits for a process that ends by itself (wrk); stops it after timeout seconds."""
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            log(f"{process.args[0]} (pid {process.pid}) overran: stopping it")
        return self.stop(process)

    def note_children(self):
        """Records the children that started processes have forked (nginx's worker)."""
        self._write_pids()

    def stop(self, process):
        """SIGTERM, then SIGKILL to the whole tree after STOP_TIMEOUT_S. Returns the exit
        status (negative: killed by that signal)."""
        tree = descendants(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log(f"pid {process.pid} did not stop on SIGTERM: SIGKILL")
                for pid in [process.pid] + tree:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                process.wait()
        for pid in tree:  # e.g. an nginx worker left behind by a master that was killed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.live.pop(process.pid, None)
        self._write_pids()
        return process.returncode

    def stop_all(self):
        for process in list(self.live.values()):
            self.stop(process)


def port_is_free(port):
    """True if nothing listens on 127.0.0.1:port (TIME_WAIT leftovers do not count)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def wait_until_accepting(port, process, name):
    """Waits until a TCP connect to 127.0.0.1:port succeeds; fails if process exits."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} at start-up")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{name} is not accepting on 127.0.0.1:{port} after {READY_TIMEOUT_S} s")


def cpu_busy_percent(cpus, seconds=1.0):
    """Share of the time each of cpus was busy (not idle or iowait) over `seconds`, from
    /proc/stat: what else runs on the machine besides the benchmark."""
    def sample():
        times = {}
        with open("/proc/stat") as stat:
            for line in stat:
                name, *values = line.split()
                if name.startswith("cpu") and name != "cpu":
                    numbers = [int(v) for v in values[:8]]
                    times[int(name[3:])] = (numbers[3] + numbers[4], sum(numbers))
        return times
    first = sample()
    time.sleep(seconds)
    second = sample()
    busy = {}
    for cpu in cpus:
        idle = second[cpu][0] - first[cpu][0]
        total = second[cpu][1] - first[cpu][1]
        busy[str(cpu)] = round(100.0 * (total - idle) / total, 1) if total else None
    return busy


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as text:
            return text.read().splitlines()[-lines:]
    except OSError:
        return []


# ---------------------------------------------------------------------------------------
# Configurations. Every contender gets one worker on the balancer CPU and settings that let
# it give its best on this workload; the comments say why each one is there.

def backend_config(work, logs, ports, nofile):
    """One nginx process (master + 1 worker) serving the 3 backend ports on the load CPU."""
    listens = "\n".join(f"        listen 127.0.0.1:{port} backlog=4096;" for port in ports)
    return f"""# Generated by scripts/bench: the three HTTP backends.
daemon off;                       # a child of bench.py, stopped by it
master_process on;
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {work}/backends.pid;
error_log {logs}/backends.error.log warn;
events {{
    worker_connections {nofile - 100};   # 4,000 idle connections plus the load
    multi_accept on;
}}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    # The idle workload keeps 4,000 keep-alive connections open: never time them out, and
    # never close a keep-alive connection after N requests (the default is 1,000).
    keepalive_timeout 600s;
    keepalive_requests 1000000000;
    open_file_cache max=16;
    default_type application/octet-stream;
    client_body_temp_path {work}/tmp;
    proxy_temp_path {work}/tmp;
    fastcgi_temp_path {work}/tmp;
    uwsgi_temp_path {work}/tmp;
    scgi_temp_path {work}/tmp;
    server {{
{listens}
        root {work}/www;
        location = / {{ return 200 "ok"; }}    # the 2-byte reply
        location = /big {{ }}                  # the 1 MiB file
    }}
}}
"""


def haproxy_config(port, backends, nofile):
    # Each connection takes two sockets, and splice a pipe (two fds) for up to a quarter of
    # them (maxpipes = maxconn / 4): 2.5 fds per connection must fit in ulimit -n.
    maxconn = (nofile - 200) * 2 // 5
    servers = "\n".join(f"    server b{i} 127.0.0.1:{p}" for i, p in enumerate(backends, 1))
    return f"""# Generated by scripts/bench: HAProxy as an L4 round-robin balancer.
global
    nbthread 1                  # one worker thread, as every contender
    maxconn {maxconn}           # as high as ulimit -n allows (the default is lower)
    # no "log": logging every connection would cost CPU the others do not spend

defaults
    mode tcp
    balance roundrobin
    option splice-auto          # kernel splice when it pays (bulk), copy otherwise
    maxconn {maxconn}           # the frontend's own limit defaults to 2,000 otherwise
    timeout connect 1s
    timeout client 600s         # the idle workload's connections must stay open
    timeout server 600s

listen bench
    bind 127.0.0.1:{port}
{servers}
"""


def nginx_stream_config(work, logs, port, backends, nofile):
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in backends)
    return f"""# Generated by scripts/bench: nginx's stream module as an L4 round-robin balancer.
load_module {NGINX_STREAM_MODULE};     # from libnginx-mod-stream
daemon off;
master_process on;
worker_processes 1;                   # one worker, as every contender
worker_rlimit_nofile {nofile};        # the raised ulimit -n
pid {work}/nginx-stream.pid;
error_log {logs}/nginx-stream.error.log warn;
events {{
    worker_connections {nofile - 100};  # counts client and upstream sides; default 512
    multi_accept on;                  # drain the accept queue in one wake-up
}}
stream {{
    upstream backends {{               # round robin is the default
{servers}
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        proxy_pass backends;
        proxy_connect_timeout 1s;
        proxy_timeout 600s;           # the idle workload's connections must stay open
        # no access_log in stream: none is written unless configured
    }}
}}
"""


def ringlb_config(port, backends):
    backend_tables = "\n".join(
        f'  [[pool.backend]]\n  address = "127.0.0.1:{p}"\n' for p in backends)
    return f"""# Generated by scripts/bench: ringlb with one shard.
[global]
workers = 1                 # one shard thread, as every contender
log_level = "warn"          # no per-connection logging
shutdown_grace_ms = 1000

[[listener]]
name = "bench"
bind = "127.0.0.1:{port}"
pool = "bench"

[[pool]]
name = "bench"
algorithm = "round_robin"
connect_timeout_ms = 1000
idle_timeout_ms = 600000    # the idle workload's connections must stay open
# no [pool.health]: no probes, like the other contenders

{backend_tables}"""


# ---------------------------------------------------------------------------------------
# The idle workload's client

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


# ---------------------------------------------------------------------------------------
# The runner

class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.logs = args.logs
        os.makedirs(self.logs, exist_ok=True)
        os.makedirs(os.path.join(self.work, "tmp"), exist_ok=True)
        self.procs = Processes(args.pids_file)
        base = args.port_base
        self.backend_ports = [base + 1, base + 2, base + 3]
        self.balancer_port = {"haproxy": base + 10, "nginx": base + 11, "ringlb": base + 12}
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.backends = None
        self.background = None

    def taskset(self, cpu):
        return ["taskset", "-c", str(cpu)]

    def check_ports(self):
        ports = self.backend_ports + list(self.balancer_port.values())
        busy = [port for port in ports if not port_is_free(port)]
        if busy:
            raise RuntimeError(f"ports in use on 127.0.0.1: {busy}; choose --port-base")

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as out:
            out.write(text)
        return path

    def start_backends(self):
        # nginx's workers drop root for www-data: the files they serve must be readable, and
        # mktemp -d made the scratch directory 0700.
        os.chmod(self.work, 0o755)
        www = os.path.join(self.work, "www")
        os.makedirs(www, mode=0o755, exist_ok=True)
        with open(os.path.join(www, "big"), "wb") as big:
            big.write(os.urandom(BIG_FILE_BYTES))
        os.chmod(os.path.join(www, "big"), 0o644)
        config = self.write("backends.conf", backend_config(
            self.work, self.logs, self.backend_ports, self.nofile))
        self.backends = self.procs.start(
            self.taskset(self.args.load_cpu) + [
                "nginx", "-p", self.work, "-e", f"{self.logs}/backends.error.log",
                "-c", config],
            os.path.join(self.logs, "backends.out"))
        for port in self.backend_ports:
            wait_until_accepting(port, self.backends, "nginx backends")
        self.procs.note_children()

    def start_contender(self, name):
        """Starts a balancer; returns (process or None for direct, port clients use)."""
        if name == "direct":
            # No balancer: wrk goes straight to the first backend. The three backends are
            # one nginx worker, so this is the same server work as round robin over them.
            return None, self.backend_ports[0]
        port = self.balancer_port[name]
        if name == "haproxy":
            config = self.write("haproxy.cfg", haproxy_config(port, self.backend_ports,
                                                              self.nofile))
            argv = ["haproxy", "-db", "-f", config]
        elif name == "nginx":
            config = self.write("nginx-stream.conf", nginx_stream_config(
                self.work, self.logs, port, self.backend_ports, self.nofile))
            argv = ["nginx", "-p", self.work, "-e", f"{self.logs}/nginx-stream.error.log",
                    "-c", config]
        else:
            config = self.write("ringlb.toml", ringlb_config(port, self.backend_ports))
            argv = [self.args.ringlb, "--config", config]
        process = self.procs.start(self.taskset(self.args.balancer_cpu) + argv,
                                   os.path.join(self.logs, f"{name}.current.log"))
        wait_until_accepting(port, process, name)
        self.procs.note_children()
        return process, port

    def check_backends(self):
        if self.backends.poll() is not None:
            raise RuntimeError(f"the nginx backends exited ({self.backends.returncode}); see "
                               f"{self.logs}/backends.error.log")

    def run_wrk(self, workload, port, tag, watch_pid=None):
        """Runs wrk against port; returns its output and the peak thread count of watch_pid
        (the balancer: io_uring's io-wq workers come and go) sampled every 0.25 s."""
        spec = WORKLOADS[workload]
        argv = self.taskset(self.args.load_cpu) + [
            "wrk", "-t1", f"-c{spec['connections']}", f"-d{self.args.duration}s",
            "--latency", "--timeout", "2s"]
        if spec["close"]:
            argv += ["-H", "Connection: close"]
        argv.append(f"http://127.0.0.1:{port}{spec['path']}")
        path = os.path.join(self.logs, f"{tag}.wrk.txt")
        command = "$ " + " ".join(argv) + "\n"
        with open(path, "w") as out:
            out.write(command)
        process = self.procs.start(argv, path, mode="ab")
        deadline = time.monotonic() + self.args.duration + 30
        peak = 0
        while process.poll() is None and time.monotonic() < deadline:
            if watch_pid:
                peak = max(peak, tree_threads(watch_pid))
            time.sleep(0.25)
        self.procs.wait(process, 0)
        with open(path, errors="replace") as output:
            return output.read()[len(command):], peak

    def measure(self, workload, round_index, contender):
        tag = f"{workload}-r{round_index + 1}-{contender}"
        record = {"workload": workload, "round": round_index + 1, "contender": contender}
        self.check_backends()
        try:
            process, port = self.start_contender(contender)
        except RuntimeError as error:  # e.g. it exited at start-up: a result, not the end
            record.update({"crashed": True, "start_error": str(error)})
            for process in list(self.procs.live.values()):
                if process is not self.backends:
                    record["exit_status"] = self.procs.stop(process)
            log_path = os.path.join(self.logs, f"{contender}.current.log")
            if os.path.exists(log_path):
                kept = os.path.join(self.logs, f"{tag}.{contender}.log")
                os.replace(log_path, kept)
                record["log_tail"] = tail(kept)
            return record
        pid = process.pid if process else None
        try:
            if workload == "idle":
                record.update(self.measure_idle(pid, port))
            else:
                before = tree_cpu_ticks(pid) if pid else None
                text, peak_threads = self.run_wrk(workload, port, tag, pid)
                time.sleep(0.2)  # let the balancer finish closing what wrk left
                after = tree_cpu_ticks(pid) if pid else None
                try:
                    record["wrk"] = parse_wrk(text)
                except WrkParseError as error:
                    record["wrk"] = None
                    record["wrk_error"] = str(error)
                if pid:
                    record["cpu_s"] = (after - before) / self.args.clk_tck
                    record["threads_peak"] = peak_threads
        finally:
            if process is not None:
                alive = process.poll() is None
                status = self.procs.stop(process)
                record["crashed"] = not alive
                # Exit status: of the crash, or of the SIGTERM stop (0, or -15 for HAProxy,
                # which dies of the signal: a clean shutdown).
                record["exit_status"] = status
                log_path = os.path.join(self.logs, f"{contender}.current.log")
                kept = os.path.join(self.logs, f"{tag}.{contender}.log")
                os.replace(log_path, kept)
                record["log_tail"] = tail(kept)
        return record

    def measure_idle(self, pid, port):
        count = self.args.idle_connections
        deadline = time.monotonic() + max(30.0, count / 100)
        warm, warm_failures, _ = open_idle_connections(port, 1, deadline)
        for sock in warm:
            sock.close()
        time.sleep(0.3)
        rss_before = tree_rss_kib(pid)
        started = time.monotonic()
        sockets, failures, first_error = open_idle_connections(port, count, deadline)
        open_s = time.monotonic() - started
        time.sleep(0.5)
        rss_after = tree_rss_kib(pid)
        # Each connection must still be open: a peek that returns b"" means it was closed.
        closed = 0
        for sock in sockets:
            sock.setblocking(False)
            try:
                if sock.recv(1, socket.MSG_PEEK) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        threads = tree_threads(pid)
        for sock in sockets:
            sock.close()
        opened = len(sockets)
        return {
            "idle": {
                "connections": opened,
                "failures": failures + warm_failures,
                "closed_while_idle": closed,
                "first_error": first_error,
                "open_s": open_s,
                "rss_before_kib": rss_before,
                "rss_after_kib": rss_after,
                "rss_per_connection_kib": (rss_after - rss_before) / opened if opened else None,
                "threads": threads,
            }
        }

    def run(self):
        self.check_ports()
        self.start_backends()
        # Nothing of ours runs now: whatever keeps these CPUs busy is someone else's and
        # skews every figure. Measured before and after, and written into the report.
        cpus = [self.args.balancer_cpu, self.args.load_cpu]
        self.background = {"before": cpu_busy_percent(cpus)}
        if max(v or 0 for v in self.background["before"].values()) > 10:
            log(f"warning: other processes keep the CPUs busy (%): "
                f"{self.background['before']}; the figures may be skewed")
        runs = []
        plan = []
        for workload in self.args.workloads:
            for round_index in range(self.args.rounds):
                for contender in self.args.contenders:
                    if workload == "idle" and contender == "direct":
                        continue
                    plan.append((workload, round_index, contender))
        for number, (workload, round_index, contender) in enumerate(plan, 1):
            record = self.measure(workload, round_index, contender)
            runs.append(record)
            log(f"[{number:2d}/{len(plan)}] {summary(record)}")
            if contender == "direct" and (record.get("wrk") or {}).get("errors", 1):
                log(f"warning: errors with no balancer: the backends themselves fail; see "
                    f"{self.logs}/backends.error.log")
            time.sleep(0.2)
        self.background["after"] = cpu_busy_percent(cpus)
        return runs


def summary(record):
    head = f"{record['workload']:9s} round {record['round']} {record['contender']:7s}"
    if record.get("crashed"):
        head += f" CRASHED (exit {record.get('exit_status')})"
        if record.get("start_error"):
            return head + ": " + record["start_error"]
    elif record.get("exit_status") not in (None, 0, -signal.SIGTERM):
        head += f" (exit status {record['exit_status']} after SIGTERM)"
    if "idle" in record:
        idle = record["idle"]
        per = idle["rss_per_connection_kib"]
        return (head + f" {idle['connections']} idle connections, "
                f"{per:.2f} KiB each, {idle['failures']} failed" if per is not None else head)
    wrk = record.get("wrk")
    if not wrk:
        return head + f" wrk failed: {record.get('wrk_error')}"
    cpu = record.get("cpu_s")
    cpu_text = f", balancer CPU {cpu:.2f} s" if cpu is not None else ""
    return (head + f" {wrk['requests_per_s']:10.0f} req/s "
            f"{wrk['transfer_bytes_per_s'] / 2**20:8.1f} MiB/s "
            f"p99 {wrk['latency_us'].get('99', 0) / 1000:.2f} ms, errors {wrk['errors']}"
            + cpu_text)


def command_output(argv):
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (completed.stdout + completed.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine_info(args):
    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_kib = _status_meminfo("MemTotal")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    commit = command_output(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    dirty = command_output(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"])
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 2**20, 1) if memory_kib else None,
        "haproxy": command_output(["haproxy", "-v"]).splitlines()[0:1],
        "nginx": command_output(["nginx", "-v"]),
        "wrk": command_output(["wrk", "-v"]).splitlines()[0:1],
        "ringlb": command_output([args.ringlb, "--version"]),
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "clk_tck": args.clk_tck,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def _status_meminfo(key):
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench.py run")
    parser.add_argument("--work", required=True, help="scratch directory (configs, www)")
    parser.add_argument("--logs", required=True, help="where wrk outputs and logs go")
    parser.add_argument("--pids-file", required=True)
    parser.add_argument("--results", required=True, help="JSON file to write")
    parser.add_argument("--ringlb", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--idle-connections", type=int, default=4000)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--port-base", type=int, default=19100)
    parser.add_argument("--balancer-cpu", type=int, default=0)
    parser.add_argument("--load-cpu", type=int, default=1)
    parser.add_argument("--clk-tck", type=int, default=os.sysconf("SC_CLK_TCK"))
    parser.add_argument("--command", default="scripts/bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-nice", action="store_true", help="run at the inherited priority")
    parser.add_argument("--realtime", action="store_true",
                        help="note that scripts/bench started this under SCHED_FIFO")
    args = parser.parse_args(argv)
    args.contenders = [c for c in args.contenders.split(",") if c]
    args.workloads = [w for w in args.workloads.split(",") if w]
    for contender in args.contenders:
        if contender not in CONTENDERS:
            parser.error(f"unknown contender {contender!r}; choose from {CONTENDERS}")
    for workload in args.workloads:
        if workload not in WORKLOADS:
            parser.error(f"unknown workload {workload!r}; choose from {tuple(WORKLOADS)}")
    if args.rounds < 1 or args.duration < 1 or args.idle_connections < 1:
        parser.error("--rounds, --duration and --idle-connections must be at least 1")
    return args


def main(argv):
    if not argv or argv[0] != "run":
        print("usage: bench.py run --work DIR --logs DIR --pids-file FILE --results FILE "
              "--ringlb BIN [...]", file=sys.stderr)
        return 2
    args = parse_args(argv[1:])
    # A SIGTERM (scripts/bench's trap forwards it) unwinds through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {args.load_cpu})  # the idle client is load, like wrk
    # Shared machines run other jobs: at nice -20 (inherited by everything started from
    # here, contenders and load alike) the scheduler gives the benchmark ~99% of a CPU
    # that a nice-0 busy loop also wants, instead of half. With autogroup scheduling, nice
    # only counts within a session: a session of our own, its autogroup at -20 too.
    niceness = 0
    scheduler = "SCHED_FIFO 1" if args.realtime else "SCHED_OTHER, nice 0"
    if not args.no_nice and not args.realtime:
        try:
            niceness = os.nice(-20 - os.nice(0))
            scheduler = f"SCHED_OTHER, nice {niceness}"
            if os.path.exists("/proc/self/autogroup"):
                os.setsid()
                with open("/proc/self/autogroup", "w") as autogroup:
                    autogroup.write(str(niceness))
                scheduler += ", in an autogroup of its own at the same nice"
        except OSError as error:
            log(f"cannot raise priority ({error}): other jobs on the machine may skew results")
    started = datetime.datetime.now(datetime.timezone.utc)
    bench = Bench(args)
    try:
        runs = bench.run()
    finally:
        bench.procs.stop_all()
    results = {
        "settings": {
            "rounds": args.rounds, "duration_s": args.duration,
            "idle_connections": args.idle_connections, "contenders": args.contenders,
            "workloads": args.workloads, "balancer_cpu": args.balancer_cpu,
            "load_cpu": args.load_cpu, "quick": args.quick, "nice": niceness,
            "scheduler": scheduler,
            "ports": {"backends": bench.backend_ports, **bench.balancer_port},
        },
        "command": args.command,
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": round((datetime.datetime.now(datetime.timezone.utc)
                            - started).total_seconds()),
        "machine": machine_info(args),
        "background_cpu_busy_percent": getattr(bench, "background", None),
        "workload_titles": {name: spec["title"] for name, spec in WORKLOADS.items()},
        "runs": runs,
    }
    with open(args.results, "w") as out:
        json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
