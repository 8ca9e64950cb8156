# SPDX-License-Identifier: MIT
"""Unit test of scripts/bench's parsers and arithmetic, fed with outputs captured on this
machine: wrk 4.1, redis-benchmark 7.0 (--csv), iperf3 3.12 (--json), /proc/stat and
/proc/PID/stat. The bench itself stays out of CI; what it reads must not go wrong there."""

import argparse
import os
import sys
import types
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts", "lib"))
from bench import cpu_list, cpu_plan, rotated, scaling_plan  # noqa: E402
from bench_configs import cpu_mask, haproxy_config, nginx_stream_config, ringlb_config  # noqa: E402
from bench_cpu import (PF_KTHREAD, ProcStatError, busy_ticks, foreign_ticks,  # noqa: E402
                       machine_cpu, parse_pid_name, parse_pid_stat, parse_proc_stat,
                       stat_delta, top_foreign)
from bench_iperf import IperfParseError, parse_iperf3  # noqa: E402
from bench_load import LoadParseError, expand_workloads, load_argv, parse_load  # noqa: E402
from bench_redis import RedisParseError, parse_redis_benchmark  # noqa: E402
from bench_report import markdown, scaling_markdown  # noqa: E402
from bench_stats import (evaluate_targets, figures_by_round, paired_ratio,  # noqa: E402
                         summarise, verdict)
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


# ---------------------------------------------------------------------------------------
# redis-benchmark 7.0.15 --csv, captured.

# `redis-benchmark -c 50 -n 20000 -P 1 -t get --csv` straight at a redis-server.
REDIS_GET_P1 = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","142857.14","0.224","0.080","0.215","0.327","0.431","3.015"
"""

# `redis-benchmark -c 50 -n 100000 -P 16 -t set --csv`.
REDIS_SET_P16 = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","1111111.12","0.609","0.096","0.559","1.023","1.175","4.815"
"""

# The server shut down in the middle of the run: the header, no result, exit status 1.
REDIS_KILLED = """\
"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"""
REDIS_KILLED_ERR = """\
Error: Server closed the connection
"""

# Nothing listening: nothing on standard output (and redis-benchmark then spins until it is
# stopped, which is why bench.py bounds every run in time).
REDIS_REFUSED_ERR = """\
Could not connect to Redis at 127.0.0.1:19599: Connection refused
WARNING: Could not fetch server CONFIG
"""


class ParseRedisTest(unittest.TestCase):
    def test_get_pipeline_1(self):
        result = parse_redis_benchmark(REDIS_GET_P1, "GET", 20000)
        self.assertEqual(result["requests"], 20000)
        self.assertAlmostEqual(result["requests_per_s"], 142857.14)
        self.assertAlmostEqual(result["duration_s"], 20000 / 142857.14)
        self.assertAlmostEqual(result["latency_avg_us"], 224.0)
        self.assertEqual(set(result["latency_us"]), {"0", "50", "95", "99", "100"})
        self.assertAlmostEqual(result["latency_us"]["0"], 80.0)
        self.assertAlmostEqual(result["latency_us"]["50"], 215.0)
        self.assertAlmostEqual(result["latency_us"]["99"], 431.0)
        self.assertAlmostEqual(result["latency_us"]["100"], 3015.0)
        self.assertEqual(result["errors"], 0)

    def test_set_pipeline_16(self):
        result = parse_redis_benchmark(REDIS_SET_P16, "SET", 100000)
        self.assertAlmostEqual(result["requests_per_s"], 1111111.12)
        self.assertAlmostEqual(result["latency_us"]["99"], 1175.0)
        # The run held SET only: asking for GET is a run that did not happen.
        with self.assertRaises(RedisParseError):
            parse_redis_benchmark(REDIS_SET_P16, "GET", 100000)

    def test_two_tests_in_one_output(self):
        both = REDIS_SET_P16 + REDIS_GET_P1.splitlines()[1] + "\n"
        self.assertAlmostEqual(parse_redis_benchmark(both, "GET", 10)["requests_per_s"],
                               142857.14)
        self.assertAlmostEqual(parse_redis_benchmark(both, "SET", 10)["requests_per_s"],
                               1111111.12)

    def test_a_run_cut_short_is_an_error_with_its_reason(self):
        with self.assertRaises(RedisParseError) as raised:
            parse_redis_benchmark(REDIS_KILLED, "GET", 3000000, REDIS_KILLED_ERR)
        self.assertIn("Server closed the connection", str(raised.exception))
        with self.assertRaises(RedisParseError) as raised:
            parse_redis_benchmark("", "GET", 1000, REDIS_REFUSED_ERR)
        self.assertIn("Connection refused", str(raised.exception))

    def test_malformed_rows(self):
        header = REDIS_GET_P1.splitlines()[0]
        with self.assertRaises(RedisParseError):
            parse_redis_benchmark(header + '\n"GET","fast"\n', "GET", 10)
        with self.assertRaises(RedisParseError):
            parse_redis_benchmark(header + '\n"GET","x","1","1","1","1","1","1"\n', "GET", 10)
        with self.assertRaises(RedisParseError):
            parse_redis_benchmark(header + '\n"GET","0.00","1","1","1","1","1","1"\n', "GET", 10)
        with self.assertRaises(RedisParseError):
            parse_redis_benchmark("GET: 70028.02 requests per second, p50=0.223 msec\n", "GET", 10)


