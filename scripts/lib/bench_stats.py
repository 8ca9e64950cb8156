# SPDX-License-Identifier: MIT
"""The arithmetic of scripts/bench's report: each run's figures, the excess over "direct",
medians with their spread (min–max over the rounds), paired ratios and the targets.

A pure module (unit-tested): it reads bench.py's results, never the machine.

Ratios are paired by round: ringlb's round 2 against HAProxy's round 2, which ran a few
seconds apart, so that drift on a shared machine cancels out; the ratio's spread is the
min–max of those per-round ratios. A difference is "inside the spread" when that min–max
range holds the bound (1.0 for a plain comparison, the target's factor for a target).
"""

import statistics

GIB = float(1 << 30)
MIB = float(1 << 20)
PEERS = ("haproxy", "nginx")
CONTENDER_NAMES = {"direct": "direct (no balancer)", "haproxy": "HAProxy",
                   "nginx": "nginx stream", "ringlb": "ringlb"}

# Figures where less is better (for the "better peer" and for the charts' captions).
LOWER_IS_BETTER = {"p50_ms", "p99_ms", "cpu_us_per_request", "cpu_s_per_gib",
                   "machine_us_per_request", "machine_s_per_gib", "excess_us_per_request",
                   "excess_s_per_gib", "rss_kib_per_connection"}


def run_figures(run):
    """The figures of one run (absent where they do not apply or the run failed)."""
    figures = {"errors": None}
    if "idle" in run:
        idle = run["idle"]
        figures.update({
            "rss_kib_per_connection": idle["rss_per_connection_kib"],
            "rss_before_mib": idle["rss_before_kib"] / 1024,
            "rss_after_mib": idle["rss_after_kib"] / 1024,
            "threads": idle["threads"],
            "errors": idle["failures"] + idle["closed_while_idle"],
        })
    load = run.get("load")
    if load:
        latency = load["latency_us"]
        duration = load["duration_s"]
        requests, size = load["requests"], load["bytes"]
        figures["errors"] = load["errors"]
        if load["requests_per_s"] is not None:
            figures["requests_per_s"] = load["requests_per_s"]
        if load["bytes_per_s"] is not None:
            figures["mib_per_s"] = load["bytes_per_s"] / MIB
        for key in ("50", "99"):
            if key in latency:
                figures[f"p{key}_ms"] = latency[key] / 1000
        if load.get("retransmits") is not None:
            figures["retransmits"] = load["retransmits"]
        cpu = run.get("cpu_s")
        if cpu is not None:
            figures["cpu_percent"] = 100 * cpu / duration
            if requests:
                figures["cpu_us_per_request"] = 1e6 * cpu / requests
            if size:
                figures["cpu_s_per_gib"] = cpu / (size / GIB)
        machine = run.get("machine")
        if machine:
            figures["machine_percent"] = 100 * machine["bench_s"] / duration
            figures["foreign_percent"] = 100 * machine["foreign_s"] / duration
            if requests:
                figures["machine_us_per_request"] = 1e6 * machine["bench_s"] / requests
            if size:
                figures["machine_s_per_gib"] = machine["bench_s"] / (size / GIB)
            if machine.get("load_cpus"):
                # The load side: when its CPUs are all busy, they, not the balancer, set
                # req/s and MiB/s, and what a balancer changes is their cost per request.
                load_s = machine["load_busy_s"]
                if machine.get("load_total_s"):
                    figures["load_percent"] = 100 * load_s / machine["load_total_s"]
                if requests:
                    figures["load_us_per_request"] = 1e6 * load_s / requests
                if size:
                    figures["load_s_per_gib"] = load_s / (size / GIB)
    if run.get("threads_peak"):
        figures["threads_peak"] = run["threads_peak"]
    if run.get("crashed"):
        figures["errors"] = None  # a crash is never "zero errors"
    return figures


def key_of(run):
    """(workload, contender, workers): direct has no workers."""
    return (run["workload"], run["contender"],
            None if run["contender"] == "direct" else run.get("workers", 1))


def figures_by_round(results):
    """{key_of(run): {round: figures}} with the excess over direct added: machine CPU per
    request (and per GiB) less direct's in the same round and workload — the work the
    balancer adds to the machine, in its process, in softirq and in kernel threads."""
    table = {}
    for run in results["runs"]:
        table.setdefault(key_of(run), {})[run["round"]] = run_figures(run)
    for (workload, contender, _), rounds in table.items():
        if contender == "direct":
            continue
        direct = table.get((workload, "direct", None), {})
        for round_number, figures in rounds.items():
            reference = direct.get(round_number, {})
            for name in ("us_per_request", "s_per_gib"):
                mine, base = figures.get(f"machine_{name}"), reference.get(f"machine_{name}")
                if mine is not None and base is not None:
                    figures[f"excess_{name}"] = mine - base
    return table


