# SPDX-License-Identifier: MIT
"""What the python integration tests (ecmp, stats_page) share: a failure with its reason, a
check, a timestamped log line, and a bounded wait on a state."""
import time

WAIT = 30.0  # default bound of a readiness wait: far above what any of them takes


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print(f"{time.monotonic():10.3f} {message}", flush=True)


def wait_for(what, predicate, timeout=WAIT):
    """predicate()'s first true value, polled every 20 ms; Failure after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