# ---------------------------------------------------------------------------------------
# iperf3 3.12 --json, captured (tabs and all).

# `iperf3 -c 127.0.0.1 -p PORT -t 2 -J --connect-timeout 1000` against `iperf3 -s`.
IPERF_OK = """\
{
	"start":	{
		"connected":	[{
				"socket":	5,
				"local_host":	"127.0.0.1",
				"local_port":	60932,
				"remote_host":	"127.0.0.1",
				"remote_port":	19601
			}],
		"version":	"iperf 3.12",
		"system_info":	"Linux vm 6.18.44-fc-v1252 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
		"timestamp":	{
			"time":	"Fri, 04 Dec 2026 22:32:26 GMT",
			"timesecs":	1796423546
		},
		"connecting_to":	{
			"host":	"127.0.0.1",
			"port":	19601
		},
		"cookie":	"b3rb6y6rlhd4zvaq3bjahl4sjx7xeq2mefmz",
		"tcp_mss_default":	32768,
		"target_bitrate":	0,
		"sock_bufsize":	0,
		"sndbuf_actual":	16384,
		"rcvbuf_actual":	131072,
		"test_start":	{
			"protocol":	"TCP",
			"num_streams":	1,
			"blksize":	131072,
			"omit":	0,
			"duration":	2,
			"bytes":	0,
			"blocks":	0,
			"reverse":	0,
			"tos":	0,
			"target_bitrate":	0
		}
	},
	"intervals":	[{
			"streams":	[{
					"socket":	5,
					"start":	0,
					"end":	1.011057,
					"seconds":	1.0110570192337036,
					"bytes":	882114560,
					"bits_per_second":	6979741345.69438,
					"retransmits":	0,
					"snd_cwnd":	2488354,
					"snd_wnd":	32900096,
					"rtt":	397,
					"rttvar":	454,
					"pmtu":	65535,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	0,
				"end":	1.011057,
				"seconds":	1.0110570192337036,
				"bytes":	882114560,
				"bits_per_second":	6979741345.69438,
				"retransmits":	0,
				"omitted":	false,
				"sender":	true
			}
		}, {
			"streams":	[{
					"socket":	5,
					"start":	1.011057,
					"end":	2.001053,
					"seconds":	0.98999601602554321,
					"bytes":	938475520,
					"bits_per_second":	7583671083.9918051,
					"retransmits":	1,
					"snd_cwnd":	3012218,
					"snd_wnd":	32965632,
					"rtt":	211,
					"rttvar":	272,
					"pmtu":	65535,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	1.011057,
				"end":	2.001053,
				"seconds":	0.98999601602554321,
				"bytes":	938475520,
				"bits_per_second":	7583671083.9918051,
				"retransmits":	1,
				"omitted":	false,
				"sender":	true
			}
		}],
	"end":	{
		"streams":	[{
				"sender":	{
					"socket":	5,
					"start":	0,
					"end":	2.001053,
					"seconds":	2.001053,
					"bytes":	1820590080,
					"bits_per_second":	7278528174.915906,
					"retransmits":	1,
					"max_snd_cwnd":	3012218,
					"max_snd_wnd":	32965632,
					"max_rtt":	397,
					"min_rtt":	211,
					"mean_rtt":	304,
					"sender":	true
				},
				"receiver":	{
					"socket":	5,
					"start":	0,
					"end":	2.006912,
					"seconds":	2.001053,
					"bytes":	1819672576,
					"bits_per_second":	7253621787.10377,
					"sender":	true
				}
			}],
		"sum_sent":	{
			"start":	0,
			"end":	2.001053,
			"seconds":	2.001053,
			"bytes":	1820590080,
			"bits_per_second":	7278528174.915906,
			"retransmits":	1,
			"sender":	true
		},
		"sum_received":	{
			"start":	0,
			"end":	2.006912,
			"seconds":	2.006912,
			"bytes":	1819672576,
			"bits_per_second":	7253621787.10377,
			"sender":	true
		},
		"cpu_utilization_percent":	{
			"host_total":	19.908261462323278,
			"host_user":	0,
			"host_system":	19.908261462323278,
			"remote_total":	19.1508381001734,
			"remote_user":	0.91393777529747078,
			"remote_system":	18.236900324875929
		},
		"sender_tcp_congestion":	"bbr",
		"receiver_tcp_congestion":	"bbr"
	}
}
"""

# Nothing listening: the error member, and iperf3 exited 0 all the same.
IPERF_REFUSED = """\
{
	"start":	{
		"connected":	[],
		"version":	"iperf 3.12",
		"system_info":	"Linux vm 6.18.44-fc-v1252 #1 SMP PREEMPT_DYNAMIC @0 x86_64"
	},
	"intervals":	[],
	"end":	{
	},
	"error":	"unable to connect to server: Connection refused"
}
"""

