# SPDX-License-Identifier: MIT
"""The workloads of scripts/bench: what each one runs (wrk, redis-benchmark, iperf3 or the
idle client), the command line of its load generator, and its output turned into the same
figures whatever the tool: a pure module, unit-tested with captured outputs.
"""

from bench_iperf import IperfParseError, parse_iperf3
from bench_redis import RedisParseError, parse_redis_benchmark
from bench_wrk import WrkParseError, parse_wrk

REDIS_CLIENTS = 50

# In running order. "kind" groups them for the targets: small messages, a new connection
# per request, bulk transfer, idle memory. "service" is the backend they need.
WORKLOADS = {
    "keepalive": {"tool": "wrk", "service": "http", "kind": "small", "path": "/",
                  "connections": 64, "close": False,
                  "title": "keep-alive, 2-byte reply, 64 connections"},
    "close": {"tool": "wrk", "service": "http", "kind": "connection", "path": "/",
              "connections": 32, "close": True,
              "title": "new connection per request (Connection: close), 32 connections"},
    "bulk": {"tool": "wrk", "service": "http", "kind": "bulk", "path": "/big",
             "connections": 8, "close": False, "title": "bulk 1 MiB responses, 8 connections"},
    "redis_set_p1": {"tool": "redis", "service": "redis", "kind": "small", "test": "SET",
                     "pipeline": 1,
                     "title": f"redis-benchmark SET, {REDIS_CLIENTS} clients, pipeline 1"},
    "redis_get_p1": {"tool": "redis", "service": "redis", "kind": "small", "test": "GET",
                     "pipeline": 1,
                     "title": f"redis-benchmark GET, {REDIS_CLIENTS} clients, pipeline 1"},
    "redis_set_p16": {"tool": "redis", "service": "redis", "kind": "small", "test": "SET",
                      "pipeline": 16,
                      "title": f"redis-benchmark SET, {REDIS_CLIENTS} clients, pipeline 16"},
    "redis_get_p16": {"tool": "redis", "service": "redis", "kind": "small", "test": "GET",
                      "pipeline": 16,
                      "title": f"redis-benchmark GET, {REDIS_CLIENTS} clients, pipeline 16"},
    "iperf3": {"tool": "iperf3", "service": "iperf3", "kind": "bulk",
               "title": "iperf3, one TCP stream, client to server"},
    "idle": {"tool": "idle", "service": "http", "kind": "idle",
             "title": "idle memory: RSS growth per idle proxied connection"},
}
# Names --workloads also takes for a group.
WORKLOAD_GROUPS = {"redis": ["redis_set_p1", "redis_get_p1", "redis_set_p16", "redis_get_p16"],
                   "wrk": ["keepalive", "close", "bulk"]}
LABELS = {"keepalive": "keep-alive", "close": "new conn/request", "bulk": "bulk 1 MiB",
          "redis_set_p1": "redis SET P1", "redis_get_p1": "redis GET P1",
          "redis_set_p16": "redis SET P16", "redis_get_p16": "redis GET P16",
          "iperf3": "iperf3", "idle": "idle connections"}


class LoadParseError(ValueError):
    """The load generator did not finish its run; the message says what it printed."""


def expand_workloads(names):
    """The workloads a --workloads list names (groups expanded, duplicates dropped), in the
    table's running order; raises ValueError on an unknown name."""
    wanted = set()
    for name in names:
        if name in WORKLOAD_GROUPS:
            wanted.update(WORKLOAD_GROUPS[name])
        elif name in WORKLOADS:
            wanted.add(name)
        else:
            raise ValueError(f"unknown workload {name!r}; choose from "
                             f"{', '.join(list(WORKLOADS) + list(WORKLOAD_GROUPS))}")
    return [name for name in WORKLOADS if name in wanted]


def balancing_of(workload):
    """iperf3's control and data connections must meet one server: hash the client's
    address. Everything else: round robin."""
    return "source" if WORKLOADS[workload]["tool"] == "iperf3" else "roundrobin"


def load_argv(workload, port, duration, threads=1, connections_scale=1, redis_requests=None):
    """The load generator's command line for one run (without the taskset in front)."""
    spec = WORKLOADS[workload]
    if spec["tool"] == "wrk":
        argv = ["wrk", f"-t{threads}", f"-c{spec['connections'] * connections_scale}",
                f"-d{duration}s", "--latency", "--timeout", "2s"]
        if spec["close"]:
            argv += ["-H", "Connection: close"]
        return argv + [f"http://127.0.0.1:{port}{spec['path']}"]
    if spec["tool"] == "redis":
        argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                "-c", str(REDIS_CLIENTS * connections_scale), "-n", str(redis_requests),
                "-P", str(spec["pipeline"]), "-t", spec["test"].lower(), "--csv"]
        return argv + (["--threads", str(threads)] if threads > 1 else [])
    if spec["tool"] == "iperf3":
        return ["iperf3", "--client", "127.0.0.1", "--port", str(port), "--time",
                str(duration), "--json", "--connect-timeout", "2000"]
    raise ValueError(f"{workload} has no load generator")


def parse_load(workload, stdout, stderr="", redis_requests=None):
    """The figures of one load run, the same keys for every tool (None where the tool does
    not measure it): requests, duration_s, bytes, requests_per_s, bytes_per_s, latency_us
    ({"50": us, "99": us, ...}), errors, retransmits, and "tool": the tool's own parse.
    Raises LoadParseError if the run did not finish."""
    tool = WORKLOADS[workload]["tool"]
    try:
        if tool == "wrk":
            wrk = parse_wrk(stdout)
            return {"requests": wrk["requests"], "duration_s": wrk["duration_s"],
                    "bytes": wrk["bytes_read"], "requests_per_s": wrk["requests_per_s"],
                    "bytes_per_s": wrk["transfer_bytes_per_s"],
                    "latency_us": wrk["latency_us"], "errors": wrk["errors"],
                    "retransmits": None, "tool": wrk}
        if tool == "redis":
            redis = parse_redis_benchmark(stdout, WORKLOADS[workload]["test"], redis_requests,
                                          stderr)
            return {"requests": redis["requests"], "duration_s": redis["duration_s"],
                    "bytes": None, "requests_per_s": redis["requests_per_s"],
                    "bytes_per_s": None, "latency_us": redis["latency_us"],
                    "errors": redis["errors"], "retransmits": None, "tool": redis}
        if tool == "iperf3":
            iperf = parse_iperf3(stdout)
            return {"requests": None, "duration_s": iperf["duration_s"],
                    "bytes": iperf["bytes"], "requests_per_s": None,
                    "bytes_per_s": iperf["bytes_per_s"], "latency_us": {},
                    "errors": iperf["errors"], "retransmits": iperf["retransmits"],
                    "tool": iperf}
    except (WrkParseError, RedisParseError, IperfParseError) as error:
        raise LoadParseError(str(error)) from None
    raise ValueError(f"{workload} has no load generator")
