# SPDX-License-Identifier: MIT
"""Parses the text that wrk 4.x prints (with --latency) into numbers: a pure function.

wrk prints sizes in binary units (1 KB = 1024 B) and times as us, ms, s, m or h; the
"Socket errors" and "Non-2xx or 3xx responses" lines appear only when they are non-zero.
"""

import re

_TIME_SCALE_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_SIZE_SCALE = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}

_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_TIME = _NUMBER + r"(us|ms|s|m|h)"
_SIZE = _NUMBER + r"(B|KB|MB|GB|TB|PB)"

_SUMMARY = re.compile(r"^\s*(\d+) requests in " + _TIME + r", " + _SIZE + r" read\s*$", re.M)
_REQUESTS_PER_S = re.compile(r"^Requests/sec:\s*" + _NUMBER + r"\s*$", re.M)
_TRANSFER_PER_S = re.compile(r"^Transfer/sec:\s*" + _SIZE + r"\s*$", re.M)
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+" + _TIME + r"\s*$", re.M)
_SOCKET_ERRORS = re.compile(
    r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)\s*$", re.M)
_NON_2XX = re.compile(r"^\s*Non-2xx or 3xx responses: (\d+)\s*$", re.M)
_LATENCY_AVG = re.compile(r"^\s*Latency\s+" + _TIME + r"\s", re.M)


class WrkParseError(ValueError):
    """The text is not the output of a finished wrk run (e.g. it could not connect)."""


def time_to_us(value, unit):
    """Converts a wrk time (a number and one of us, ms, s, m, h) to microseconds."""
    return float(value) * _TIME_SCALE_US[unit]


def size_to_bytes(value, unit):
    """Converts a wrk size (a number and one of B, KB, MB, GB, TB, PB; 1 KB = 1024 B)."""
    return float(value) * _SIZE_SCALE[unit]


def parse_wrk(text):
    """Returns the figures of one wrk run as a dict; raises WrkParseError if it did not finish.

    Keys: requests, duration_s, bytes_read, requests_per_s, transfer_bytes_per_s,
    latency_avg_us (None without the Thread Stats block), latency_us ({"50": us, "75": ...,
    "99": ...}; empty without --latency), socket_errors ({"connect", "read", "write",
    "timeout"}), non_2xx, errors (all socket errors plus non-2xx responses).
    """
    summary = _SUMMARY.search(text)
    requests_per_s = _REQUESTS_PER_S.search(text)
    transfer = _TRANSFER_PER_S.search(text)
    if not (summary and requests_per_s and transfer):
        first = text.strip().splitlines()[0] if text.strip() else "(no output)"
        raise WrkParseError(f"not the output of a finished wrk run: {first}")

    latency_us = {}
    for match in _PERCENTILE.finditer(text):
        key = match.group(1)
        key = key[:-2] if key.endswith(".0") else key
        latency_us[key] = time_to_us(match.group(2), match.group(3))

    socket_errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    errors_match = _SOCKET_ERRORS.search(text)
    if errors_match:
        for name, value in zip(socket_errors, errors_match.groups()):
            socket_errors[name] = int(value)
    non_2xx_match = _NON_2XX.search(text)
    non_2xx = int(non_2xx_match.group(1)) if non_2xx_match else 0
    average = _LATENCY_AVG.search(text)

    return {
        "requests": int(summary.group(1)),
        "duration_s": time_to_us(summary.group(2), summary.group(3)) / 1e6,
        "bytes_read": size_to_bytes(summary.group(4), summary.group(5)),
        "requests_per_s": float(requests_per_s.group(1)),
        "transfer_bytes_per_s": size_to_bytes(transfer.group(1), transfer.group(2)),
        "latency_avg_us": time_to_us(average.group(1), average.group(2)) if average else None,
        "latency_us": latency_us,
        "socket_errors": socket_errors,
        "non_2xx": non_2xx,
        "errors": sum(socket_errors.values()) + non_2xx,
    }