# The server was killed 1.5 s into a 4 s test: what was sent, nothing received, an error.
IPERF_KILLED = """\
{
	"start":	{
		"connected":	[{
				"socket":	5,
				"local_host":	"127.0.0.1",
				"local_port":	55090,
				"remote_host":	"127.0.0.1",
				"remote_port":	19601
			}],
		"version":	"iperf 3.12",
		"system_info":	"Linux vm 6.18.44-fc-v1252 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
		"timestamp":	{
			"time":	"Fri, 04 Dec 2026 22:32:33 GMT",
			"timesecs":	1796423553
		},
		"connecting_to":	{
			"host":	"127.0.0.1",
			"port":	19601
		},
		"cookie":	"t7t36prf3tig4jg33ofjed5bzovuvjc2zjvu",
		"tcp_mss_default":	32768,
		"target_bitrate":	0,
		"sock_bufsize":	0,
		"sndbuf_actual":	16384,
		"rcvbuf_actual":	131072,
		"test_start":	{
			"protocol":	"TCP",
			"num_streams":	1,
			"blksize":	131072,
			"omit":	0,
			"duration":	4,
			"bytes":	0,
			"blocks":	0,
			"reverse":	0,
			"tos":	0,
			"target_bitrate":	0
		}
	},
	"intervals":	[{
			"streams":	[{
					"socket":	5,
					"start":	0,
					"end":	1.003958,
					"seconds":	1.003957986831665,
					"bytes":	1254359040,
					"bits_per_second":	9995311010.6414852,
					"retransmits":	1,
					"snd_cwnd":	785796,
					"snd_wnd":	32965632,
					"rtt":	391,
					"rttvar":	683,
					"pmtu":	65535,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	0,
				"end":	1.003958,
				"seconds":	1.003957986831665,
				"bytes":	1254359040,
				"bits_per_second":	9995311010.6414852,
				"retransmits":	1,
				"omitted":	false,
				"sender":	true
			}
		}, {
			"streams":	[{
					"socket":	5,
					"start":	0,
					"end":	1.003958,
					"seconds":	1.003957986831665,
					"bytes":	1254359040,
					"bits_per_second":	9995311010.6414852,
					"retransmits":	1,
					"snd_cwnd":	785796,
					"snd_wnd":	32965632,
					"rtt":	391,
					"rttvar":	683,
					"pmtu":	65535,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	0,
				"end":	1.003958,
				"seconds":	1.003957986831665,
				"bytes":	1254359040,
				"bits_per_second":	9995311010.6414852,
				"retransmits":	1,
				"omitted":	false,
				"sender":	true
			}
		}],
	"end":	{
		"streams":	[{
				"sender":	{
					"socket":	5,
					"start":	0,
					"end":	1.003958,
					"seconds":	1.003958,
					"bytes":	1658060800,
					"bits_per_second":	13212192541.919085,
					"retransmits":	1,
					"max_snd_cwnd":	785796,
					"max_snd_wnd":	32965632,
					"max_rtt":	391,
					"min_rtt":	391,
					"mean_rtt":	391,
					"sender":	true
				},
				"receiver":	{
					"socket":	5,
					"start":	0,
					"end":	1.003958,
					"seconds":	1.003958,
					"bytes":	0,
					"bits_per_second":	0,
					"sender":	true
				}
			}],
		"sum_sent":	{
			"start":	0,
			"end":	1.003958,
			"seconds":	1.003958,
			"bytes":	1658060800,
			"bits_per_second":	13212192541.919085,
			"retransmits":	1,
			"sender":	true
		},
		"sum_received":	{
			"start":	0,
			"end":	1.003958,
			"seconds":	1.003958,
			"bytes":	0,
			"bits_per_second":	0,
			"sender":	true
		},
		"cpu_utilization_percent":	{
			"host_total":	24.420922726409721,
			"host_user":	0.29515425570319581,
			"host_system":	24.125768470706525,
			"remote_total":	0,
			"remote_user":	0,
			"remote_system":	0
		},
		"sender_tcp_congestion":	"bbr"
	},
	"error":	"the server has terminated"
}
"""


class ParseIperfTest(unittest.TestCase):
    def test_a_finished_test(self):
        result = parse_iperf3(IPERF_OK)
        self.assertEqual(result["bytes"], 1819672576)
        self.assertAlmostEqual(result["duration_s"], 2.006912)
        self.assertAlmostEqual(result["bytes_per_s"], 1819672576 / 2.006912)
        self.assertAlmostEqual(result["bits_per_second"], 7253621787.10377)
        self.assertEqual(result["retransmits"], 1)
        self.assertEqual(result["streams"], 1)
        self.assertEqual(result["errors"], 0)

    def test_errors_are_failures_whatever_the_exit_status(self):
        with self.assertRaises(IperfParseError) as raised:
            parse_iperf3(IPERF_REFUSED)
        self.assertIn("Connection refused", str(raised.exception))
        with self.assertRaises(IperfParseError) as raised:
            parse_iperf3(IPERF_KILLED)
        self.assertIn("the server has terminated", str(raised.exception))

    def test_not_a_finished_json_report(self):
        with self.assertRaises(IperfParseError):
            parse_iperf3("")
        with self.assertRaises(IperfParseError):
            parse_iperf3("iperf3: error - unable to connect to server\n")
        with self.assertRaises(IperfParseError):
            parse_iperf3("[1, 2]")
        with self.assertRaises(IperfParseError):  # no end of test
            parse_iperf3('{"start": {}, "intervals": [], "end": {}}')
        # Killed before a byte arrived, without an error member: still not a result.
        with self.assertRaises(IperfParseError):
            parse_iperf3(IPERF_KILLED.replace('"error"', '"no_error"'))


# ---------------------------------------------------------------------------------------
# /proc/stat and /proc/PID/stat, captured one second apart on a busy 2-CPU machine (Linux
# 6.18; the long "intr" line is cut after 12 numbers: the parser does not read it).

