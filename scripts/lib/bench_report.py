# SPDX-License-Identifier: MIT
"""Turns bench.py's results (JSON) into docs/BENCHMARKS.md and docs/bench/*.png (or, for a
--scaling run, into docs/bench/scaling.md and its charts).

Medians with their spread over the rounds, ratios paired by round, the targets of issue 16
with PASS/FAIL and whether the rounds agree, and gnuplot charts. Python 3 standard library
only; the arithmetic is in bench_stats.py, the charts in bench_charts.py.

Usage: bench_report.py RESULTS.json OUTPUT.md
"""

import json
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_charts import draw_ratio_charts, draw_scaling_charts  # noqa: E402
from bench_load import LABELS, WORKLOADS  # noqa: E402
from bench_stats import (CONTENDER_NAMES, LOAD_BOUND_PERCENT, PEERS,  # noqa: E402
                         evaluate_targets, figures_by_round,
                         inside, paired_ratio, run_figures, summarise)


def fmt(value, digits=2, thousands=False):
    if value is None:
        return "–"
    if thousands:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def fmt_cell(cell, digits=2, thousands=False, with_spread=False):
    """A summary cell: its median, and with_spread its min–max in brackets."""
    if not isinstance(cell, dict):
        return "–"
    text = fmt(cell["median"], digits, thousands)
    if with_spread and cell["n"] > 1:
        text += f" ({fmt(cell['min'], digits, thousands)}–{fmt(cell['max'], digits, thousands)})"
    return text


def fmt_ratio(ratio, bound=1.0):
    if ratio is None:
        return "–"
    text = f"{ratio['median']:.3f} ({ratio['min']:.3f}–{ratio['max']:.3f})"
    return text + (" ≈" if inside(ratio, bound) else "")


def fmt_value(value, unit):
    if value is None:
        return "–"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit in ("µs", "ms", "KiB", "MiB/s"):
        return f"{value:.2f} {unit}"
    if unit == "s":
        return f"{value:.3f} s"
    return f"{value:g}"


def short_version(text):
    """"HAProxy version 2.6.12-1 2026/10/17 - https://…" -> "HAProxy 2.6.12-1"; likewise
    nginx, wrk, redis-benchmark and iperf3."""
    text = " ".join(text) if isinstance(text, list) else (text or "")
    for name, pattern in (("HAProxy", r"HAProxy version (\S+)"), ("nginx", r"nginx/(\S+)"),
                          ("wrk", r"wrk (?:debian/)?(\S+)"),
                          ("redis-benchmark", r"redis-benchmark (\S+)"),
                          ("iperf3", r"iperf (\S+)")):
        match = re.search(pattern, text)
        if match:
            return f"{name} {match.group(1)}"
    return text.strip()


def this_run(results):
    settings, machine = results["settings"], results["machine"]
    lines = [
        f"- command: `{results['command']}`" + (" (quick)" if settings["quick"] else ""),
        f"- date: {results['started']}, {results['elapsed_s']} s in all",
        f"- machine: {machine['nproc']} CPUs ({machine['cpu_model']}), "
        f"{machine['memory_gib']} GiB, Linux {machine['kernel']}, ulimit -n "
        f"{machine['nofile']}, CLK_TCK {machine['clk_tck']}",
        f"- versions: {machine['ringlb']} (commit {machine['commit']}, release build); " +
        "; ".join(short_version(machine.get(tool)) for tool in
                  ("haproxy", "nginx", "wrk", "redis", "iperf3") if machine.get(tool)),
        f"- rounds: {settings['rounds']}, {settings['duration_s']} s per run, "
        f"{settings['idle_connections']} idle connections"
        + ("; redis-benchmark requests per run: " + ", ".join(
            f"pipeline {p}: {n:,}" for p, n in settings["redis_requests"].items())
           if settings.get("redis_requests") else ""),
        f"- CPUs: balancers on {settings['balancer_cpus']}, backends and load on "
        f"{settings['load_cpus']}",
        f"- scheduling of everything the benchmark starts: {settings.get('scheduler')}"
        + (" (RT throttling stalls a saturated CPU ~50 ms a second: p99 is not reliable)"
           if settings.get("scheduler", "").startswith("SCHED_FIFO") else ""),
    ]
    background = results.get("background_cpu_busy_percent")
    if background:
        def busy(sample):
            return ", ".join(f"CPU {cpu} {value}%" for cpu, value in (sample or {}).items())
        noisy = any((v or 0) > 10 for s in background.values() for v in (s or {}).values())
        lines.append(f"- other load (CPU busy with the benchmark idle, 1 s sample): before "
                     f"{busy(background.get('before'))}; after {busy(background.get('after'))}"
                     + (" — **the machine was not quiet**: the whole-machine figures subtract "
                        "other jobs' CPU time (column \"other jobs\"), but those jobs still "
                        "competed for the CPUs" if noisy else ""))
    return lines


