# SPDX-License-Identifier: MIT
"""Unit test of scripts/bench's wrk-output parser, fed with outputs captured from wrk 4.1."""

import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts", "lib"))
from bench_report import evaluate_targets, medians  # noqa: E402
from bench_wrk import WrkParseError, parse_wrk, size_to_bytes, time_to_us  # noqa: E402

# Keep-alive GET / through ringlb: latencies in ms, sizes in MB, no error lines.
KEEPALIVE = """\
Running 2s test @ http://127.0.0.1:19112/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.27ms    3.29ms  16.83ms   83.78%
    Req/Sec    23.23k     2.84k   29.13k    70.00%
  Latency Distribution
     50%    1.14ms
     75%    5.02ms
     90%    8.65ms
     99%   13.09ms
  46309 requests in 2.01s, 7.20MB read
Requests/sec:  23076.17
Transfer/sec:      3.59MB
"""

# GET /big (1 MiB) straight at nginx: GB totals.
BULK = """\
Running 2s test @ http://127.0.0.1:19101/big
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.39ms    4.13ms  62.27ms   94.75%
    Req/Sec     1.65k   439.87     2.34k    65.00%
  Latency Distribution
     50%    2.28ms
     75%    4.15ms
     90%    6.53ms
     99%   23.31ms
  3338 requests in 2.03s, 3.26GB read
Requests/sec:   1643.63
Transfer/sec:      1.61GB
"""

# Connection: close through HAProxy: transfer in KB.
CLOSE = """\
Running 2s test @ http://127.0.0.1:19110/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.64ms    5.86ms  54.70ms   92.30%
    Req/Sec     4.90k   684.65     6.37k    75.00%
  Latency Distribution
     50%    6.08ms
     75%    9.22ms
     90%   11.30ms
     99%   34.65ms
  9781 requests in 2.00s, 1.47MB read
Requests/sec:   4888.82
Transfer/sec:    754.33KB
"""

# Every response a 404: microsecond latencies and the non-2xx line.
NON_2XX = """\
Running 1s test @ http://127.0.0.1:19201/missing
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   306.43us  300.55us   5.35ms   98.71%
    Req/Sec    50.34k     1.16k   51.56k    60.00%
  Latency Distribution
     50%  294.00us
     75%  351.00us
     90%  404.00us
     99%    1.16ms
  50033 requests in 1.01s, 14.70MB read
  Non-2xx or 3xx responses: 50033
Requests/sec:  49762.59
Transfer/sec:     14.62MB
"""

# A server that closes every other connection without answering: read errors.
READ_ERRORS = """\
Running 2s test @ http://127.0.0.1:19203/
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   440.54us    1.00ms   8.24ms   88.71%
    Req/Sec     5.58k   650.93     7.41k    85.71%
  Latency Distribution
     50%   77.00us
     75%  139.00us
     90%    1.71ms
     99%    4.54ms
  11660 requests in 2.10s, 671.82KB read
  Socket errors: connect 0, read 11661, write 0, timeout 0
Requests/sec:   5549.48
Transfer/sec:    319.75KB
"""

# A server slower than --timeout 1s: only timeouts, latency statistics empty, bytes in B.
TIMEOUTS = """\
Running 4s test @ http://127.0.0.1:19204/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec    33.50     36.52    70.00    100.00%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  24 requests in 4.01s, 0.94KB read
  Socket errors: connect 0, read 0, write 0, timeout 24
Requests/sec:      5.99
Transfer/sec:     239.52B
"""

# A server answering after 1.2 s (--timeout 3s): latencies in seconds, with trailing blanks.
SLOW = """\
Running 4s test @ http://127.0.0.1:19205/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20s     5.28ms   1.22s    83.33%
    Req/Sec    26.00     27.05    60.00     83.33%
  Latency Distribution
     50%    1.20s 
     75%    1.20s 
     90%    1.21s 
     99%    1.22s 
  24 requests in 4.01s, 0.94KB read
Requests/sec:      5.99
Transfer/sec:    239.59B
"""

# Nothing listening: wrk gives up before running.
REFUSED = "unable to connect to 127.0.0.1:19299 Connection refused\n"