PROC_STAT_1 = """\
cpu  1620068 112820 133531 155508 67835 0 7956 740 0 0
cpu0 811432 57033 63551 77286 35868 0 3727 396 0 0
cpu1 808636 55787 69979 78221 31966 0 4228 343 0 0
intr 8629038 0 0 0 0 0 0 0 0 0 0 ...
ctxt 16474402
btime 1796413061
processes 116626
procs_running 20
procs_blocked 0
softirq 32966165 0 494448 72 28620118 186063 0 2 473246 636807 2555409
"""
PROC_STAT_2 = """\
cpu  1620258 112820 133541 155508 67835 0 7956 740 0 0
cpu0 811525 57033 63558 77286 35868 0 3727 396 0 0
cpu1 808732 55787 69983 78221 31966 0 4228 343 0 0
intr 8629620 0 0 0 0 0 0 0 0 0 0 ...
ctxt 16475098
btime 1796413061
processes 116631
procs_running 20
procs_blocked 0
softirq 32966322 0 494490 72 28620118 186065 0 2 473280 636807 2555488
"""

PID_STAT_KTHREADD = ("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 25 0 0 "
                     "18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 0 0 0 "
                     "0 0 0 0 0 0\n")
PID_STAT_INIT = ("1 (process_api) S 0 0 0 0 -1 4194560 144824 215153288 0 5106 819 3749 "
                 "1184702 93009 10 -10 19 0 25 55750656 3552 18446744073709551615 1 1 0 0 0 "
                 "0 0 4096 1256 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n")


def pid_stat(pid, name, ppid, flags, utime, stime, cutime, cstime):
    """A /proc/PID/stat line with these fields (the rest as in a real one)."""
    return (f"{pid} ({name}) S {ppid} {pid} {pid} 0 -1 {flags} 103 0 0 0 {utime} {stime} "
            f"{cutime} {cstime} 20 0 1 0 1050128 3133440 421 18446744073709551615 0 0 0 0 0 "
            "0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n")


class ProcStatTest(unittest.TestCase):
    def test_columns(self):
        stat = parse_proc_stat(PROC_STAT_1)
        self.assertEqual(set(stat), {"cpu", "cpu0", "cpu1"})
        self.assertEqual(stat["cpu"]["user"], 1620068)
        self.assertEqual(stat["cpu"]["idle"], 155508)
        self.assertEqual(stat["cpu"]["softirq"], 7956)
        self.assertEqual(stat["cpu"]["steal"], 740)
        self.assertEqual(stat["cpu1"]["system"], 69979)
        self.assertEqual(busy_ticks(stat["cpu0"]), 811432 + 57033 + 63551 + 0 + 3727)

    def test_one_busy_second(self):
        first, second = parse_proc_stat(PROC_STAT_1), parse_proc_stat(PROC_STAT_2)
        # Both CPUs busy all along: 2 CPUs x 100 ticks of work, no idle, no steal.
        self.assertEqual(stat_delta(first, second),
                         {"busy": 200, "idle": 0, "iowait": 0, "steal": 0, "total": 200})
        self.assertEqual(stat_delta(first, second, "cpu1")["busy"], 96 + 4)

    def test_the_load_cpus_busy_time(self):
        def sample(text, foreign):
            return types.SimpleNamespace(stat=parse_proc_stat(text), foreign=foreign, by_pid={})
        before, after = sample(PROC_STAT_1, 10), sample(PROC_STAT_2, 12)
        machine = machine_cpu(before, after, 100, load_cpus=[1])
        # cpu1: user 96 + system 4 ticks; the whole machine 200, less 2 of other jobs.
        self.assertAlmostEqual(machine["load_busy_s"], 1.00)
        self.assertAlmostEqual(machine["load_total_s"], 1.00)  # cpu1 never idle
        self.assertEqual(machine["load_cpus"], 1)
        self.assertAlmostEqual(machine["bench_s"], 1.98)
        self.assertAlmostEqual(machine_cpu(before, after, 100, [0, 1])["load_busy_s"], 2.00)
        self.assertNotIn("load_busy_s", machine_cpu(before, after, 100))
        # Read as the load ended: what came after (here, all of it) does not count.
        ended = machine_cpu(before, after, 100, [1], load_end=parse_proc_stat(PROC_STAT_1))
        self.assertEqual((ended["load_busy_s"], ended["load_total_s"]), (0.0, 0.0))
        self.assertAlmostEqual(ended["bench_s"], 1.98)

    def test_idle_iowait_and_steal_are_not_work(self):
        before = parse_proc_stat("cpu  100 0 50 1000 10 0 5 0 0 0\n")
        after = parse_proc_stat("cpu  130 2 60 1050 15 1 9 7 3 0\n")
        delta = stat_delta(before, after)
        self.assertEqual(delta["busy"], 30 + 2 + 10 + 1 + 4)  # guest (3) is inside user
        self.assertEqual((delta["idle"], delta["iowait"], delta["steal"]), (50, 5, 7))
        self.assertEqual(delta["total"], 47 + 50 + 5 + 7)

    def test_older_kernels_print_fewer_columns(self):
        stat = parse_proc_stat("cpu  1 2 3 4\ncpu0 1 2 3 4\n")
        self.assertEqual(stat["cpu"]["steal"], 0)
        self.assertEqual(busy_ticks(stat["cpu"]), 6)

    def test_not_proc_stat(self):
        with self.assertRaises(ProcStatError):
            parse_proc_stat("intr 1 2 3\nctxt 4\n")

    def test_pid_stat(self):
        self.assertEqual(parse_pid_stat(PID_STAT_INIT), (0, 4194560, 819 + 3749,
                                                         1184702 + 93009))
        ppid, flags, _, _ = parse_pid_stat(PID_STAT_KTHREADD)
        self.assertEqual(ppid, 0)
        self.assertTrue(flags & PF_KTHREAD)
        self.assertFalse(4194560 & PF_KTHREAD)
        # A command name with spaces and parentheses: the fields start after the last ')'.
        odd = pid_stat(7, "a) (b c)", 1, 0, 11, 22, 33, 44)
        self.assertEqual(parse_pid_stat(odd), (1, 0, 33, 77))
        self.assertEqual(parse_pid_name(odd), "a) (b c)")
        self.assertEqual(parse_pid_name(PID_STAT_INIT), "process_api")

    def test_foreign_ticks_leave_out_the_bench_and_kernel_threads(self):
        processes = {int(line.split()[0]): parse_pid_stat(line) for line in (
            PID_STAT_INIT, PID_STAT_KTHREADD,
            pid_stat(50, "kworker/0:1", 2, PF_KTHREAD, 0, 900, 0, 0),
            pid_stat(100, "python3", 1, 0, 10, 5, 100, 20),   # bench.py: the own root
            pid_stat(101, "ringlb", 100, 0, 300, 200, 0, 0),
            pid_stat(102, "nginx", 101, 0, 40, 40, 0, 0),
            pid_stat(200, "cc1plus", 1, 0, 70, 3, 0, 0))}
        self.assertEqual(foreign_ticks(processes, 100), 819 + 3749 + 1184702 + 93009 + 73)

    def test_the_busiest_other_jobs_by_name(self):
        # Own ticks only: cc1plus 200 ended (its time went to make's cutime, not counted
        # here); two new ones ran 40 and 5 ticks.
        before = {1: ("init", 10), 150: ("make", 5), 200: ("cc1plus", 50), 300: ("ld", 1)}
        after = {1: ("init", 10), 150: ("make", 8), 201: ("cc1plus", 40), 202: ("cc1plus", 5),
                 300: ("ld", 2)}
        self.assertEqual(top_foreign(before, after, 2), [("cc1plus", 45), ("make", 3)])
        self.assertEqual(top_foreign(after, after), [])

    def test_a_job_that_ends_during_the_run_still_counts(self):
        # cc1plus (pid 200) used 50 ticks before the run and 30 during it, then ended; its
        # parent make (pid 150) reaped it: 80 ticks moved into make's cutime.
        before = {1: (0, 0, 0, 0), 150: (1, 0, 5, 0), 200: (150, 0, 50, 0)}
        after = {1: (0, 0, 0, 0), 150: (1, 0, 6, 80)}
        self.assertEqual(foreign_ticks(after, 999) - foreign_ticks(before, 999), 30 + 1)