def spread(values):
    """{"median", "min", "max", "n"} of the values that are not None, or None."""
    values = [value for value in values if value is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def summarise(by_round):
    """{key: {figure: spread}}; "errors" is instead the sum over the rounds (None if any
    round failed outright or crashed), and "rounds" the number of rounds."""
    table = {}
    for key, rounds in by_round.items():
        row = {}
        names = {name for figures in rounds.values() for name in figures}
        for name in names:
            values = [figures.get(name) for figures in rounds.values()]
            if name == "errors":
                row[name] = None if None in values else sum(values)
            else:
                row[name] = spread(values)
        row["rounds"] = len(rounds)
        table[key] = row
    return table


def median_of(summary, key, name):
    cell = summary.get(key, {}).get(name)
    return cell["median"] if isinstance(cell, dict) else None


def paired_ratio(by_round, mine, reference, name):
    """The spread of mine / reference over the rounds both ran, or None. A round whose
    reference is zero or negative (an excess below direct's: noise) has no ratio."""
    ours, theirs = by_round.get(mine, {}), by_round.get(reference, {})
    ratios = []
    for round_number, figures in ours.items():
        a, b = figures.get(name), theirs.get(round_number, {}).get(name)
        if a is not None and b is not None and b > 0:
            ratios.append(a / b)
    return spread(ratios)


def better_peer(summary, workload, name, workers=1):
    """The peer (HAProxy or nginx) with the better median of the figure, or None."""
    best = None
    for peer in PEERS:
        value = median_of(summary, (workload, peer, workers), name)
        if value is None:
            continue
        if best is None or ((value < best[1]) if name in LOWER_IS_BETTER else (value > best[1])):
            best = (peer, value)
    return best[0] if best else None


def inside(ratio, bound):
    """True when the ratio's min–max range holds the bound: the rounds disagree."""
    return ratio is not None and ratio["min"] <= bound <= ratio["max"]


def verdict(ratio, op, bound):
    """PASS or FAIL from the median ratio; ", inside the spread" when some rounds pass and
    others fail; "n/a" without a ratio."""
    if ratio is None:
        return "n/a"
    def meets(value):
        return value >= bound if op == ">=" else value <= bound
    result = "PASS" if meets(ratio["median"]) else "FAIL"
    if meets(ratio["min"]) != meets(ratio["max"]):
        result += ", inside the spread"
    return result


# The targets of issue 16, restated from the measured floor (docs/BENCHMARKS.md says why):
# (group title, workloads, figure, unit, op, factor). Each is met against the better of
# HAProxy and nginx on that figure.
TARGETS = (
    ("small messages: requests/s", ("keepalive", "redis_set_p1", "redis_get_p1",
                                    "redis_set_p16", "redis_get_p16"),
     "requests_per_s", "req/s", ">=", 1.0),
    ("small messages: excess machine CPU per request",
     ("keepalive", "redis_set_p1", "redis_get_p1", "redis_set_p16", "redis_get_p16"),
     "excess_us_per_request", "µs", "<=", 0.9),
    ("new connection per request: excess machine CPU per connection", ("close",),
     "excess_us_per_request", "µs", "<=", 0.9),
    ("bulk: MiB/s", ("bulk", "iperf3"), "mib_per_s", "MiB/s", ">=", 1.2),
    ("bulk: excess machine CPU per GiB", ("bulk", "iperf3"), "excess_s_per_gib", "s", "<=", 0.6),
    ("p99 latency", ("keepalive", "close", "bulk", "redis_set_p1", "redis_get_p1",
                     "redis_set_p16", "redis_get_p16"), "p99_ms", "ms", "<=", 1.0),
    ("idle: RSS per connection", ("idle",), "rss_kib_per_connection", "KiB", "<=", 1.0),
)


# Throughput figures, and how busy the load CPUs must have been behind ringlb and the peer
# (median) for the run to have measured the load side rather than the balancers.
THROUGHPUT = ("requests_per_s", "mib_per_s")
LOAD_BOUND_PERCENT = 90.0


def load_bound(summary, mine, theirs):
    """True when the load CPUs were at least LOAD_BOUND_PERCENT busy behind both: they, not
    the balancers, set the throughput."""
    loads = [median_of(summary, key, "load_percent") for key in (mine, theirs)]
    return all(load is not None and load >= LOAD_BOUND_PERCENT for load in loads)


def evaluate_targets(by_round, summary, workers=1):
    """Every target for every workload of the run, as dicts: title, workload, ringlb and
    reference medians, the peer, the ratio's spread, required, result. Then zero errors."""
    targets = []
    workloads = {key[0] for key in summary}
    for title, names, figure, unit, op, factor in TARGETS:
        for workload in names:
            if workload not in workloads:
                continue
            mine = (workload, "ringlb", workers)
            peer = better_peer(summary, workload, figure, workers)
            ratio = paired_ratio(by_round, mine, (workload, peer, workers), figure) if peer \
                else None
            result = verdict(ratio, op, factor)
            bound = bool(peer and figure in THROUGHPUT
                         and load_bound(summary, mine, (workload, peer, workers)))
            if bound and result != "n/a":
                result += "; load-bound"
            targets.append({
                "title": title, "workload": workload, "figure": figure, "unit": unit,
                "ringlb": median_of(summary, mine, figure),
                "reference": median_of(summary, (workload, peer, workers), figure)
                if peer else None,
                "peer": peer, "ratio": ratio, "op": op, "factor": factor,
                "required": f"{op} {factor:g} × the better peer",
                "load_bound": bound, "result": result})
    ringlb_keys = [key for key in summary if key[1] == "ringlb"]
    if ringlb_keys:
        errors = [summary[key]["errors"] for key in ringlb_keys]
        total = None if None in errors else sum(errors)
        targets.append({
            "title": "zero errors (every ringlb run, every workload)", "workload": None,
            "figure": "errors", "unit": "", "ringlb": total, "reference": None, "peer": None,
            "ratio": None, "op": "=", "factor": 0, "required": "= 0 (and no crash)",
            "result": "PASS" if total == 0 else "FAIL"})
    return targets
