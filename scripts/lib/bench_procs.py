# SPDX-License-Identifier: MIT
"""Processes for scripts/bench: start, watch and always end them; /proc readers of a process
tree (CPU ticks, RSS, threads); loopback port checks.

Every process started is written to PIDS_FILE (one pid a line) so that scripts/bench's trap
can end them even if the runner dies; the runner also ends them on any exit.
"""

import os
import signal
import socket
import subprocess
import sys
import time

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


def threads_of(pid):
    """Threads of one process now (0 if it is gone)."""
    return _status_value(pid, "Threads")


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

    def start(self, argv, log_path, mode="wb", errors_path=None):
        """Starts argv with its output in log_path (standard error too, unless errors_path
        is given)."""
        with open(log_path, mode) as output:
            if errors_path is None:
                process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                           stderr=subprocess.STDOUT)
            else:
                with open(errors_path, mode) as errors:
                    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output,
                                               stderr=errors)
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


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as text:
            return text.read().splitlines()[-lines:]
    except OSError:
        return []