# ---------------------------------------------------------------------------------------
# Workloads, configurations and the running order.

class LoadTest(unittest.TestCase):
    def test_argv(self):
        self.assertEqual(load_argv("keepalive", 19112, 5),
                         ["wrk", "-t1", "-c64", "-d5s", "--latency", "--timeout", "2s",
                          "http://127.0.0.1:19112/"])
        self.assertEqual(load_argv("close", 19112, 5, threads=4, connections_scale=4)[:3],
                         ["wrk", "-t4", "-c128"])
        self.assertIn("Connection: close", load_argv("close", 19112, 5))
        self.assertEqual(load_argv("bulk", 19101, 3)[-1], "http://127.0.0.1:19101/big")
        self.assertEqual(load_argv("redis_get_p16", 19104, 5, redis_requests=2000000),
                         ["redis-benchmark", "-h", "127.0.0.1", "-p", "19104", "-c", "50",
                          "-n", "2000000", "-P", "16", "-t", "get", "--csv"])
        self.assertEqual(load_argv("redis_set_p1", 19104, 5, threads=2, redis_requests=9)[-2:],
                         ["--threads", "2"])
        self.assertEqual(load_argv("iperf3", 19112, 5),
                         ["iperf3", "--client", "127.0.0.1", "--port", "19112", "--time", "5",
                          "--json", "--connect-timeout", "2000"])

    def test_every_tool_gives_the_same_figures(self):
        wrk = parse_load("bulk", BULK)
        self.assertEqual((wrk["requests"], wrk["bytes"]), (3338, 3.26 * 2**30))
        self.assertEqual(wrk["tool"]["requests_per_s"], 1643.63)
        redis = parse_load("redis_get_p1", REDIS_GET_P1, "", 20000)
        self.assertEqual((redis["requests"], redis["bytes"], redis["bytes_per_s"]),
                         (20000, None, None))
        self.assertAlmostEqual(redis["latency_us"]["99"], 431.0)
        iperf = parse_load("iperf3", IPERF_OK)
        self.assertEqual((iperf["requests"], iperf["requests_per_s"], iperf["latency_us"]),
                         (None, None, {}))
        self.assertEqual(iperf["retransmits"], 1)
        for figures in (wrk, redis, iperf):
            self.assertEqual(set(figures), {"requests", "duration_s", "bytes", "requests_per_s",
                                            "bytes_per_s", "latency_us", "errors",
                                            "retransmits", "tool"})

    def test_a_failed_run_is_a_load_parse_error(self):
        for workload, text, stderr in (("keepalive", REFUSED, ""),
                                       ("redis_get_p16", REDIS_KILLED, REDIS_KILLED_ERR),
                                       ("iperf3", IPERF_REFUSED, "")):
            with self.assertRaises(LoadParseError):
                parse_load(workload, text, stderr, 1000)

    def test_workload_names(self):
        self.assertEqual(expand_workloads(["idle", "redis", "keepalive"]),
                         ["keepalive", "redis_set_p1", "redis_get_p1", "redis_set_p16",
                          "redis_get_p16", "idle"])
        self.assertEqual(expand_workloads(["wrk", "bulk"]), ["keepalive", "close", "bulk"])
        with self.assertRaises(ValueError):
            expand_workloads(["keepalive", "memcached"])

    def test_configs_hash_the_client_for_iperf3(self):
        self.assertEqual((cpu_mask(0), cpu_mask(3)), ("1", "1000"))
        haproxy = haproxy_config(19110, [19107, 19108, 19109], 20000, "source", (0, 1))
        self.assertIn("balance source", haproxy)
        self.assertIn("nbthread 2", haproxy)
        self.assertIn("cpu-map auto:1/1-2 0 1", haproxy)
        self.assertIn("balance roundrobin", haproxy_config(19110, [19101], 20000))
        nginx = nginx_stream_config("/w", "/l", 19111, [19107], 20000, "source", (0, 1))
        self.assertIn("hash $remote_addr;", nginx)
        self.assertIn("worker_processes 2;", nginx)
        self.assertIn("worker_cpu_affinity 1 10;", nginx)
        self.assertIn("reuseport", nginx)
        self.assertNotIn("hash", nginx_stream_config("/w", "/l", 19111, [19101], 20000))
        ringlb = ringlb_config(19112, [19107, 19108], "source", 4)
        self.assertIn('algorithm = "maglev"', ringlb)
        self.assertIn("workers = 4", ringlb)
        self.assertIn('algorithm = "round_robin"', ringlb_config(19112, [19101]))
        self.assertNotIn("batch_wait_us", ringlb_config(19112, [19101]))
        self.assertIn("batch_wait_us = 0 ", ringlb_config(19112, [19101], batch_wait_us=0))

    def test_cpu_lists(self):
        self.assertEqual(cpu_list("1"), [1])
        self.assertEqual(cpu_list("3,1"), [1, 3])
        self.assertEqual(cpu_list("1-3,6"), [1, 2, 3, 6])
        for bad in ("", "x", "1-x", "-1", ","):
            with self.assertRaises(argparse.ArgumentTypeError, msg=bad):
                cpu_list(bad)

    def test_cpu_plan(self):
        self.assertEqual(cpu_plan({0, 1}), ([0], [1]))  # this machine: as before
        self.assertEqual(cpu_plan(range(8)), ([0], [1, 2, 3]))  # the load gets room
        self.assertEqual(cpu_plan(range(8), [0, 1]), ([0, 1], [2, 3, 4]))
        self.assertEqual(cpu_plan({0, 1}, [1], [0]), ([1], [0]))
        self.assertEqual(cpu_plan(range(8), None, [4, 5, 6, 7]), ([0], [4, 5, 6, 7]))
        with self.assertRaisesRegex(ValueError, "must not share"):
            cpu_plan({0, 1}, [0], [0, 1])
        with self.assertRaisesRegex(ValueError, "CPU 5 is not one"):
            cpu_plan({0, 1}, None, [5])
        with self.assertRaisesRegex(ValueError, "need one each"):
            cpu_plan({0})

    def test_scaling_plan(self):
        for cpus in ({0, 1}, {0, 1, 2}):
            with self.assertRaises(ValueError):
                scaling_plan(cpus)
        self.assertEqual(scaling_plan({3, 1, 0, 2}), ([1, 2], [0, 1], [2, 3]))
        self.assertEqual(scaling_plan(range(8)), ([1, 2, 4], [0, 1, 2, 3], [4, 5, 6, 7]))
        counts, balancer, load = scaling_plan(range(12))
        self.assertEqual(counts, [1, 2, 4, 6])
        self.assertEqual((balancer, load), (list(range(6)), list(range(6, 12))))

    def test_order_rotates_with_direct_first(self):
        contenders = ["direct", "haproxy", "nginx", "ringlb"]
        self.assertEqual(rotated(contenders, 0), contenders)
        self.assertEqual(rotated(contenders, 1), ["direct", "nginx", "ringlb", "haproxy"])
        self.assertEqual(rotated(contenders, 5), ["direct", "ringlb", "haproxy", "nginx"])
        self.assertEqual(rotated(["ringlb", "haproxy"], 1), ["haproxy", "ringlb"])


