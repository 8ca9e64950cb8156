# SPDX-License-Identifier: MIT
"""Parses redis-benchmark's --csv output (redis-tools 7.0) into numbers: a pure function.

One header line, then one line per test it ran, every field quoted:

    "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",...
    "GET","142857.14","0.224","0.080","0.215","0.327","0.431","3.015"

A test that did not finish (the server closed a connection, it could not connect) prints
no line of its own; the reason goes to standard error ("Error: Server closed the
connection"), which the caller passes in for the message.
"""

import csv
import io


class RedisParseError(ValueError):
    """The text is not the output of a finished redis-benchmark test."""


def parse_redis_benchmark(text, test, requests, stderr=""):
    """Returns the figures of one finished test (e.g. "GET") of a redis-benchmark --csv run
    of `requests` requests (its -n) as a dict; raises RedisParseError otherwise.

    Keys: requests, requests_per_s, duration_s (requests / requests_per_s, as
    redis-benchmark computes its rate), latency_avg_us, latency_us ({"0": min, "50",
    "95", "99", "100": max}), errors (0: a test with any error does not finish)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][:2] != ["test", "rps"]:
        raise RedisParseError(f"not redis-benchmark --csv output: {_first_line(text, stderr)}")
    header = rows[0]
    for row in rows[1:]:
        if not row or row[0] != test:
            continue
        if len(row) != len(header):
            raise RedisParseError(f"{test}: {len(row)} fields, the header has {len(header)}")
        values = dict(zip(header, row))
        try:
            rps = float(values["rps"])
            latency_us = {key: 1000 * float(values[field]) for key, field in (
                ("0", "min_latency_ms"), ("50", "p50_latency_ms"), ("95", "p95_latency_ms"),
                ("99", "p99_latency_ms"), ("100", "max_latency_ms"))}
            average = 1000 * float(values["avg_latency_ms"])
        except (KeyError, ValueError) as error:
            raise RedisParseError(f"{test}: unreadable field: {error}") from None
        if rps <= 0:
            raise RedisParseError(f"{test}: {rps} requests per second")
        return {
            "requests": requests,
            "requests_per_s": rps,
            "duration_s": requests / rps,
            "latency_avg_us": average,
            "latency_us": latency_us,
            "errors": 0,
        }
    raise RedisParseError(f"no {test} result (the test did not finish): "
                          f"{_first_line('', stderr)}")


def _first_line(text, stderr):
    for source in (stderr, text):
        lines = [line for line in source.strip().splitlines() if line.strip()]
        if lines:
            return lines[0]
    return "(no output)"
