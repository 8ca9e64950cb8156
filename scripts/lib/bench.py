# SPDX-License-Identifier: MIT
"""Runs scripts/bench's measurements: backends, contenders and workloads on loopback.

`bench.py run` starts the backends once (nginx for HTTP, three redis-server, three iperf3
servers: whichever the workloads need), then for every workload and round starts each
contender afresh (direct first, then HAProxy, nginx stream and ringlb in an order that
rotates every round), measures it, stops it, and writes every run's figures to a JSON file
that bench_report.py turns into docs/BENCHMARKS.md. With --scaling it does the same for each
worker count (1, 2, 4, ... up to half the CPUs), the load always on the other half, and
bench_report.py writes the scaling report. Python 3 standard library only.
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
from bench_configs import (haproxy_config, http_backend_config, iperf3_server_argv,  # noqa: E402
                           nginx_stream_config, redis_argv, ringlb_config)
from bench_cpu import (MachineSample, cpu_busy_percent, machine_cpu,  # noqa: E402
                       read_proc_stat)
from bench_idle import open_idle_connections  # noqa: E402
from bench_load import (WORKLOADS, LoadParseError, balancing_of, expand_workloads,  # noqa: E402
                        load_argv, parse_load)
from bench_procs import (Processes, descendants, log, port_is_free, tail,  # noqa: E402
                         threads_of, tree_cpu_ticks, tree_rss_kib, tree_threads,
                         wait_until_accepting)

CONTENDERS = ("direct", "haproxy", "nginx", "ringlb")
BIG_FILE_BYTES = 1 << 20
SCALING_WORKLOADS = ("keepalive", "close", "bulk")


# Without --load-cpus the load side gets up to this many CPUs besides the balancers': on
# two CPUs the one left over, which every balancer keeps busy (docs/BENCHMARKS.md, "Load
# CPUs"); on a larger machine enough that one balancer CPU, not the load, sets the rate
# (on keep-alive here the load side spends 20-24 µs of CPU per request, a balancer 13-25).
MAX_LOAD_CPUS = 3


def cpu_plan(cpus, balancer=None, load=None):
    """(balancer CPUs, load CPUs) of a run that is not --scaling, on these CPUs: the ones
    asked for, else the first CPU for the balancers and up to MAX_LOAD_CPUS of the rest for
    the load. Raises ValueError for a CPU outside cpus, one on both sides, or a side without
    any."""
    cpus = sorted(cpus)
    balancer = list(balancer) if balancer else cpus[:1]
    load = list(load) if load else [cpu for cpu in cpus if cpu not in balancer][:MAX_LOAD_CPUS]
    outside = sorted(set(balancer + load) - set(cpus))
    if outside:
        raise ValueError(f"CPU {','.join(map(str, outside))} is not one this benchmark may run "
                         f"on ({','.join(map(str, cpus))})")
    both = sorted(set(balancer) & set(load))
    if both:
        raise ValueError(f"CPU {','.join(map(str, both))} is given to the balancers and the "
                         "load: they must not share a CPU")
    if not load:
        raise ValueError(f"{len(cpus)} CPU(s): the balancers and the load need one each at "
                         "least")
    return balancer, load


def scaling_plan(cpus):
    """(worker counts, balancer CPUs, load CPUs) for --scaling on these CPUs: 1, 2, 4, ... up
    to half of them (and half itself), the balancers on the first half, the load always on
    the second, so that the load's capacity is the same for every count. Raises ValueError
    when fewer than 4 CPUs leave nothing to scale."""
    cpus = sorted(cpus)
    half = len(cpus) // 2
    if half < 2:
        raise ValueError(f"{len(cpus)} CPUs: scaling needs at least 4 (1 and 2 workers, the "
                         "load on as many CPUs again)")
    counts, count = [], 1
    while count <= half:
        counts.append(count)
        count *= 2
    if counts[-1] != half:
        counts.append(half)
    return counts, cpus[:half], cpus[half:]


def rotated(contenders, round_index):
    """direct first, then the balancers in an order that moves by one every round, so that
    none is always the one that runs after another's TIME_WAIT sockets and warm caches."""
    balancers = [c for c in contenders if c != "direct"]
    if balancers:
        shift = round_index % len(balancers)
        balancers = balancers[shift:] + balancers[:shift]
    return (["direct"] if "direct" in contenders else []) + balancers


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.logs = args.logs
        os.makedirs(self.logs, exist_ok=True)
        os.makedirs(os.path.join(self.work, "tmp"), exist_ok=True)
        self.procs = Processes(args.pids_file)
        base = args.port_base
        self.service_ports = {"http": [base + 1, base + 2, base + 3],
                              "redis": [base + 4, base + 5, base + 6],
                              "iperf3": [base + 7, base + 8, base + 9]}
        self.balancer_port = {"haproxy": base + 10, "nginx": base + 11, "ringlb": base + 12}
        self.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.services = {}  # name -> [processes]
        self.redis_requests = {}  # pipeline -> requests per redis-benchmark run
        self.background = None
        self.own_root = os.getpid()

    def taskset(self, cpus):
        return ["taskset", "-c", ",".join(str(cpu) for cpu in cpus)]

    def backend_prefix(self):
        """How backends start: on the load CPUs and, with --realtime, one SCHED_FIFO level
        above the load generators. At the same level a generator that polls without
        blocking (redis-benchmark does while its replies are late) never yields the CPU to
        the servers it waits for: FIFO does not share a CPU between equals."""
        realtime = ["chrt", "-f", "2"] if self.args.realtime else []
        return self.taskset(self.args.load_cpus) + realtime

    def needed_services(self):
        return sorted({WORKLOADS[w]["service"] for w in self.args.workloads})

    def check_ports(self):
        ports = list(self.balancer_port.values())
        for service in self.needed_services():
            ports += self.service_ports[service]
        busy = [port for port in ports if not port_is_free(port)]
        if busy:
            raise RuntimeError(f"ports in use on 127.0.0.1: {busy}; choose --port-base")

    def write(self, name, text):
        path = os.path.join(self.work, name)
        with open(path, "w") as out:
            out.write(text)
        return path

    # -- backends --------------------------------------------------------------------------

    def start_services(self):
        # nginx's workers and redis drop nothing, but nginx's workers run as www-data: the
        # files they serve must be readable, and mktemp -d made the scratch directory 0700.
        os.chmod(self.work, 0o755)
        load = self.backend_prefix()
        for service in self.needed_services():
            ports = self.service_ports[service]
            if service == "http":
                www = os.path.join(self.work, "www")
                os.makedirs(www, mode=0o755, exist_ok=True)
                with open(os.path.join(www, "big"), "wb") as big:
                    big.write(os.urandom(BIG_FILE_BYTES))
                os.chmod(os.path.join(www, "big"), 0o644)
                config = self.write("backends.conf", http_backend_config(
                    self.work, self.logs, ports, self.nofile, self.args.load_cpus))
                processes = [self.procs.start(
                    load + ["nginx", "-p", self.work, "-e", f"{self.logs}/backends.error.log",
                            "-c", config], os.path.join(self.logs, "backends.out"))] * 3
            elif service == "redis":
                processes = [self.procs.start(load + redis_argv(port, self.work, self.logs),
                                              os.path.join(self.logs, f"redis-{port}.out"))
                             for port in ports]
            else:
                processes = [self.procs.start(load + iperf3_server_argv(port),
                                              os.path.join(self.logs, f"iperf3-{port}.log"))
                             for port in ports]
            for port, process in zip(ports, processes):
                wait_until_accepting(port, process, f"{service} backend")
            self.services[service] = processes
        self.procs.note_children()

    def check_services(self):
        for service, processes in self.services.items():
            for process in set(processes):
                if process.poll() is not None:
                    raise RuntimeError(f"a {service} backend exited ({process.returncode}); "
                                       f"see {self.logs}")

    def calibrate_redis(self):
        """Requests per redis-benchmark run, per pipeline depth (redis-benchmark has a
        count, not a duration): what the first balancer of --contenders (direct if there is
        none) answers in --duration seconds, measured once with GET, so that a balancer's
        run lasts about --duration and every contender gets the same count."""
        for port in self.service_ports["redis"]:
            # The key redis-benchmark GETs (and SETs): present on every backend, so that
            # every GET finds a value whichever backend it reaches.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"*3\r\n$3\r\nSET\r\n$16\r\nkey:__rand_int__\r\n$3\r\nxxx\r\n")
                if not sock.recv(16).startswith(b"+OK"):
                    raise RuntimeError(f"redis on port {port} did not take a SET")
        contender = next((c for c in self.args.contenders if c != "direct"), "direct")
        for pipeline in sorted({WORKLOADS[w]["pipeline"] for w in self.args.workloads
                                if WORKLOADS[w]["tool"] == "redis"}):
            workload = "redis_get_p1" if pipeline == 1 else "redis_get_p16"
            trial = 20000 * pipeline
            process, port = self.start_contender(contender, workload,
                                                 self.args.balancer_cpus[:1])
            try:
                argv = self.taskset(self.args.load_cpus) + load_argv(
                    workload, port, self.args.duration, redis_requests=trial)
                completed = subprocess.run(argv, capture_output=True, text=True, timeout=120)
            finally:
                if process is not None:
                    self.procs.stop(process)
                    os.remove(os.path.join(self.logs, f"{contender}.current.log"))
            try:
                rate = parse_load(workload, completed.stdout, completed.stderr,
                                  trial)["requests_per_s"]
            except LoadParseError as error:
                raise RuntimeError(f"redis-benchmark through {contender} failed: {error}") \
                    from None
            requests = max(10000, int(rate * self.args.duration) // 1000 * 1000)
            self.redis_requests[pipeline] = requests
            log(f"redis pipeline {pipeline}: {rate:,.0f} req/s through {contender}, so "
                f"{requests:,} requests per run")

    # -- contenders ------------------------------------------------------------------------

    def start_contender(self, name, workload, cpus):
        """Starts a balancer with len(cpus) workers on cpus; returns (process or None for
        direct, the port clients use)."""
        service_ports = self.service_ports[WORKLOADS[workload]["service"]]
        if name == "direct":
            # No balancer: the load goes straight to the first backend. For HTTP the three
            # ports are one nginx, so this is the same server work as balancing over them.
            return None, service_ports[0]
        port = self.balancer_port[name]
        balancing = balancing_of(workload)
        if name == "haproxy":
            config = self.write("haproxy.cfg", haproxy_config(port, service_ports, self.nofile,
                                                              balancing, cpus))
            argv = ["haproxy", "-db", "-f", config]
        elif name == "nginx":
            config = self.write("nginx-stream.conf", nginx_stream_config(
                self.work, self.logs, port, service_ports, self.nofile, balancing, cpus))
            argv = ["nginx", "-p", self.work, "-e", f"{self.logs}/nginx-stream.error.log",
                    "-c", config]
        else:
            config = self.write("ringlb.toml", ringlb_config(port, service_ports, balancing,
                                                             len(cpus), self.args.batch_wait_us))
            argv = [self.args.ringlb, "--config", config]
        process = self.procs.start(self.taskset(cpus) + argv,
                                   os.path.join(self.logs, f"{name}.current.log"))
        wait_until_accepting(port, process, name)
        self.procs.note_children()
        return process, port

    # -- one run ---------------------------------------------------------------------------

    def run_load(self, workload, port, tag, watch_pids, scale):
        """Runs the workload's load generator against port on the load CPUs; returns (its
        figures or None, the error if it did not finish, the peak thread count of
        watch_pids sampled every 0.25 s: io_uring's io-wq workers come and go)."""
        spec = WORKLOADS[workload]
        requests = self.redis_requests.get(spec.get("pipeline"))
        argv = self.taskset(self.args.load_cpus) + load_argv(
            workload, port, self.args.duration, len(self.args.load_cpus), scale, requests)
        path = os.path.join(self.logs, f"{tag}.{spec['tool']}.txt")
        with open(path + ".command", "w") as out:
            out.write(" ".join(argv) + "\n")
        # wrk and iperf3 stop after --duration; redis-benchmark after its count, which the
        # slowest contender takes several times the direct time to serve (and without a
        # server it spins for ever).
        limit = self.args.duration * (10 if spec["tool"] == "redis" else 1) + 30
        peak = 0
        for attempt in range(3):
            process = self.procs.start(argv, path, errors_path=path + ".stderr")
            deadline = time.monotonic() + limit
            while process.poll() is None and time.monotonic() < deadline:
                if watch_pids:
                    peak = max(peak, sum(threads_of(pid) for pid in watch_pids))
                time.sleep(0.25)
            if process.poll() is None:
                log(f"{spec['tool']} overran {limit} s: stopping it")
            self.procs.stop(process)
            with open(path, errors="replace") as out, open(path + ".stderr",
                                                           errors="replace") as err:
                stdout, stderr = out.read(), err.read()
            try:
                return parse_load(workload, stdout, stderr, requests), None, peak
            except LoadParseError as error:
                # An iperf3 server still closing the readiness probe's connection (the
                # balancer's connect to it) refuses a second test: try again.
                if "busy" not in str(error) or attempt == 2:
                    return None, str(error), peak
                log(f"{tag}: {error}: again in 0.5 s")
                time.sleep(0.5)

    def measure(self, workload, round_index, contender, cpus, scale=1):
        workers = len(cpus) if contender != "direct" else None
        tag = f"{workload}-r{round_index + 1}-{contender}" + (
            f"-w{workers}" if self.args.scaling and workers else "")
        record = {"workload": workload, "round": round_index + 1, "contender": contender,
                  "workers": workers}
        self.check_services()
        try:
            process, port = self.start_contender(contender, workload, cpus)
        except RuntimeError as error:  # e.g. it exited at start-up: a result, not the end
            record.update({"crashed": True, "start_error": str(error)})
            for process in list(self.procs.live.values()):
                if all(process not in group for group in self.services.values()):
                    record["exit_status"] = self.procs.stop(process)
            self.keep_log(contender, tag, record)
            return record
        pid = process.pid if process else None
        try:
            if WORKLOADS[workload]["tool"] == "idle":
                record.update(self.measure_idle(pid, port))
            else:
                watch = [pid] + descendants(pid) if pid else []
                own_before = tree_cpu_ticks(pid) if pid else None
                machine_before = MachineSample(self.own_root)
                load, error, peak_threads = self.run_load(workload, port, tag, watch, scale)
                load_end = read_proc_stat()
                time.sleep(0.2)  # let the balancer finish closing what the load left
                machine_after = MachineSample(self.own_root, last=True)
                own_after = tree_cpu_ticks(pid) if pid else None
                record["load"] = load
                if error:
                    record["load_error"] = error
                record["machine"] = machine_cpu(machine_before, machine_after,
                                                self.args.clk_tck, self.args.load_cpus,
                                                load_end)
                if pid:
                    record["cpu_s"] = (own_after - own_before) / self.args.clk_tck
                    record["threads_peak"] = peak_threads
        finally:
            if process is not None:
                alive = process.poll() is None
                status = self.procs.stop(process)
                record["crashed"] = not alive
                # Exit status: of the crash, or of the SIGTERM stop (0, or -15 for HAProxy,
                # which dies of the signal: a clean shutdown).
                record["exit_status"] = status
                self.keep_log(contender, tag, record)
        return record

    def keep_log(self, contender, tag, record):
        log_path = os.path.join(self.logs, f"{contender}.current.log")
        if os.path.exists(log_path):
            kept = os.path.join(self.logs, f"{tag}.{contender}.log")
            os.replace(log_path, kept)
            record["log_tail"] = tail(kept)

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

    # -- the whole run ---------------------------------------------------------------------

    def plan(self):
        """[(workload, round index, contender, balancer CPUs)] in running order."""
        plan = []
        counts = self.args.worker_counts if self.args.scaling else [len(self.args.balancer_cpus)]
        for workload in self.args.workloads:
            for round_index in range(self.args.rounds):
                for contender in rotated(self.args.contenders, round_index):
                    if contender == "direct":
                        if WORKLOADS[workload]["tool"] != "idle":
                            plan.append((workload, round_index, contender,
                                         self.args.balancer_cpus[:1]))
                        continue
                    for count in counts:
                        plan.append((workload, round_index, contender,
                                     self.args.balancer_cpus[:count]))
        return plan

    def run(self):
        self.check_ports()
        self.start_services()
        if any(WORKLOADS[w]["tool"] == "redis" for w in self.args.workloads):
            self.calibrate_redis()
        # Nothing of ours runs now: whatever keeps these CPUs busy is someone else's and
        # skews every figure. Measured before and after, and written into the report.
        cpus = self.args.balancer_cpus + self.args.load_cpus
        self.background = {"before": cpu_busy_percent(cpus)}
        if max(v or 0 for v in self.background["before"].values()) > 10:
            log(f"warning: other processes keep the CPUs busy (%): "
                f"{self.background['before']}; the whole-machine figures subtract their CPU "
                f"time, but they still compete for the CPUs")
        # In --scaling, the load grows with the largest worker count and stays the same for
        # every count, so that only the balancer changes.
        scale = max(self.args.worker_counts) if self.args.scaling else 1
        runs = []
        plan = self.plan()
        for number, (workload, round_index, contender, cpus) in enumerate(plan, 1):
            record = self.measure(workload, round_index, contender, cpus, scale)
            runs.append(record)
            log(f"[{number:3d}/{len(plan)}] {summary(record)}")
            if contender == "direct" and (record.get("load") or {}).get("errors", 1):
                log(f"warning: errors with no balancer: the backends themselves fail; see "
                    f"{self.logs}")
            time.sleep(0.2)
        self.background["after"] = cpu_busy_percent(cpus)
        return runs


def summary(record):
    head = (f"{record['workload']:13s} round {record['round']} {record['contender']:7s}"
            + (f" ×{record['workers']}" if record.get("workers") else ""))
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
    load = record.get("load")
    if not load:
        return head + f" load failed: {record.get('load_error')}"
    parts = []
    if load["requests_per_s"] is not None:
        parts.append(f"{load['requests_per_s']:10,.0f} req/s")
    if load["bytes_per_s"] is not None:
        parts.append(f"{load['bytes_per_s'] / 2**20:8.1f} MiB/s")
    if "99" in load["latency_us"]:
        parts.append(f"p99 {load['latency_us']['99'] / 1000:.2f} ms")
    parts.append(f"errors {load['errors']}")
    if record.get("cpu_s") is not None:
        parts.append(f"balancer CPU {record['cpu_s']:.2f} s")
    machine = record["machine"]
    parts.append(f"machine {machine['bench_s']:.2f} s (other jobs {machine['foreign_s']:.2f} s)")
    return head + " " + ", ".join(parts)


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
    memory_kib = _meminfo("MemTotal")
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
        "redis": command_output(["redis-benchmark", "--version"]),
        "iperf3": command_output(["iperf3", "--version"]).splitlines()[0:1],
        "ringlb": command_output([args.ringlb, "--version"]),
        "commit": commit + ("+uncommitted changes" if dirty else ""),
        "clk_tck": args.clk_tck,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def _meminfo(key):
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_list(text):
    """CPU numbers from a list such as "0", "1,3" or "1-3,6" (taskset's syntax)."""
    cpus = []
    try:
        for part in (part for part in text.split(",") if part):
            first, _, last = part.partition("-")
            cpus += range(int(first), int(last or first) + 1)
    except ValueError:
        cpus = []
    if not cpus or min(cpus) < 0:
        raise argparse.ArgumentTypeError(f"not a CPU list: {text!r} (say 1 or 1,3 or 1-3)")
    return sorted(set(cpus))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="bench.py run")
    parser.add_argument("--work", required=True, help="scratch directory (configs, www)")
    parser.add_argument("--logs", required=True, help="where load outputs and logs go")
    parser.add_argument("--pids-file", required=True)
    parser.add_argument("--results", required=True, help="JSON file to write")
    parser.add_argument("--ringlb", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--idle-connections", type=int, default=4000)
    parser.add_argument("--batch-wait-us", type=int, default=None,
                        help="ringlb's global.batch_wait_us (default: ringlb's own default)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--workloads", default=None)
    parser.add_argument("--port-base", type=int, default=19100)
    parser.add_argument("--balancer-cpus", type=cpu_list, default=None)
    parser.add_argument("--load-cpus", type=cpu_list, default=None)
    parser.add_argument("--scaling", action="store_true",
                        help="every worker count from 1 to half the CPUs (see scaling_plan)")
    parser.add_argument("--clk-tck", type=int, default=os.sysconf("SC_CLK_TCK"))
    parser.add_argument("--command", default="scripts/bench")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-nice", action="store_true", help="run at the inherited priority")
    parser.add_argument("--realtime", action="store_true",
                        help="note that scripts/bench started this under SCHED_FIFO")
    args = parser.parse_args(argv)
    args.contenders = [c for c in args.contenders.split(",") if c]
    for contender in args.contenders:
        if contender not in CONTENDERS:
            parser.error(f"unknown contender {contender!r}; choose from {CONTENDERS}")
    default = ",".join(SCALING_WORKLOADS[:2] if args.scaling else
                       [w for w in WORKLOADS])
    try:
        args.workloads = expand_workloads([w for w in (args.workloads or default).split(",")
                                           if w])
    except ValueError as error:
        parser.error(str(error))
    if args.scaling:
        if args.balancer_cpus or args.load_cpus:
            parser.error("--scaling places the balancers and the load itself: no "
                         "--balancer-cpus or --load-cpus with it")
        try:
            args.worker_counts, args.balancer_cpus, args.load_cpus = scaling_plan(
                os.sched_getaffinity(0))
        except ValueError as error:
            parser.error(str(error))
        for workload in args.workloads:
            if workload not in SCALING_WORKLOADS:
                parser.error(f"--scaling runs {', '.join(SCALING_WORKLOADS)}, not {workload}")
    else:
        try:
            args.balancer_cpus, args.load_cpus = cpu_plan(
                os.sched_getaffinity(0), args.balancer_cpus, args.load_cpus)
        except ValueError as error:
            parser.error(str(error))
    if args.rounds < 1 or args.duration < 1 or args.idle_connections < 1:
        parser.error("--rounds, --duration and --idle-connections must be at least 1")
    return args


def raise_priority(args):
    """Shared machines run other jobs: at nice -20 (inherited by everything started from
    here, contenders and load alike) the scheduler gives the benchmark ~99% of a CPU that
    a nice-0 busy loop also wants, instead of half. With autogroup scheduling, nice only
    counts within a session: a session of our own, its autogroup at -20 too. Returns
    (niceness, a description of the scheduling)."""
    niceness = 0
    scheduler = ("SCHED_FIFO 1 (backends SCHED_FIFO 2)" if args.realtime
                 else "SCHED_OTHER, nice 0")
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
    return niceness, scheduler


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
    os.sched_setaffinity(0, set(args.load_cpus))  # the idle client is load, like wrk
    niceness, scheduler = raise_priority(args)
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
            "workloads": args.workloads, "balancer_cpus": args.balancer_cpus,
            "load_cpus": args.load_cpus, "quick": args.quick, "nice": niceness,
            "scheduler": scheduler, "scaling": args.scaling,
            "worker_counts": getattr(args, "worker_counts", [len(args.balancer_cpus)]),
            "redis_requests": {str(k): v for k, v in bench.redis_requests.items()},
            "ports": {**bench.service_ports, **bench.balancer_port},
        },
        "command": args.command,
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": round((datetime.datetime.now(datetime.timezone.utc)
                            - started).total_seconds()),
        "machine": machine_info(args),
        "background_cpu_busy_percent": bench.background,
        "workload_titles": {name: spec["title"] for name, spec in WORKLOADS.items()},
        "runs": runs,
    }
    with open(args.results, "w") as out:
        json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