# ---------------------------------------------------------------------------------------
# The report's arithmetic: excess over direct, spread, paired ratios, targets.

def run(workload, contender, load, round_number=1, cpu_s=None, bench_s=None, foreign_s=0.0,
        workers=1, load_s=None):
    record = {"workload": workload, "round": round_number, "contender": contender,
              "workers": None if contender == "direct" else workers, "load": load,
              "crashed": False}
    if cpu_s is not None:
        record["cpu_s"] = cpu_s
    if bench_s is not None:
        record["machine"] = {"busy_s": bench_s + foreign_s, "foreign_s": foreign_s,
                             "bench_s": bench_s, "steal_s": 0.0, "idle_s": 0.0}
        if load_s is not None:
            record["machine"].update({"load_busy_s": load_s, "load_total_s": 2.1,
                                      "load_cpus": 1})
    return record


def keepalive_results(ringlb_machine=(0.50, 0.55, 0.60), haproxy_machine=(0.60, 0.60, 0.60),
                      nginx_machine=(0.58, 0.70, 0.70)):
    """Three rounds of keep-alive (46,309 requests each) with these machine CPU seconds;
    direct takes 0.2 s in every round."""
    load = parse_load("keepalive", KEEPALIVE)
    runs = []
    for index in range(3):
        runs += [run("keepalive", "direct", load, index + 1, bench_s=0.2, foreign_s=0.9),
                 run("keepalive", "haproxy", load, index + 1, cpu_s=0.3,
                     bench_s=haproxy_machine[index], load_s=2.0),
                 run("keepalive", "nginx", load, index + 1, cpu_s=0.3,
                     bench_s=nginx_machine[index]),
                 run("keepalive", "ringlb", load, index + 1, cpu_s=0.2 + 0.1 * index,
                     bench_s=ringlb_machine[index], load_s=1.9)]
    return {"runs": runs}


