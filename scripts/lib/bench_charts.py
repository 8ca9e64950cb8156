# SPDX-License-Identifier: MIT
"""Draws scripts/bench's charts with gnuplot: per figure, each contender's ratio to HAProxy
per workload, with the spread of the per-round ratios as error bars; and, for --scaling,
each figure against the worker count."""

import os
import shutil
import subprocess
import sys
import tempfile

from bench_load import LABELS
from bench_stats import CONTENDER_NAMES, median_of, paired_ratio

SMALL = ("keepalive", "close", "redis_set_p1", "redis_get_p1", "redis_set_p16",
         "redis_get_p16")
BYTES = ("bulk", "iperf3")
LATENCY = ("keepalive", "close", "bulk", "redis_set_p1", "redis_get_p1", "redis_set_p16",
           "redis_get_p16")
# (file name and figure, title, workloads). The file name is the figure's name.
CHARTS = (
    ("requests_per_s", "requests/s (higher is better)", SMALL + ("bulk",)),
    ("mib_per_s", "MiB/s (higher is better)", BYTES),
    ("p50_ms", "p50 latency (lower is better)", LATENCY),
    ("p99_ms", "p99 latency (lower is better)", LATENCY),
    ("cpu_us_per_request", "balancer's own CPU per request (lower is better)", SMALL),
    ("excess_us_per_request", "machine CPU per request over direct's (lower is better)", SMALL),
    ("cpu_s_per_gib", "balancer's own CPU per GiB (lower is better)", BYTES),
    ("excess_s_per_gib", "machine CPU per GiB over direct's (lower is better)", BYTES),
    ("rss_kib_per_connection", "RSS per idle connection (lower is better)", ("idle",)),
)
CONTENDER_COLOURS = {"direct": "#9a9a9a", "haproxy": "#4e79a7", "nginx": "#59a14f",
                     "ringlb": "#f28e2b"}  # the same in every chart


def _gnuplot(script):
    gnuplot = shutil.which("gnuplot")
    if gnuplot is None:
        print("bench: gnuplot not found: no charts", file=sys.stderr)
        return False
    completed = subprocess.run([gnuplot], input=script, text=True, capture_output=True)
    if completed.returncode != 0:
        print(f"bench: gnuplot failed: {completed.stderr}", file=sys.stderr)
        return False
    return True


def ratio_rows(by_round, workloads, contenders, name, workers=1):
    """Gnuplot data lines: a workload label, then per contender its median ratio to HAProxy
    and the min and max of the per-round ratios ("-" where missing)."""
    rows = []
    for workload in workloads:
        cells = []
        for contender in contenders:
            workers_of = None if contender == "direct" else workers
            ratio = paired_ratio(by_round, (workload, contender, workers_of),
                                 (workload, "haproxy", workers), name)
            cells.append(" ".join(f"{ratio[k]:.4f}" for k in ("median", "min", "max"))
                         if ratio else "- - -")
        rows.append(f'"{LABELS[workload]}" ' + " ".join(cells))
    return rows


