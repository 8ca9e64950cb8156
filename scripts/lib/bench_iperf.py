# SPDX-License-Identifier: MIT
"""Parses iperf3's --json output (iperf3 3.12) into numbers: a pure function.

iperf3 writes one JSON object even when the test fails, and may exit 0 all the same: a
failure is an "error" member ("unable to connect to server: Connection refused", "the
server has terminated"), with whatever intervals ran before it. Throughput is taken from
the receiver's side (end.sum_received): what went all the way through the balancer.
"""

import json


class IperfParseError(ValueError):
    """The text is not the JSON of a finished, successful iperf3 test."""


def parse_iperf3(text):
    """Returns the figures of one iperf3 client run as a dict; raises IperfParseError if it
    failed or did not finish.

    Keys: bytes (received), duration_s, bytes_per_s, bits_per_second, retransmits (sender's
    count; None when the kernel does not report it), streams, errors (0)."""
    try:
        report = json.loads(text)
    except ValueError as error:
        first = text.strip().splitlines()[0] if text.strip() else "(no output)"
        raise IperfParseError(f"not iperf3 JSON ({error}): {first}") from None
    if not isinstance(report, dict):
        raise IperfParseError("not iperf3 JSON: not an object")
    if report.get("error"):
        raise IperfParseError(f"iperf3: {report['error']}")
    end = report.get("end") or {}
    received = end.get("sum_received")
    sent = end.get("sum_sent") or {}
    if not received or "bytes" not in received or "seconds" not in received:
        raise IperfParseError("iperf3: no end.sum_received (the test did not finish)")
    seconds = float(received["seconds"])
    if seconds <= 0 or received["bytes"] <= 0:
        raise IperfParseError(f"iperf3: {received['bytes']} bytes in {seconds} s")
    return {
        "bytes": int(received["bytes"]),
        "duration_s": seconds,
        "bytes_per_s": received["bytes"] / seconds,
        "bits_per_second": float(received["bits_per_second"]),
        "retransmits": sent.get("retransmits"),
        "streams": len(end.get("streams") or []),
        "errors": 0,
    }