class StatsTest(unittest.TestCase):
    def test_excess_over_direct_in_the_same_round(self):
        by_round = figures_by_round(keepalive_results())
        figures = by_round[("keepalive", "ringlb", 1)][2]
        self.assertAlmostEqual(figures["machine_us_per_request"], 1e6 * 0.55 / 46309)
        self.assertAlmostEqual(figures["excess_us_per_request"], 1e6 * (0.55 - 0.2) / 46309)
        self.assertAlmostEqual(figures["cpu_us_per_request"], 1e6 * 0.3 / 46309)
        self.assertAlmostEqual(figures["machine_percent"], 100 * 0.55 / 2.01)
        self.assertNotIn("excess_us_per_request", by_round[("keepalive", "direct", None)][1])
        self.assertAlmostEqual(by_round[("keepalive", "direct", None)][1]["foreign_percent"],
                               100 * 0.9 / 2.01)

    def test_the_load_cpus_per_request(self):
        load = parse_load("keepalive", KEEPALIVE)
        by_round = figures_by_round({"runs": [
            run("keepalive", "direct", load, bench_s=0.2),
            run("keepalive", "ringlb", load, cpu_s=0.3, bench_s=0.55, load_s=1.98)]})
        figures = by_round[("keepalive", "ringlb", 1)][1]
        # 46,309 requests; one load CPU busy 1.98 s of the 2.1 s the readings were apart.
        self.assertAlmostEqual(figures["load_percent"], 100 * 1.98 / 2.1)
        self.assertAlmostEqual(figures["load_us_per_request"], 1e6 * 1.98 / 46309)
        self.assertNotIn("load_percent", by_round[("keepalive", "direct", None)][1])

    def test_spread_and_paired_ratios(self):
        by_round = figures_by_round(keepalive_results())
        summary = summarise(by_round)
        cell = summary[("keepalive", "ringlb", 1)]["cpu_us_per_request"]
        self.assertAlmostEqual(cell["median"], 1e6 * 0.3 / 46309)
        self.assertAlmostEqual(cell["min"], 1e6 * 0.2 / 46309)
        self.assertAlmostEqual(cell["max"], 1e6 * 0.4 / 46309)
        self.assertEqual(cell["n"], 3)
        ratio = paired_ratio(by_round, ("keepalive", "ringlb", 1), ("keepalive", "haproxy", 1),
                             "excess_us_per_request")
        self.assertAlmostEqual(ratio["min"], 0.30 / 0.40)
        self.assertAlmostEqual(ratio["median"], 0.35 / 0.40)
        self.assertAlmostEqual(ratio["max"], 0.40 / 0.40)
        self.assertEqual(summary[("keepalive", "ringlb", 1)]["errors"], 0)

    def test_no_ratio_against_an_excess_at_or_below_direct(self):
        results = keepalive_results(haproxy_machine=(0.2, 0.1, 0.6))
        ratio = paired_ratio(figures_by_round(results), ("keepalive", "ringlb", 1),
                             ("keepalive", "haproxy", 1), "excess_us_per_request")
        self.assertEqual(ratio["n"], 1)  # only round 3 has a positive reference

    def test_verdicts(self):
        def spread(low, mid, high):
            return {"median": mid, "min": low, "max": high, "n": 3}
        self.assertEqual(verdict(spread(0.7, 0.8, 0.85), "<=", 0.9), "PASS")
        self.assertEqual(verdict(spread(0.8, 0.85, 0.95), "<=", 0.9),
                         "PASS, inside the spread")
        self.assertEqual(verdict(spread(0.85, 0.95, 1.0), "<=", 0.9),
                         "FAIL, inside the spread")
        self.assertEqual(verdict(spread(1.1, 1.2, 1.3), ">=", 1.2), "PASS, inside the spread")
        self.assertEqual(verdict(spread(0.9, 0.95, 0.99), ">=", 1.0), "FAIL")
        self.assertEqual(verdict(None, ">=", 1.0), "n/a")

    def test_targets_take_the_better_peer_on_each_figure(self):
        results = keepalive_results()
        load = parse_load("keepalive", READ_ERRORS)
        results["runs"].append(run("close", "ringlb", load, cpu_s=1.0, bench_s=1.0))
        by_round = figures_by_round(results)
        targets = evaluate_targets(by_round, summarise(by_round))
        cpu = [t for t in targets if t["figure"] == "excess_us_per_request"
               and t["workload"] == "keepalive"][0]
        # Excess medians: HAProxy 0.40 s, nginx 0.50 s (of 46,309 requests): HAProxy is better.
        self.assertEqual(cpu["peer"], "haproxy")
        self.assertAlmostEqual(cpu["ratio"]["median"], 0.875)
        self.assertEqual(cpu["result"], "PASS, inside the spread")
        rate = [t for t in targets if t["figure"] == "requests_per_s"][0]
        # The same output each time: ratio 1. The load CPU was busy 1.9 and 2.0 s of 2.1 s
        # behind ringlb and HAProxy (≥ 90 %): the load set the rate.
        self.assertEqual(rate["result"], "PASS; load-bound")
        self.assertTrue(rate["load_bound"])
        self.assertFalse(cpu["load_bound"])  # only throughput is ever load-bound
        close = [t for t in targets if t["workload"] == "close"][0]
        self.assertEqual((close["peer"], close["result"]), (None, "n/a"))
        errors = targets[-1]
        self.assertEqual(errors["ringlb"], 11661)
        self.assertEqual(errors["result"], "FAIL")
        self.assertFalse([t for t in targets if t["workload"] == "bulk"])

    def test_a_load_side_with_room_is_not_load_bound(self):
        results = keepalive_results()
        for record in results["runs"]:
            if record["contender"] == "ringlb":
                record["machine"]["load_busy_s"] = 1.8  # 86 % of 2.1 s
        by_round = figures_by_round(results)
        targets = evaluate_targets(by_round, summarise(by_round))
        rate = [t for t in targets if t["figure"] == "requests_per_s"][0]
        self.assertEqual((rate["result"], rate["load_bound"]), ("PASS", False))

    def test_a_crash_is_never_zero_errors(self):
        results = keepalive_results()
        results["runs"][-1]["crashed"] = True
        by_round = figures_by_round(results)
        self.assertIsNone(summarise(by_round)[("keepalive", "ringlb", 1)]["errors"])
        self.assertEqual(evaluate_targets(by_round, summarise(by_round))[-1]["result"], "FAIL")


