# SPDX-License-Identifier: MIT
"""Turns bench.py's results (JSON) into docs/BENCHMARKS.md and docs/bench/*.png.

Medians over the rounds of each contender and workload, the targets of the benchmark issue
with PASS/FAIL computed from those medians, and one gnuplot chart per figure as a ratio to
HAProxy. Python 3 standard library only; gnuplot draws the charts.

Usage: bench_report.py RESULTS.json OUTPUT.md
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

CONTENDER_NAMES = {"direct": "direct (no balancer)", "haproxy": "HAProxy",
                   "nginx": "nginx stream", "ringlb": "ringlb"}
THROUGHPUT_WORKLOADS = ("keepalive", "close", "bulk")
GIB = float(1 << 30)
MIB = float(1 << 20)


def run_figures(run):
    """The figures of one run (None where they do not apply or the run failed)."""
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
    else:
        wrk = run.get("wrk")
        cpu = run.get("cpu_s")
        if wrk:
            latency = wrk["latency_us"]
            figures.update({
                "requests_per_s": wrk["requests_per_s"],
                "mib_per_s": wrk["transfer_bytes_per_s"] / MIB,
                "p50_ms": latency["50"] / 1000 if "50" in latency else None,
                "p99_ms": latency["99"] / 1000 if "99" in latency else None,
                "errors": wrk["errors"],
            })
            if cpu is not None:
                figures["cpu_percent"] = 100 * cpu / wrk["duration_s"]
                if wrk["requests"]:
                    figures["cpu_us_per_request"] = 1e6 * cpu / wrk["requests"]
                if wrk["bytes_read"]:
                    figures["cpu_s_per_gib"] = cpu / (wrk["bytes_read"] / GIB)
        if run.get("threads_peak"):
            figures["threads_peak"] = run["threads_peak"]
    if run.get("crashed"):
        figures["errors"] = None  # a crash is never "zero errors"
    return figures


def medians(results):
    """{(workload, contender): {figure: median}}; "errors" is the sum over the rounds, and
    None if any round failed outright or crashed."""
    grouped = {}
    for run in results["runs"]:
        grouped.setdefault((run["workload"], run["contender"]), []).append(run_figures(run))
    table = {}
    for key, runs in grouped.items():
        row = {}
        names = {name for figures in runs for name in figures}
        for name in names:
            values = [figures.get(name) for figures in runs]
            if name == "errors":
                row[name] = None if None in values else sum(values)
                continue
            values = [value for value in values if value is not None]
            row[name] = statistics.median(values) if values else None
        row["rounds"] = len(runs)
        table[key] = row
    return table


def figure(table, workload, contender, name):
    return table.get((workload, contender), {}).get(name)


def evaluate_targets(table):
    """The targets of the issue, each as a dict with the measured ratio and PASS/FAIL
    (or "n/a" when a contender or figure is missing from the run)."""
    targets = []

    def ratio_target(title, workload, name, reference, op, bound, unit):
        mine = figure(table, workload, "ringlb", name)
        theirs = figure(table, workload, reference, name)
        ratio = mine / theirs if mine is not None and theirs else None
        if ratio is None:
            result = "n/a"
        else:
            result = "PASS" if (ratio >= bound if op == ">=" else ratio <= bound) else "FAIL"
        targets.append({"title": title, "ringlb": mine, "reference": theirs,
                        "reference_name": reference, "unit": unit, "ratio": ratio,
                        "required": f"{op} {bound:g} × {CONTENDER_NAMES[reference]}",
                        "result": result})

    ratio_target("keep-alive: requests/s", "keepalive", "requests_per_s", "direct", ">=", 0.97,
                 "req/s")
    ratio_target("keep-alive: CPU per request", "keepalive", "cpu_us_per_request", "haproxy",
                 "<=", 0.7, "µs")
    ratio_target("new connection per request: requests/s", "close", "requests_per_s",
                 "haproxy", ">=", 1.0, "req/s")
    ratio_target("new connection per request: CPU per connection", "close",
                 "cpu_us_per_request", "haproxy", "<=", 0.8, "µs")
    ratio_target("bulk: MiB/s", "bulk", "mib_per_s", "haproxy", ">=", 1.1, "MiB/s")
    ratio_target("bulk: CPU per GiB", "bulk", "cpu_s_per_gib", "haproxy", "<=", 0.8, "s")
    for workload, label in (("keepalive", "keep-alive"), ("close", "new connection"),
                            ("bulk", "bulk")):
        ratio_target(f"{label}: p99 latency", workload, "p99_ms", "haproxy", "<=", 1.0, "ms")
    ratio_target("idle: RSS per connection", "idle", "rss_kib_per_connection", "haproxy",
                 "<=", 1.0, "KiB")

    ringlb_keys = [key for key in table if key[1] == "ringlb"]
    if ringlb_keys:
        errors = [table[key]["errors"] for key in ringlb_keys]
        total = None if None in errors else sum(errors)
        targets.insert(len(targets) - 1, {
            "title": "zero errors (every ringlb run, every workload)", "ringlb": total,
            "reference": None, "reference_name": None, "unit": "",
            "ratio": None, "required": "= 0 (and no crash)",
            "result": "PASS" if total == 0 else "FAIL"})
    return targets


# ---------------------------------------------------------------------------------------
# Formatting

def fmt(value, digits=2, thousands=False):
    if value is None:
        return "–"
    if thousands:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def fmt_target_value(value, unit):
    if value is None:
        return "–"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "µs":
        return f"{value:.2f} µs"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "":
        return f"{value:g}"
    return f"{value:.2f} {unit}"


def short_version(text):
    """"HAProxy version 2.6.12-1 2026/10/17 - https://…" -> "HAProxy 2.6.12-1"; likewise
    "nginx version: nginx/1.22.1" and "wrk debian/4.1.0-3 [epoll] …"."""
    text = " ".join(text) if isinstance(text, list) else text
    for name, pattern in (("HAProxy", r"HAProxy version (\S+)"), ("nginx", r"nginx/(\S+)"),
                          ("wrk", r"wrk (?:debian/)?(\S+)")):
        match = re.search(pattern, text)
        if match:
            return f"{name} {match.group(1)}"
    return text.strip()


def markdown(results, table, targets, charts):
    settings = results["settings"]
    machine = results["machine"]
    contenders = [c for c in settings["contenders"]]
    lines = []
    add = lines.append
    add("<!-- SPDX-License-Identifier: MIT -->")
    add("<!-- Generated by scripts/bench (scripts/lib/bench_report.py): do not edit by hand. -->")
    add("# ringlb benchmarks")
    add("")
    add("ringlb against HAProxy, nginx `stream` and no balancer at all, on loopback, each "
        "balancer with one worker on its own CPU. Figures are medians over "
        f"{settings['rounds']} round(s) of {settings['duration_s']} s per workload; "
        "the contenders alternate within each round (direct, HAProxy, nginx, ringlb, then "
        "again). Regenerate with `scripts/bench` (about "
        "5 minutes) or `scripts/bench --quick` (about one minute).")
    add("")
    add("## This run")
    add("")
    add(f"- command: `{results['command']}`" + (" (quick)" if settings["quick"] else ""))
    add(f"- date: {results['started']}, {results['elapsed_s']} s in all")
    add(f"- machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, ulimit -n {machine['nofile']}, "
        f"CLK_TCK {machine['clk_tck']}")
    add(f"- versions: {machine['ringlb']} (commit {machine['commit']}, release build); "
        f"{short_version(machine['haproxy'])}; {short_version(machine['nginx'])}; "
        f"{short_version(machine['wrk'])}")
    add(f"- rounds: {settings['rounds']}, {settings['duration_s']} s per wrk run, "
        f"{settings['idle_connections']} idle connections")
    background = results.get("background_cpu_busy_percent")
    if background:
        def busy(sample):
            return ", ".join(f"CPU {cpu} {value}%" for cpu, value in (sample or {}).items())
        add(f"- scheduling of everything the benchmark starts: "
            f"{settings.get('scheduler', 'SCHED_OTHER')}"
            + (" (RT throttling stalls a saturated CPU ~50 ms a second: p99 is not reliable)"
               if settings.get("scheduler", "").startswith("SCHED_FIFO") else ""))
        add(f"- other load (CPU busy with the benchmark idle, 1 s sample): before "
            f"{busy(background.get('before'))}; after {busy(background.get('after'))}"
            + (" — **the machine was not quiet: treat these figures with care**"
               if any((v or 0) > 10 for s in background.values() for v in (s or {}).values())
               else ""))
    add("")
    add("## Targets")
    add("")
    add("Computed from the medians below; ratio = ringlb / reference.")
    add("")
    add("| target | ringlb | reference | ratio | required | result |")
    add("|---|---:|---:|---:|---|---|")
    for target in targets:
        reference = fmt_target_value(target["reference"], target["unit"])
        ratio = f"{target['ratio']:.3f}" if target["ratio"] is not None else "–"
        result = f"**{target['result']}**"
        add(f"| {target['title']} | {fmt_target_value(target['ringlb'], target['unit'])} | "
            f"{reference} | {ratio} | {target['required']} | {result} |")
    passed = sum(1 for t in targets if t["result"] == "PASS")
    add("")
    add(f"{passed} of {len(targets)} targets pass.")
    add("")
    add("## Results (medians)")
    add("")
    add("Balancer CPU is utime + stime of the balancer process (for nginx, master and worker) "
        "from `/proc/PID/stat`, read before and after each wrk run: io_uring's io-wq threads "
        "belong to ringlb's process and are included. CPU % is that time over the run's "
        "wall time (100 % = the whole balancer CPU). Threads: the most the balancer's "
        "processes had at once, sampled every 0.25 s. Errors are wrk's socket errors "
        "(connect, read, write, timeout) plus non-2xx responses, summed over the rounds.")
    for workload in THROUGHPUT_WORKLOADS:
        if workload not in settings["workloads"]:
            continue
        add("")
        add(f"### {results['workload_titles'][workload]}")
        add("")
        add("| contender | req/s | MiB/s | p50 ms | p99 ms | errors | balancer CPU % "
            "| CPU µs/request | CPU s/GiB | threads (peak) |")
        add("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for contender in contenders:
            row = table.get((workload, contender))
            if row is None:
                continue
            errors = row.get("errors")
            add(f"| {CONTENDER_NAMES[contender]} "
                f"| {fmt(row.get('requests_per_s'), thousands=True)} "
                f"| {fmt(row.get('mib_per_s'), 1)} | {fmt(row.get('p50_ms'))} "
                f"| {fmt(row.get('p99_ms'))} | {'crash/failed' if errors is None else errors} "
                f"| {fmt(row.get('cpu_percent'), 0)} | {fmt(row.get('cpu_us_per_request'), 2)} "
                f"| {fmt(row.get('cpu_s_per_gib'), 3)} | {fmt(row.get('threads_peak'), 0)} |")
    if "idle" in settings["workloads"]:
        add("")
        add(f"### {results['workload_titles']['idle']}")
        add("")
        add(f"{settings['idle_connections']} connections opened one after another by a Python "
            "client through the balancer, each completing one `GET /` (so it is proxied to a "
            "backend, which keeps it alive), then left idle; RSS (VmRSS, for nginx master + "
            "worker) read before the first and 0.5 s after the last. Growth per connection = "
            "(after − before) / connections. Memory held for connections from start-up (a "
            "preallocated slab) shows in \"before\", not in the growth; kernel socket memory "
            "shows in neither.")
        add("")
        add("| contender | RSS before MiB | RSS after MiB | KiB per connection | threads "
            "| failed or closed |")
        add("|---|---:|---:|---:|---:|---:|")
        for contender in contenders:
            row = table.get(("idle", contender))
            if row is None:
                continue
            errors = row.get("errors")
            add(f"| {CONTENDER_NAMES[contender]} | {fmt(row.get('rss_before_mib'), 1)} "
                f"| {fmt(row.get('rss_after_mib'), 1)} | {fmt(row.get('rss_kib_per_connection'))} "
                f"| {fmt(row.get('threads'), 0)} | {'crash' if errors is None else errors} |")
    if charts:
        add("")
        add("## Charts (ratio to HAProxy, HAProxy = 1)")
        add("")
        for name, title in charts:
            add(f"![{title}](bench/{name}.png)")
            add("")
    add("")
    add("## Every run")
    add("")
    add("| workload | round | contender | req/s | MiB/s | p50 ms | p99 ms | errors "
        "| balancer CPU s | notes |")
    add("|---|---:|---|---:|---:|---:|---:|---:|---:|---|")
    for run in results["runs"]:
        figures = run_figures(run)
        notes = []
        if run.get("crashed"):
            notes.append(f"crashed, exit {run.get('exit_status')}")
            if run.get("start_error"):
                notes.append(run["start_error"])
        elif run.get("exit_status") not in (None, 0, -15):  # -15: died of SIGTERM
            notes.append(f"exit status {run['exit_status']} on SIGTERM")
        if run.get("wrk_error"):
            notes.append(run["wrk_error"])
        if "idle" in run:
            idle = run["idle"]
            notes.append(f"{idle['connections']} open, {idle['failures']} failed, "
                         f"{idle['closed_while_idle']} closed while idle, "
                         f"{figures['rss_kib_per_connection']:.2f} KiB each"
                         if figures.get("rss_kib_per_connection") is not None else "")
            if idle.get("first_error"):
                notes.append(f"first error: {idle['first_error']}")
        if run["contender"] == "ringlb" and run.get("log_tail"):
            notes.append(f"{len(run['log_tail'])} log line(s), see below")
        errors = figures.get("errors")
        add(f"| {run['workload']} | {run['round']} | {CONTENDER_NAMES[run['contender']]} "
            f"| {fmt(figures.get('requests_per_s'), thousands=True)} "
            f"| {fmt(figures.get('mib_per_s'), 1)} | {fmt(figures.get('p50_ms'))} "
            f"| {fmt(figures.get('p99_ms'))} | {'–' if errors is None else errors} "
            f"| {fmt(run.get('cpu_s'))} | {'; '.join(n for n in notes if n)} |")
    ringlb_logs = [run for run in results["runs"]
                   if run["contender"] == "ringlb" and run.get("log_tail")]
    if ringlb_logs:
        add("")
        add("### ringlb's log (warn and above)")
        for run in ringlb_logs:
            add("")
            add(f"{run['workload']}, round {run['round']}:")
            add("```")
            lines.extend(run["log_tail"])
            add("```")
    add("")
    add("## How it is measured")
    add("")
    add(f"- Loopback only. One nginx process (master + 1 worker, `daemon off`, access log off) "
        f"serves the three backends on ports {settings['ports']['backends']}: `GET /` returns "
        "a 2-byte body, `GET /big` a 1 MiB file; keep-alive connections never time out "
        "(`keepalive_timeout 600s`, unlimited `keepalive_requests`).")
    add(f"- Each balancer runs with `taskset -c {settings['balancer_cpu']}` and one worker; "
        f"the backends, wrk (`-t1`) and the idle client run on CPU {settings['load_cpu']}. "
        "Every balancer round-robins over the three backends and is started afresh for each "
        "run, so no run inherits another's state.")
    add("- direct: wrk straight at the first backend port. The three backend ports are one "
        "nginx worker, so this is the same server work as round robin over them.")
    add("- HAProxy: `mode tcp`, `balance roundrobin`, `option splice-auto`, `nbthread 1`, "
        "`maxconn` as high as `ulimit -n` allows, no logging. nginx: `stream` module "
        "(`load_module` from libnginx-mod-stream), `worker_processes 1`, "
        "`worker_connections` and `worker_rlimit_nofile` from `ulimit -n`, `multi_accept on`, "
        "`proxy_pass` to an upstream of the three. ringlb: `workers = 1`, "
        "`log_level = \"warn\"`, no health checks. The exact configurations are in "
        "`scripts/lib/bench.py`.")
    add("- Workloads (wrk 4, `--latency`, `-t1`): keep-alive `GET /` over 64 connections; "
        "`GET /` with `Connection: close` over 32 connections (a new TCP connection per request, "
        "through the balancer to a backend); `GET /big` over 8 connections.")
    add("- wrk's figures are per run; latency percentiles are wrk's (HdrHistogram, "
        "coordinated omission not corrected).")
    add("- wrk and the backends share one CPU, so a balancer that is fast enough leaves that "
        "CPU as the limit: direct shows the ceiling. Near it, requests/s differ little "
        "between balancers and a single round varies by several per cent (see every run "
        "above); the balancer's CPU per request or per GiB, and its CPU %, are the sharper "
        "comparison.")
    add("- Everything the benchmark starts runs at nice -20 in a session (autogroup) of its "
        "own, so that other jobs on a shared machine take little from it (`--no-nice` turns "
        "this off; `--realtime` uses SCHED_FIFO instead). The CPU load seen before and after "
        "the run is written above.")
    add("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Charts

CHARTS = (
    ("requests_per_s", "requests/s (higher is better)", THROUGHPUT_WORKLOADS),
    ("mib_per_s", "MiB/s (higher is better)", THROUGHPUT_WORKLOADS),
    ("p50_ms", "p50 latency (lower is better)", THROUGHPUT_WORKLOADS),
    ("p99_ms", "p99 latency (lower is better)", THROUGHPUT_WORKLOADS),
    ("cpu_us_per_request", "balancer CPU per request (lower is better)", THROUGHPUT_WORKLOADS),
    ("cpu_s_per_gib", "balancer CPU per GiB (lower is better)", THROUGHPUT_WORKLOADS),
    ("rss_kib_per_connection", "RSS per idle connection (lower is better)", ("idle",)),
)
WORKLOAD_LABELS = {"keepalive": "keep-alive", "close": "new conn/request", "bulk": "bulk 1 MiB",
                   "idle": "idle connections"}
CONTENDER_COLOURS = {"direct": "#9a9a9a", "haproxy": "#4e79a7", "nginx": "#59a14f",
                     "ringlb": "#f28e2b"}  # the same in every chart


def draw_charts(results, table, chart_dir):
    """Writes one PNG per figure into chart_dir; returns [(name, title)] of those drawn."""
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench: gnuplot not found: no charts", file=sys.stderr)
        return []
    os.makedirs(chart_dir, exist_ok=True)
    contenders = results["settings"]["contenders"]
    drawn = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, title, workloads in CHARTS:
            workloads = [w for w in workloads if w in results["settings"]["workloads"]]
            if not workloads or "haproxy" not in contenders:
                continue
            shown = [c for c in contenders
                     if any(figure(table, w, c, name) is not None for w in workloads)]
            rows = []
            for workload in workloads:
                reference = figure(table, workload, "haproxy", name)
                cells = []
                for contender in shown:
                    value = figure(table, workload, contender, name)
                    cells.append(f"{value / reference:.4f}"
                                 if value is not None and reference else "-")
                rows.append(f'"{WORKLOAD_LABELS[workload]}" ' + " ".join(cells))
            if not shown or all(set(row.split()[-len(shown):]) == {"-"} for row in rows):
                continue
            data = os.path.join(scratch, f"{name}.dat")
            with open(data, "w") as out:
                out.write("\n".join(rows) + "\n")
            count = len(shown)
            bars = [f"'{data}' using {i + 2}:xtic(1) title '{CONTENDER_NAMES[c]}' "
                    f"lc rgb '{CONTENDER_COLOURS[c]}'" for i, c in enumerate(shown)]
            # Clustered boxes (gap 1) sit at cluster + (i - (count - 1) / 2) / (count + 1).
            labels = [f"'{data}' using ($0 + {(i - (count - 1) / 2) / (count + 1):.4f}):"
                      f"{i + 2}:(sprintf('%.2f', ${i + 2})) with labels offset 0,0.6 "
                      "font 'sans,8' notitle" for i in range(count)]
            plots = ", ".join(bars + labels)
            script = f"""