def targets_section(targets):
    lines = ["| target | workload | ringlb | better peer | ratio (min–max) | required | result |",
             "|---|---|---:|---:|---:|---|---|"]
    for target in targets:
        peer = (f"{fmt_value(target['reference'], target['unit'])} "
                f"({CONTENDER_NAMES[target['peer']]})" if target["peer"] else "–")
        ratio = target["ratio"]
        ratio_text = (f"{ratio['median']:.3f} ({ratio['min']:.3f}–{ratio['max']:.3f})"
                      if ratio else "–")
        lines.append(f"| {target['title']} | {LABELS.get(target['workload'], '–')} "
                     f"| {fmt_value(target['ringlb'], target['unit'])} | {peer} | {ratio_text} "
                     f"| {target['required']} | **{target['result']}** |")
    passed = sum(1 for t in targets if t["result"].startswith("PASS"))
    spread = sum(1 for t in targets if "inside the spread" in t["result"])
    lines += ["", f"{passed} of {len(targets)} targets pass on the median; for {spread} of "
              "them the rounds disagree (the bound lies inside the min–max of the per-round "
              "ratios), so the verdict is within this machine's noise."]
    bound = [t for t in targets if t.get("load_bound")]
    if bound:
        lines += ["", f"{len(bound)} throughput target(s) are marked load-bound: the CPUs of "
                  f"the backends and load generators were at least {LOAD_BOUND_PERCENT:g} % "
                  "busy behind ringlb and behind the peer (\"load CPUs %\" in Results), so "
                  "they set the rate, and the ratio says which balancer cost the load side "
                  "less per request, not which could relay more. Give the load more CPUs "
                  "(`--load-cpus`) on a larger machine to measure the balancers."]
    return lines