def report_results(runs, scaling=False, counts=(1,)):
    return {
        "settings": {"rounds": 3, "duration_s": 2, "idle_connections": 10,
                     "contenders": ["direct", "haproxy", "nginx", "ringlb"],
                     "workloads": ["keepalive"], "balancer_cpus": [0], "load_cpus": [1],
                     "quick": False, "scheduler": "SCHED_OTHER, nice -20", "scaling": scaling,
                     "worker_counts": list(counts), "redis_requests": {},
                     "ports": {"http": [1, 2, 3], "redis": [4, 5, 6], "iperf3": [7, 8, 9]}},
        "command": "scripts/bench", "started": "2026-12-04 22:00 UTC", "elapsed_s": 60,
        "machine": {"nproc": 2, "cpu_model": "test", "memory_gib": 1, "kernel": "6", "nofile": 1,
                    "clk_tck": 100, "ringlb": "ringlb 0.1.0", "commit": "abc",
                    "haproxy": ["HAProxy version 2.6.12-1 2026/10/17"]},
        "background_cpu_busy_percent": {"before": {"0": 50.0}, "after": {"0": 1.0}},
        "workload_titles": {"keepalive": "keep-alive"},
        "runs": runs,
    }


class ReportTest(unittest.TestCase):
    def test_the_report_says_what_is_inside_the_spread(self):
        results = report_results(keepalive_results()["runs"])
        by_round = figures_by_round(results)
        summary = summarise(by_round)
        text = markdown(results, by_round, summary, evaluate_targets(by_round, summary), [],
                        "bench/")
        self.assertIn("| small messages: excess machine CPU per request | keep-alive |", text)
        self.assertIn("**PASS, inside the spread**", text)
        self.assertIn("0.875 (0.750–1.000)", text)  # ringlb ÷ HAProxy, excess per request
        self.assertIn("≈", text)
        self.assertIn("the machine was not quiet", text)
        self.assertIn("| ringlb | 23,076 (23,076–23,076) |", text)
        self.assertIn("| excess µs/request (min–max) | load CPUs % | other jobs % |", text)
        self.assertIn("| 90 | 0 | – |", text)  # ringlb's load CPU: busy 1.9 s of 2.1
        self.assertIn("| load CPUs/request |", text)
        self.assertIn("| 0.950 (0.950–0.950) |", text)  # ringlb ÷ HAProxy: 1.9 s ÷ 2.0 s
        self.assertIn("| **PASS; load-bound** |", text)
        self.assertIn("1 throughput target(s) are marked load-bound", text)

    def test_scaling_report(self):
        load = parse_load("keepalive", KEEPALIVE)
        runs = [run("keepalive", "direct", load, 1, bench_s=0.2)]
        for workers in (1, 2):
            for contender in ("haproxy", "nginx", "ringlb"):
                runs.append(run("keepalive", contender, load, 1, cpu_s=0.3 * workers,
                                bench_s=0.5, workers=workers))
        results = report_results(runs, scaling=True, counts=(1, 2))
        summary = summarise(figures_by_round(results))
        text = scaling_markdown(results, summary, [], "")
        self.assertIn("| 2 | 23,076 |", text)
        self.assertIn(f"{1e6 * 0.6 / 46309:.2f}", text)  # CPU per request with 2 workers


if __name__ == "__main__":
    unittest.main()