set terminal pngcairo size 760,400 font "sans,10"
set output '{os.path.join(chart_dir, name + ".png")}'
set title "{title}: ratio to HAProxy"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set grid ytics
set key outside right top
set ylabel "ratio to HAProxy"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5
plot {plots}
"""
            completed = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
            if completed.returncode != 0:
                print(f"bench: gnuplot failed for {name}: {completed.stderr}", file=sys.stderr)
                continue
            drawn.append((name, f"{title}: ratio to HAProxy"))
    return drawn


# Everything from this line to the end of the report is written by hand (the log of
# data-path changes with their before/after figures) and survives regeneration.
HISTORY_MARKER = "<!-- Hand-written below this line: kept by scripts/bench. -->"


def kept_history(output):
    """The hand-written tail of an existing report (from HISTORY_MARKER on), or ''."""
    try:
        with open(output) as existing:
            text = existing.read()
    except OSError:
        return ""
    at = text.find(HISTORY_MARKER)
    return "" if at < 0 else "\n" + text[at:]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    results_path, output = argv
    with open(results_path) as source:
        results = json.load(source)
    table = medians(results)
    targets = evaluate_targets(table)
    charts = draw_charts(results, table, os.path.join(os.path.dirname(output) or ".", "bench"))
    history = kept_history(output)
    with open(output, "w") as out:
        out.write(markdown(results, table, targets, charts))
        out.write(history)
    print(f"bench: wrote {output}", file=sys.stderr)
    for target in targets:
        ratio = f"{target['ratio']:.3f}" if target["ratio"] is not None else "–"
        print(f"  {target['result']:4s}  {target['title']}: ratio {ratio} "
              f"(required {target['required']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
