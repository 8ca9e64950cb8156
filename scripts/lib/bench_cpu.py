# SPDX-License-Identifier: MIT
"""Whole-machine CPU for scripts/bench: /proc/stat busy time, less what other jobs used.

A relay makes the kernel work outside its own process (loopback softirq, kernel threads), so
the balancer's utime + stime misses part of its cost. The whole machine's busy time from
/proc/stat does not, but on a shared machine it also holds other people's jobs. Both are
read at the start and the end of each run:

- busy: user + nice + system + irq + softirq of the "cpu" line of /proc/stat (idle, iowait
  and steal are not work done on this machine's behalf; guest time is already in user);
- foreign: utime + stime + cutime + cstime of every user-space process that is not the
  benchmark's (not the runner and not below it), summed over /proc. Adding the children's
  times (cutime, cstime) makes the sum conserved when a process ends: its time moves into
  its parent's cutime when the parent reaps it, so a compiler that started and ended
  inside the run still counts.

The benchmark's machine CPU is busy − foreign: its own processes, the kernel threads and
interrupt work, whoever ran them. The parsers are pure functions (unit-tested with
captured samples); the readers around them only open the files.
"""

import os
import time

# /proc/PID/stat flags: the task is a kernel thread (include/linux/sched.h).
PF_KTHREAD = 0x00200000

# Columns of a "cpu" line of /proc/stat, in order (proc(5)).
STAT_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest",
                "guest_nice")
BUSY_COLUMNS = ("user", "nice", "system", "irq", "softirq")


class ProcStatError(ValueError):
    """The text is not /proc/stat (no "cpu" line)."""


def parse_proc_stat(text):
    """Returns {"cpu": {column: ticks}, "cpu0": {...}, ...} from the text of /proc/stat.

    Older kernels print fewer columns; the missing ones read as 0. Raises ProcStatError if
    the text has no aggregate "cpu" line."""
    cpus = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu"):
            continue
        values = [int(value) for value in rest.split()]
        values += [0] * (len(STAT_COLUMNS) - len(values))
        cpus[name] = dict(zip(STAT_COLUMNS, values))
    if "cpu" not in cpus:
        raise ProcStatError("not /proc/stat: no aggregate cpu line")
    return cpus


def busy_ticks(columns):
    """Ticks of work done: user + nice + system + irq + softirq (guest is inside user)."""
    return sum(columns[name] for name in BUSY_COLUMNS)


def stat_delta(first, second, cpu="cpu"):
    """{"busy", "idle", "iowait", "steal", "total"} ticks between two parsed samples of one
    line ("cpu" is every CPU together; "cpu0" one of them)."""
    a, b = first[cpu], second[cpu]
    busy = busy_ticks(b) - busy_ticks(a)
    idle = b["idle"] - a["idle"]
    iowait = b["iowait"] - a["iowait"]
    steal = b["steal"] - a["steal"]
    return {"busy": busy, "idle": idle, "iowait": iowait, "steal": steal,
            "total": busy + idle + iowait + steal}


def parse_pid_stat(text):
    """(ppid, flags, utime + stime, cutime + cstime) from the text of /proc/PID/stat.

    The command name may hold spaces and parentheses: the fields start after the last ')'.
    Raises ValueError on text that is not a stat line."""
    fields = text[text.rindex(")") + 2:].split()
    # After the name: state(0) ppid(1) pgrp(2) session(3) tty_nr(4) tpgid(5) flags(6)
    # minflt(7) cminflt(8) majflt(9) cmajflt(10) utime(11) stime(12) cutime(13) cstime(14).
    return (int(fields[1]), int(fields[6]), int(fields[11]) + int(fields[12]),
            int(fields[13]) + int(fields[14]))


def parse_pid_name(text):
    """The command name of a /proc/PID/stat line (what is between the first '(' and the
    last ')')."""
    return text[text.index("(") + 1:text.rindex(")")]