def draw_ratio_charts(results, by_round, summary, chart_dir):
    """One PNG per figure in chart_dir; returns [(file name, title)] of those drawn."""
    contenders = results["settings"]["contenders"]
    if "haproxy" not in contenders:
        return []
    os.makedirs(chart_dir, exist_ok=True)
    drawn = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, title, workloads in CHARTS:
            workloads = [w for w in workloads if w in results["settings"]["workloads"]
                         and median_of(summary, (w, "haproxy", 1), name)]
            shown = [c for c in contenders if any(
                median_of(summary, (w, c, None if c == "direct" else 1), name) is not None
                for w in workloads)]
            if not workloads or not shown:
                continue
            data = os.path.join(scratch, f"{name}.dat")
            with open(data, "w") as out:
                out.write("\n".join(ratio_rows(by_round, workloads, shown, name)) + "\n")
            count = len(shown)
            bars = [f"'{data}' using {3 * i + 2}:{3 * i + 3}:{3 * i + 4}:xtic(1) "
                    f"title '{CONTENDER_NAMES[c]}' lc rgb '{CONTENDER_COLOURS[c]}'"
                    for i, c in enumerate(shown)]
            # Clustered boxes (gap 1) sit at cluster + (i - (count - 1) / 2) / (count + 1).
            labels = [f"'{data}' using ($0 + {(i - (count - 1) / 2) / (count + 1):.4f}):"
                      f"{3 * i + 4}:(sprintf('%.2f', ${3 * i + 2})) with labels offset 0,0.7 "
                      "font 'sans,7' notitle" for i in range(count)]
            width = max(760, 120 * len(workloads) + 260)
            full_title = f"{title}: ratio to HAProxy"
            script = f"""
set terminal pngcairo size {width},420 font "sans,10"
set output '{os.path.join(chart_dir, name + ".png")}'
set title "{full_title}\\n{{/*0.8 bars: median of the rounds; whiskers: min–max}}"
set datafile missing "-"
set style data histograms
set style histogram errorbars gap 1 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set grid ytics
set key outside right top
set ylabel "ratio to HAProxy"
set xtics font "sans,9"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5
plot {", ".join(bars + labels)}
"""
            if _gnuplot(script):
                drawn.append((name, full_title))
    return drawn


SCALING_CHARTS = (
    ("requests_per_s", "requests/s (higher is better)"),
    ("cpu_us_per_request", "balancer's own CPU per request, µs (lower is better)"),
    ("excess_us_per_request", "machine CPU per request over direct's, µs (lower is better)"),
)


def draw_scaling_charts(results, summary, chart_dir):
    """Per workload and figure, a line per contender against the worker count (median,
    min–max as error bars). Returns [(file name, title)]."""
    settings = results["settings"]
    counts = settings["worker_counts"]
    balancers = [c for c in settings["contenders"] if c != "direct"]
    os.makedirs(chart_dir, exist_ok=True)
    drawn = []
    with tempfile.TemporaryDirectory() as scratch:
        for workload in settings["workloads"]:
            for name, title in SCALING_CHARTS:
                plots = []
                for contender in balancers:
                    rows = []
                    for count in counts:
                        cell = summary.get((workload, contender, count), {}).get(name)
                        if isinstance(cell, dict):
                            rows.append(f"{count} {cell['median']:.4f} {cell['min']:.4f} "
                                        f"{cell['max']:.4f}")
                    if not rows:
                        continue
                    data = os.path.join(scratch, f"{workload}-{name}-{contender}.dat")
                    with open(data, "w") as out:
                        out.write("\n".join(rows) + "\n")
                    colour = CONTENDER_COLOURS[contender]
                    plots.append(f"'{data}' using 1:2:3:4 with yerrorlines lw 2 pt 7 "
                                 f"lc rgb '{colour}' title '{CONTENDER_NAMES[contender]}'")
                if not plots:
                    continue
                direct = summary.get((workload, "direct", None), {}).get(name)
                if isinstance(direct, dict):  # the load's ceiling: no balancer at all
                    plots.append(f"{direct['median']:.4f} with lines dt 2 lw 1.5 "
                                 f"lc rgb '{CONTENDER_COLOURS['direct']}' "
                                 "title 'direct (no balancer)'")
                file_name = f"scaling_{workload}_{name}"
                full_title = f"{LABELS[workload]}: {title}"
                script = f"""
set terminal pngcairo size 760,420 font "sans,10"
set output '{os.path.join(chart_dir, file_name + ".png")}'
set title "{full_title}"
set xlabel "workers (balancer CPUs)"
set logscale x 2
set xtics ({", ".join(str(c) for c in counts)})
set yrange [0:*]
set grid
set key outside right top
plot {", ".join(plots)}
"""
                if _gnuplot(script):
                    drawn.append((file_name, full_title))
    return drawn