class ParseWrkTest(unittest.TestCase):
    def test_keepalive_run_without_errors(self):
        result = parse_wrk(KEEPALIVE)
        self.assertEqual(result["requests"], 46309)
        self.assertAlmostEqual(result["duration_s"], 2.01)
        self.assertAlmostEqual(result["requests_per_s"], 23076.17)
        self.assertAlmostEqual(result["transfer_bytes_per_s"], 3.59 * 1024 * 1024)
        self.assertAlmostEqual(result["bytes_read"], 7.20 * 1024 * 1024)
        self.assertAlmostEqual(result["latency_avg_us"], 3270.0)
        self.assertEqual(set(result["latency_us"]), {"50", "75", "90", "99"})
        self.assertAlmostEqual(result["latency_us"]["50"], 1140.0)
        self.assertAlmostEqual(result["latency_us"]["99"], 13090.0)
        self.assertEqual(result["socket_errors"],
                         {"connect": 0, "read": 0, "write": 0, "timeout": 0})
        self.assertEqual(result["non_2xx"], 0)
        self.assertEqual(result["errors"], 0)

    def test_sizes_are_binary_units(self):
        bulk = parse_wrk(BULK)
        self.assertAlmostEqual(bulk["transfer_bytes_per_s"], 1.61 * 2**30)
        self.assertAlmostEqual(bulk["bytes_read"], 3.26 * 2**30)
        self.assertAlmostEqual(bulk["latency_us"]["99"], 23310.0)
        close = parse_wrk(CLOSE)
        self.assertAlmostEqual(close["transfer_bytes_per_s"], 754.33 * 1024)
        self.assertEqual(close["errors"], 0)
        self.assertAlmostEqual(parse_wrk(TIMEOUTS)["transfer_bytes_per_s"], 239.52)

    def test_microseconds(self):
        result = parse_wrk(NON_2XX)
        self.assertAlmostEqual(result["latency_us"]["50"], 294.0)
        self.assertAlmostEqual(result["latency_us"]["99"], 1160.0)
        self.assertAlmostEqual(result["latency_avg_us"], 306.43)

    def test_seconds(self):
        result = parse_wrk(SLOW)
        self.assertAlmostEqual(result["latency_us"]["50"], 1.2e6)
        self.assertAlmostEqual(result["latency_us"]["99"], 1.22e6)
        self.assertAlmostEqual(result["latency_avg_us"], 1.2e6)
        self.assertEqual(result["errors"], 0)

    def test_non_2xx_responses_are_errors(self):
        result = parse_wrk(NON_2XX)
        self.assertEqual(result["non_2xx"], 50033)
        self.assertEqual(result["socket_errors"]["read"], 0)
        self.assertEqual(result["errors"], 50033)

    def test_socket_errors(self):
        read = parse_wrk(READ_ERRORS)
        self.assertEqual(read["socket_errors"],
                         {"connect": 0, "read": 11661, "write": 0, "timeout": 0})
        self.assertEqual(read["errors"], 11661)
        self.assertEqual(read["requests"], 11660)
        timeouts = parse_wrk(TIMEOUTS)
        self.assertEqual(timeouts["socket_errors"]["timeout"], 24)
        self.assertEqual(timeouts["errors"], 24)
        self.assertEqual(timeouts["latency_us"]["99"], 0.0)

    def test_all_socket_error_kinds_add_up(self):
        text = KEEPALIVE.replace(
            "Requests/sec:",
            "  Socket errors: connect 3, read 5, write 7, timeout 11\n"
            "  Non-2xx or 3xx responses: 13\nRequests/sec:")
        result = parse_wrk(text)
        self.assertEqual(result["socket_errors"],
                         {"connect": 3, "read": 5, "write": 7, "timeout": 11})
        self.assertEqual(result["errors"], 3 + 5 + 7 + 11 + 13)

    def test_a_run_that_did_not_happen_is_an_error(self):
        with self.assertRaises(WrkParseError) as raised:
            parse_wrk(REFUSED)
        self.assertIn("Connection refused", str(raised.exception))
        with self.assertRaises(WrkParseError):
            parse_wrk("")
        with self.assertRaises(WrkParseError):  # cut short before its summary
            parse_wrk(KEEPALIVE.split("  46309 requests")[0])

    def test_units(self):
        self.assertEqual(time_to_us("2.00", "m"), 120e6)
        self.assertEqual(time_to_us("1.5", "h"), 5400e6)
        self.assertEqual(size_to_bytes("1.00", "TB"), 2**40)
        self.assertEqual(size_to_bytes("12", "B"), 12)

    def test_pure(self):
        self.assertEqual(parse_wrk(BULK), parse_wrk(BULK))


def run(workload, contender, wrk_text, cpu_s=None, round_number=1):
    record = {"workload": workload, "round": round_number, "contender": contender,
              "wrk": parse_wrk(wrk_text)}
    if cpu_s is not None:
        record["cpu_s"] = cpu_s
        record["crashed"] = False
    return record


class TargetsTest(unittest.TestCase):
    def test_medians_and_ratios(self):
        results = {"runs": [
            run("keepalive", "direct", KEEPALIVE),
            run("keepalive", "haproxy", KEEPALIVE, cpu_s=1.0),
            run("keepalive", "ringlb", KEEPALIVE, cpu_s=0.5, round_number=1),
            run("keepalive", "ringlb", KEEPALIVE, cpu_s=0.6, round_number=2),
            run("keepalive", "ringlb", READ_ERRORS, cpu_s=9.0, round_number=3),
        ]}
        table = medians(results)
        ringlb = table[("keepalive", "ringlb")]
        self.assertEqual(ringlb["rounds"], 3)
        self.assertAlmostEqual(ringlb["requests_per_s"], 23076.17)  # the median of three
        self.assertAlmostEqual(ringlb["cpu_us_per_request"], 1e6 * 0.6 / 46309)
        self.assertEqual(ringlb["errors"], 11661)  # errors add up over the rounds
        targets = {t["title"]: t for t in evaluate_targets(table)}
        self.assertEqual(targets["keep-alive: requests/s"]["result"], "PASS")
        self.assertAlmostEqual(targets["keep-alive: CPU per request"]["ratio"], 0.6)
        self.assertEqual(targets["keep-alive: CPU per request"]["result"], "PASS")
        self.assertEqual(targets["bulk: MiB/s"]["result"], "n/a")
        errors = [t for t in targets.values() if t["title"].startswith("zero errors")]
        self.assertEqual(errors[0]["result"], "FAIL")


if __name__ == "__main__":
    unittest.main()