def foreign_pids(processes, own_root):
    """The pids of processes ({pid: parse_pid_stat(...)}) that are user-space processes
    neither own_root nor below it."""
    children = {}
    for pid, (ppid, _, _, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    own, pending = {own_root}, [own_root]
    while pending:
        for child in children.get(pending.pop(), []):
            own.add(child)
            pending.append(child)
    return [pid for pid, (_, flags, _, _) in processes.items()
            if pid not in own and not flags & PF_KTHREAD]


def foreign_ticks(processes, own_root):
    """CPU ticks (own plus reaped children's) of every user-space process in processes
    that is neither own_root nor below it, nor a kernel thread."""
    return sum(processes[pid][2] + processes[pid][3] for pid in foreign_pids(processes, own_root))


def top_foreign(before, after, count=3):
    """[(name, ticks)] of the foreign processes that used the most CPU between two
    {pid: (name, own ticks)} readings, most first: a hint of who else ran, not a total
    (a process that started and ended between the readings is not in it)."""
    by_name = {}
    for pid, (name, ticks) in after.items():
        used = ticks - before.get(pid, (name, 0))[1]
        if used > 0:
            by_name[name] = by_name.get(name, 0) + used
    return sorted(by_name.items(), key=lambda item: -item[1])[:count]


# ---------------------------------------------------------------------------------------
# Readers

def read_proc_stat():
    with open("/proc/stat") as stat:
        return parse_proc_stat(stat.read())


def read_processes():
    """({pid: parse_pid_stat(...)}, {pid: name}) of every process /proc lists now (those
    that end while it is read are left out: their time is in their parent's cutime by the
    next read)."""
    processes, names = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
            processes[int(entry)] = parse_pid_stat(text)
            names[int(entry)] = parse_pid_name(text)
        except (OSError, ValueError, IndexError):
            pass
    return processes, names


class MachineSample:
    """One reading of the whole machine: /proc/stat and the foreign processes' ticks.

    The first reading of a run scans the processes before /proc/stat, the last one after
    it, so that the foreign window holds the busy window (the scan takes milliseconds)."""

    def __init__(self, own_root, last=False):
        if not last:
            self._read_foreign(own_root)
        self.stat = read_proc_stat()
        if last:
            self._read_foreign(own_root)

    def _read_foreign(self, own_root):
        processes, names = read_processes()
        pids = foreign_pids(processes, own_root)
        self.foreign = sum(processes[pid][2] + processes[pid][3] for pid in pids)
        self.by_pid = {pid: (names[pid], processes[pid][2]) for pid in pids}


def machine_cpu(before, after, clk_tck, load_cpus=(), load_end=None):
    """The machine's CPU between two MachineSamples, in seconds: {"busy_s", "foreign_s",
    "bench_s" (busy − foreign), "steal_s", "idle_s", "foreign_top": [[name, s]...]}, and
    with load_cpus also "load_busy_s" (the busy time of those CPUs, other jobs included:
    /proc/stat does not say whose), "load_total_s" (their busy and idle time together) and
    "load_cpus" (how many), up to load_end (a parsed /proc/stat read as the load ended, so
    that the settling after it does not count as idle load CPU) or else to after."""
    delta = stat_delta(before.stat, after.stat)
    foreign = after.foreign - before.foreign
    load = {}
    if load_cpus:
        end = load_end or after.stat
        deltas = [stat_delta(before.stat, end, f"cpu{cpu}") for cpu in load_cpus]
        load = {"load_busy_s": sum(d["busy"] for d in deltas) / clk_tck,
                "load_total_s": sum(d["total"] for d in deltas) / clk_tck,
                "load_cpus": len(load_cpus)}
    return load | {
        "busy_s": delta["busy"] / clk_tck,
        "foreign_s": foreign / clk_tck,
        "bench_s": (delta["busy"] - foreign) / clk_tck,
        "steal_s": delta["steal"] / clk_tck,
        "idle_s": (delta["idle"] + delta["iowait"]) / clk_tck,
        "foreign_top": [[name, ticks / clk_tck]
                        for name, ticks in top_foreign(before.by_pid, after.by_pid)],
    }


def cpu_busy_percent(cpus, seconds=1.0):
    """{cpu: per cent busy} of each of cpus over `seconds`, the benchmark idle: what else
    runs on the machine."""
    first = read_proc_stat()
    time.sleep(seconds)
    second = read_proc_stat()
    busy = {}
    for cpu in cpus:
        delta = stat_delta(first, second, f"cpu{cpu}")
        busy[str(cpu)] = round(100.0 * delta["busy"] / delta["total"], 1) if delta["total"] else None
    return busy