def workload_table(results, summary, workload):
    kind = WORKLOADS[workload]["kind"]
    per = "GiB" if kind == "bulk" else "request"
    suffix = "s_per_gib" if kind == "bulk" else "us_per_request"
    unit = "s" if kind == "bulk" else "µs"
    throughput = "mib_per_s" if kind == "bulk" else "requests_per_s"
    lines = [f"| contender | {'MiB/s' if kind == 'bulk' else 'req/s'} (min–max) "
             f"| {'req/s' if kind == 'bulk' else 'MiB/s'} | p50 ms | p99 ms | errors "
             f"| balancer CPU % | balancer {unit}/{per} | machine CPU % "
             f"| machine {unit}/{per} | excess {unit}/{per} (min–max) | load CPUs % "
             f"| other jobs % | threads |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    digits = 3 if kind == "bulk" else 2
    for contender in results["settings"]["contenders"]:
        row = summary.get((workload, contender, None if contender == "direct" else 1))
        if row is None:
            continue
        other = ("mib_per_s", 1, False) if kind != "bulk" else ("requests_per_s", 0, True)
        errors = row.get("errors")
        lines.append(
            f"| {CONTENDER_NAMES[contender]} "
            f"| {fmt_cell(row.get(throughput), 1, kind != 'bulk', True)} "
            f"| {fmt_cell(row.get(other[0]), other[1], other[2])} "
            f"| {fmt_cell(row.get('p50_ms'))} | {fmt_cell(row.get('p99_ms'))} "
            f"| {'crash/failed' if errors is None else errors} "
            f"| {fmt_cell(row.get('cpu_percent'), 0)} "
            f"| {fmt_cell(row.get('cpu_' + suffix), digits)} "
            f"| {fmt_cell(row.get('machine_percent'), 0)} "
            f"| {fmt_cell(row.get('machine_' + suffix), digits)} "
            f"| {fmt_cell(row.get('excess_' + suffix), digits, with_spread=True)} "
            f"| {fmt_cell(row.get('load_percent'), 0)} "
            f"| {fmt_cell(row.get('foreign_percent'), 0)} "
            f"| {fmt_cell(row.get('threads_peak'), 0)} |")
    return lines


def ratio_lines(by_round, workload, figures):
    """ringlb against each peer, paired by round: "≈" marks a ratio whose min–max holds 1."""
    lines = ["| ringlb ÷ | " + " | ".join(label for _, label in figures) + " |",
             "|---|" + "---:|" * len(figures)]
    for peer in PEERS:
        if (workload, peer, 1) not in by_round:
            continue
        cells = [fmt_ratio(paired_ratio(by_round, (workload, "ringlb", 1), (workload, peer, 1),
                                        name)) for name, _ in figures]
        lines.append(f"| {CONTENDER_NAMES[peer]} | " + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def idle_section(results, summary):
    settings = results["settings"]
    lines = [f"{settings['idle_connections']} connections opened one after another by a Python "
             "client through the balancer, each completing one `GET /` (so it is proxied to a "
             "backend, which keeps it alive), then left idle; RSS (VmRSS, for nginx master + "
             "worker) read before the first and 0.5 s after the last. Growth per connection = "
             "(after − before) / connections. Memory held for connections from start-up (a "
             "preallocated slab) shows in \"before\", not in the growth; kernel socket memory "
             "shows in neither.", "",
             "| contender | RSS before MiB | RSS after MiB | KiB per connection (min–max) "
             "| threads | failed or closed |", "|---|---:|---:|---:|---:|---:|"]
    for contender in settings["contenders"]:
        row = summary.get(("idle", contender, 1))
        if row is None:
            continue
        errors = row.get("errors")
        lines.append(f"| {CONTENDER_NAMES[contender]} | {fmt_cell(row.get('rss_before_mib'), 1)} "
                     f"| {fmt_cell(row.get('rss_after_mib'), 1)} "
                     f"| {fmt_cell(row.get('rss_kib_per_connection'), with_spread=True)} "
                     f"| {fmt_cell(row.get('threads'), 0)} "
                     f"| {'crash' if errors is None else errors} |")
    return lines


def every_run(results, by_round):
    lines = ["| workload | round | contender | req/s | MiB/s | p99 ms | errors | balancer CPU s "
             "| machine CPU s | other jobs CPU s | notes |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for run in results["runs"]:
        figures = run_figures(run)
        machine = run.get("machine") or {}
        notes = []
        if run.get("crashed"):
            notes.append(f"crashed, exit {run.get('exit_status')}")
            if run.get("start_error"):
                notes.append(run["start_error"])
        elif run.get("exit_status") not in (None, 0, -15):  # -15: died of SIGTERM
            notes.append(f"exit status {run['exit_status']} on SIGTERM")
        if run.get("load_error"):
            notes.append(run["load_error"])
        duration = (run.get("load") or {}).get("duration_s")
        if machine.get("foreign_top") and duration and machine["foreign_s"] > 0.25 * duration:
            notes.append("other jobs: " + ", ".join(
                f"{name} {seconds:.1f} s" for name, seconds in machine["foreign_top"]))
        if figures.get("retransmits") is not None:
            notes.append(f"{figures['retransmits']} retransmits")
        if "idle" in run:
            idle = run["idle"]
            if figures.get("rss_kib_per_connection") is not None:
                notes.append(f"{idle['connections']} open, {idle['failures']} failed, "
                             f"{idle['closed_while_idle']} closed while idle, "
                             f"{figures['rss_kib_per_connection']:.2f} KiB each")
            if idle.get("first_error"):
                notes.append(f"first error: {idle['first_error']}")
        if run["contender"] == "ringlb" and run.get("log_tail"):
            notes.append(f"{len(run['log_tail'])} log line(s), see below")
        errors = figures.get("errors")
        lines.append(
            f"| {run['workload']} | {run['round']} | {CONTENDER_NAMES[run['contender']]} "
            f"| {fmt(figures.get('requests_per_s'), thousands=True)} "
            f"| {fmt(figures.get('mib_per_s'), 1)} | {fmt(figures.get('p99_ms'))} "
            f"| {'–' if errors is None else errors} | {fmt(run.get('cpu_s'))} "
            f"| {fmt(machine.get('bench_s'))} | {fmt(machine.get('foreign_s'))} "
            f"| {'; '.join(n for n in notes if n)} |")
    return lines


def ringlb_logs(results):
    lines = []
    runs = [run for run in results["runs"] if run["contender"] == "ringlb" and run.get("log_tail")]
    # The same lines in every run (e.g. the warning about running as root): once.
    distinct = {}
    for run in runs:
        distinct.setdefault(tuple(re.sub(r"^\S+Z ", "", line) for line in run["log_tail"]),
                            []).append(f"{run['workload']} round {run['round']}")
    for text, where in distinct.items():
        lines += ["", f"{len(where)} run(s) ({', '.join(where[:4])}"
                  + (", …" if len(where) > 4 else "") + "), without timestamps:", "```"]
        lines += list(text) + ["```"]
    return lines


def how_measured(results):
    settings = results["settings"]
    ports = settings["ports"]
    return [
        f"- Loopback only. HTTP: one nginx (master + 1 worker per load CPU, access log off) "
        f"serves the three backends on ports {ports.get('http')}: `GET /` returns a 2-byte "
        "body, `GET /big` a 1 MiB file; keep-alive connections never time out. redis: three "
        f"`redis-server` processes (ports {ports.get('redis')}, no persistence). iperf3: three "
        f"`iperf3 --server` (ports {ports.get('iperf3')}).",
        f"- Each balancer runs with `taskset -c {','.join(map(str, settings['balancer_cpus']))}`"
        " and one worker per balancer CPU; the backends and load generators run on CPU "
        f"{','.join(map(str, settings['load_cpus']))}. Every balancer round-robins over the "
        "three backends — except for iperf3, whose control and data connections must meet one "
        "server: there ringlb uses `maglev`, HAProxy `balance source`, nginx `hash "
        "$remote_addr` — and is started afresh for each run.",
        "- direct: the load straight at the first backend. For HTTP the three ports are one "
        "nginx, so this is the same server work; for redis and iperf3 it is one of the three "
        "servers, so direct's machine CPU misses what spreading over three processes costs the "
        "load CPU (a few per cent, the same for every balancer).",
        "- Load: wrk 4 (`--latency`, `-t1`: keep-alive `GET /` over 64 connections; "
        "`Connection: close` over 32; `GET /big` over 8); redis-benchmark (`-c 50`, `-P 1` or "
        "`-P 16`, `-t set` or `-t get`, `--csv`; it takes a request count, not a duration: "
        "the count is what the first balancer answers in the run's duration, measured once "
        "before the rounds, the same for every contender); iperf3 (one stream, `--time` the "
        "run's duration, `--json`). Latency percentiles are the tools' own.",
        "- Balancer CPU: utime + stime of the balancer's processes from `/proc/PID/stat`, before "
        "and after each run (io_uring's io-wq threads are ringlb's and included). Machine CPU: "
        "user + nice + system + irq + softirq of every CPU from `/proc/stat` over the run, less "
        "the CPU time of every process outside the benchmark (other jobs on a shared machine; "
        "their reaped children included); it holds the softirq and kernel-thread work a relay "
        "causes outside its own process. Excess = machine CPU per request (or per GiB) less "
        "direct's in the same round: what the balancer adds to the machine.",
        "- Load CPUs: the busy time of the CPUs the backends and load generators run on "
        "(`/proc/stat`, per CPU; other jobs on them included), as a share of those CPUs "
        "(load CPUs %) and per request or GiB (load CPUs/request, in the ratios). Near 100 % "
        "the load side, not the balancer, sets req/s and MiB/s: a balancer then wins "
        "throughput only by costing the load side less per request (fewer wake-ups, fuller "
        "segments), which is what its load CPUs/request ratio shows.",
        "- Ratios are paired by round (ringlb's round N against the peer's round N), and shown "
        "as median (min–max). ≈ marks a ratio whose min–max holds 1: the rounds disagree on "
        "which is better, so the difference is inside the spread. The contenders' order "
        "rotates every round (direct always first).",
        "- Everything the benchmark starts runs at nice -20 in a session (autogroup) of its "
        "own, so that other jobs on a shared machine take little from it (`--no-nice` turns "
        "this off; `--realtime` uses SCHED_FIFO instead).",
    ]


def markdown(results, by_round, summary, targets, charts, chart_prefix):
    settings = results["settings"]
    lines = ["<!-- SPDX-License-Identifier: MIT -->",
             "<!-- Generated by scripts/bench (scripts/lib/bench_report.py): do not edit by "
             "hand above the marker near the end. -->",
             "# ringlb benchmarks", "",
             "ringlb against HAProxy, nginx `stream` and no balancer at all, on loopback, each "
             "balancer with one worker on its own CPU, driven by wrk, redis-benchmark and "
             f"iperf3. Figures are medians over {settings['rounds']} round(s) of "
             f"{settings['duration_s']} s, with the min–max over the rounds in brackets. "
             "Regenerate with `scripts/bench` (about 15 minutes) or `scripts/bench --quick`.",
             "", "## This run", ""]
    lines += this_run(results)
    lines += ["", "## Targets", "",
              "Each against the better of HAProxy and nginx on that figure; ratio = ringlb / "
              "that peer, paired by round: median (min–max). Why these targets: see \"The "
              "targets, restated\" below.", ""]
    lines += targets_section(targets)
    lines += ["", "## Results", "",
              "Machine CPU is every CPU's busy time less other jobs' (see \"How it is "
              "measured\"); CPU % is per run wall time (100 % = one CPU). Excess is machine "
              "CPU less direct's in the same round. Load CPUs % is how busy the CPUs of the "
              "backends and load generators were (100 % = all of them): near 100 %, they set "
              "the throughput. Errors are the load generator's (socket "
              "errors and non-2xx for wrk; a redis-benchmark or iperf3 run that failed), "
              "summed over the rounds."]
    for workload in settings["workloads"]:
        if WORKLOADS[workload]["tool"] == "idle":
            continue
        kind = WORKLOADS[workload]["kind"]
        lines += ["", f"### {results['workload_titles'][workload]}", ""]
        lines += workload_table(results, summary, workload)
        if kind == "bulk":
            figures = [("mib_per_s", "MiB/s"), ("p99_ms", "p99"),
                       ("cpu_s_per_gib", "balancer CPU/GiB"),
                       ("excess_s_per_gib", "excess machine CPU/GiB"),
                       ("load_s_per_gib", "load CPUs/GiB")]
        else:
            figures = [("requests_per_s", "req/s"), ("p99_ms", "p99"),
                       ("cpu_us_per_request", "balancer CPU/request"),
                       ("excess_us_per_request", "excess machine CPU/request"),
                       ("load_us_per_request", "load CPUs/request")]
        if workload == "iperf3":
            figures = [f for f in figures if f[0] != "p99_ms"]
        ratios = ratio_lines(by_round, workload, figures)
        if ratios:
            lines += [""] + ratios
    if "idle" in settings["workloads"]:
        lines += ["", f"### {results['workload_titles']['idle']}", ""]
        lines += idle_section(results, summary)
    if charts:
        lines += ["", "## Charts (ratio to HAProxy, HAProxy = 1)", ""]
        for name, title in charts:
            lines += [f"![{title}]({chart_prefix}{name}.png)", ""]
    lines += ["", "## Every run", ""] + every_run(results, by_round)
    logs = ringlb_logs(results)
    if logs:
        lines += ["", "### ringlb's log (warn and above)"] + logs
    lines += ["", "## How it is measured", ""] + how_measured(results) + [""]
    return "\n".join(lines)


def scaling_markdown(results, summary, charts, chart_prefix):
    settings = results["settings"]
    counts = settings["worker_counts"]
    balancers = [c for c in settings["contenders"] if c != "direct"]
    lines = ["<!-- SPDX-License-Identifier: MIT -->",
             "<!-- Generated by scripts/bench --scaling (scripts/lib/bench_report.py). -->",
             "# ringlb scaling", "",
             f"Each balancer with 1 to {counts[-1]} workers (ringlb `workers`, HAProxy "
             "`nbthread`, nginx `worker_processes`), one per CPU of "
             f"{settings['balancer_cpus']}; backends and load on {settings['load_cpus']} for "
             "every count. Medians of "
             f"{settings['rounds']} round(s) of {settings['duration_s']} s, min–max in "
             "brackets. How to read it: docs/BENCHMARKS.md, \"Many cores\".", "",
             "## This run", ""]
    lines += this_run(results)
    for workload in settings["workloads"]:
        lines += ["", f"### {results['workload_titles'][workload]}", ""]
        direct = summary.get((workload, "direct", None), {})
        lines.append(f"direct (no balancer): {fmt_cell(direct.get('requests_per_s'), 0, True, True)} "
                     "req/s.")
        lines += ["", "| workers | " + " | ".join(
            f"{CONTENDER_NAMES[c]} req/s | {CONTENDER_NAMES[c]} CPU µs/req | "
            f"{CONTENDER_NAMES[c]} excess µs/req" for c in balancers) + " |",
            "|---:|" + "---:|" * (3 * len(balancers))]
        for count in counts:
            cells = []
            for contender in balancers:
                row = summary.get((workload, contender, count), {})
                cells += [fmt_cell(row.get("requests_per_s"), 0, True, True),
                          fmt_cell(row.get("cpu_us_per_request")),
                          fmt_cell(row.get("excess_us_per_request"), with_spread=True)]
            lines.append(f"| {count} | " + " | ".join(cells) + " |")
    if charts:
        lines += ["", "## Charts", ""]
        for name, title in charts:
            lines += [f"![{title}]({chart_prefix}{name}.png)", ""]
    lines += ["", "## How it is measured", ""] + how_measured(results) + [""]
    return "\n".join(lines)


# Everything from this line to the end of the report is written by hand (the targets'
# reasons, the log of data-path changes) and survives regeneration.
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
    by_round = figures_by_round(results)
    summary = summarise(by_round)
    out_dir = os.path.dirname(os.path.abspath(output))
    if results["settings"].get("scaling"):
        chart_dir = out_dir
        charts = draw_scaling_charts(results, summary, chart_dir)
        text = scaling_markdown(results, summary, charts, "")
        with open(output, "w") as out:
            out.write(text)
        print(f"bench: wrote {output}", file=sys.stderr)
        return 0
    chart_dir = os.path.join(out_dir, "bench")
    targets = evaluate_targets(by_round, summary)
    charts = draw_ratio_charts(results, by_round, summary, chart_dir)
    history = kept_history(output)
    with open(output, "w") as out:
        out.write(markdown(results, by_round, summary, targets, charts, "bench/"))
        out.write(history)
    print(f"bench: wrote {output}", file=sys.stderr)
    for target in targets:
        ratio = target["ratio"]
        ratio_text = (f"{ratio['median']:.3f} ({ratio['min']:.3f}–{ratio['max']:.3f})"
                      if ratio else "–")
        where = f" [{LABELS[target['workload']]}]" if target["workload"] else ""
        print(f"  {target['result']:26s} {target['title']}{where}: ratio {ratio_text} "
              f"(required {target['required']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
