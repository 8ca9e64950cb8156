// SPDX-License-Identifier: MIT
// Integration-test harness: spawned processes with captured output, ringlb and test backends,
// temp configs, deadline-bound TCP client helpers and /proc counters.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringlb/base/unique_fd.hpp"
#include "stream.hpp"

namespace ringlb::test {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using std::chrono::milliseconds;

[[nodiscard]] inline Deadline deadline_in(milliseconds timeout) {
    return Clock::now() + timeout;
}

// Thrown when a wait runs out of time or an operation fails; the message says what was
// expected and shows the recent output of the process concerned. Catch2 reports it as the
// test's failure.
class HarnessError final : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Paths of the binaries under test, compiled in by meson.
[[nodiscard]] std::string ringlb_binary();
[[nodiscard]] std::string backend_binary();
[[nodiscard]] std::string source_dir();

// ---------------------------------------------------------------------------------------
// Processes

// A line written by a child, tagged with the stream it came from.
struct OutputLine final {
    bool from_stderr = false;
    std::string text;
};

// The result of wait_for_line: where the line is and the regex's capture groups
// (groups[0] is the whole match).
struct LineMatch final {
    std::size_t index = 0;
    std::vector<std::string> groups;
};

// How a process ended: the exit code, or the signal that killed it.
struct ExitStatus final {
    int code = -1;   // set when the process exited
    int signal = 0;  // set when a signal killed it
    [[nodiscard]] bool exited_with(int expected) const noexcept {
        return signal == 0 && code == expected;
    }
    [[nodiscard]] std::string to_string() const;
};

// A child process whose stdout and stderr are read into a line list by a reader thread.
// The child gets default signal dispositions and an empty signal mask whatever the test
// process has, and SIGKILL if the spawning thread dies (so spawn from the test's main
// thread, not from a helper thread that ends early).
//
// Destruction ends the child and then checks how it ended (end_problems): a sanitizer report
// (ASan, UBSan, TSan, LeakSanitizer) anywhere in its stderr fails the running test case, and
// so does, after expect_clean_stop(), an unclean stop. Without expect_clean_stop the child
// is killed with SIGKILL.
class Process final {
  public:
    Process(std::string name, std::vector<std::string> argv);
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    // At destruction, a child still running gets SIGTERM and must exit with status 0 within
    // `timeout`, so that its own exit-time checks (LeakSanitizer) run and a crash or hang on
    // the way out fails the test. Every ringlb a test starts is stopped this way. A child the
    // test reaped itself (require_exit, wait_exit, kill) is the test's business; its stderr
    // is still checked.
    void expect_clean_stop(milliseconds timeout = milliseconds(30000)) noexcept {
        clean_stop_timeout_ = timeout;
    }
    // Ends the child as the destructor does (SIGTERM and a wait after expect_clean_stop, else
    // SIGKILL) and returns what is wrong with how it ended, "" if nothing: the failures the
    // destructor would report. A test that calls it judges the result itself; the destructor
    // then reports nothing. Idempotent.
    [[nodiscard]] std::string finish();

    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

    // Waits until a line at index >= `from` matches `pattern` (std::regex ECMAScript,
    // searched anywhere in the line). Throws HarnessError with the recent output on timeout,
    // or when the process exits without having written such a line.
    LineMatch wait_for_line(const std::string& pattern, milliseconds timeout, std::size_t from = 0);
    // The same, but returns nullopt instead of throwing.
    [[nodiscard]] std::optional<LineMatch> try_wait_for_line(const std::string& pattern,
                                                             milliseconds timeout,
                                                             std::size_t from = 0);
    // Every line so far that matches `pattern`, from index `from` on.
    [[nodiscard]] std::vector<LineMatch> find_lines(const std::string& pattern,
                                                    std::size_t from = 0) const;
    [[nodiscard]] std::size_t line_count() const;
    [[nodiscard]] std::vector<OutputLine> lines() const;
    // All output so far, stdout and stderr interleaved as read, one line per line.
    [[nodiscard]] std::string output() const;
    // The last `count` lines, for failure messages.
    [[nodiscard]] std::string tail(std::size_t count = 30) const;

    void signal(int signo);
    // True while the process has not exited (reaps it if it has).
    [[nodiscard]] bool running();
    // Waits for the exit (polling), then for the rest of its output. nullopt on timeout.
    [[nodiscard]] std::optional<ExitStatus> wait_exit(milliseconds timeout);
    // Waits for the exit or throws HarnessError with the recent output.
    ExitStatus require_exit(milliseconds timeout);
    // SIGKILL and reap; no-op when already gone.
    void kill();

  private:
    void read_output(int out_fd, int err_fd, int stop_fd);
    bool reap(int options);
    void join_reader();

    std::string name_;
    pid_t pid_ = -1;
    std::optional<ExitStatus> status_;
    bool status_seen_ = false;  // the test waited for or killed the child itself
    std::optional<milliseconds> clean_stop_timeout_;
    std::optional<std::string> finished_;  // finish()'s result, once it ran
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<OutputLine> lines_;  // guarded by mutex_
    bool output_closed_ = false;     // guarded by mutex_: both pipes reached EOF
    UniqueFd stop_read_;             // polled by the reader
    UniqueFd stop_reader_;           // a byte written here ends the reader (join_reader)
    std::thread reader_;
};

// The lines of `output` that are part of a sanitizer report (AddressSanitizer,
// LeakSanitizer, ThreadSanitizer, UndefinedBehaviorSanitizer), "" when there is none.
[[nodiscard]] std::string sanitizer_report(const std::vector<OutputLine>& output);

// Runs a process to completion (for CLI tests). Throws HarnessError on timeout.
struct RunResult final {
    ExitStatus status;
    std::string stdout_text;
    std::string stderr_text;
};
[[nodiscard]] RunResult run_process(const std::vector<std::string>& argv,
                                    milliseconds timeout = milliseconds(10000));
// Runs a helper tool to completion (openssl making a test CA, say); throws HarnessError with
// the command and its stderr unless it exits 0 within `timeout`.
void run_checked(const std::vector<std::string>& argv, milliseconds timeout = milliseconds(30000));

// A file in $TMPDIR (or /tmp) holding `text`, removed on destruction.
class TempFile final {
  public:
    explicit TempFile(std::string_view text, std::string_view suffix = ".toml");
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile();
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

  private:
    std::string path_;
};

// ---------------------------------------------------------------------------------------
// Test backends and ringlb

// Builds a config with one listener ("in", on 127.0.0.1:0 unless bind() says otherwise) and
// one pool ("p"):
//   SimpleConfig({a.address(), b.address()}).pool("retries = 2").text()
class SimpleConfig final {
  public:
    explicit SimpleConfig(std::vector<std::string> backends) : backends_(std::move(backends)) {}
    // The listener's bind address (default "127.0.0.1:0"), e.g. "[::1]:0".
    SimpleConfig& bind(std::string address) {
        bind_ = std::move(address);
        return *this;
    }
    // global.workers (default 2).
    SimpleConfig& workers(unsigned n) {
        workers_ = n;
        return *this;
    }
    // More [global] lines.
    SimpleConfig& global(std::string lines) {
        global_ = std::move(lines);
        return *this;
    }
    // More [[pool]] lines, e.g. "retries = 0" or a [pool.health] table.
    SimpleConfig& pool(std::string lines) {
        pool_ = std::move(lines);
        return *this;
    }
    [[nodiscard]] std::string text() const;

  private:
    std::vector<std::string> backends_;  // "127.0.0.1:PORT"
    std::string bind_ = "127.0.0.1:0";
    unsigned workers_ = 2;
    std::string global_;
    std::string pool_;
};
// "[[pool.backend]]" tables for these addresses, to append to a [[pool]].
[[nodiscard]] std::string backends_toml(const std::vector<std::string>& addresses);
// One "[[pool.backend]]" table with more keys, e.g. backend_table(a.address(), "weight = 5"):
// for SimpleConfig({}).pool(...) when backends need settings of their own.
[[nodiscard]] std::string backend_table(const std::string& address,
                                        const std::string& settings = "");
// For configs with several listeners and pools: a "[[listener]]" table on 127.0.0.1:0, and a
// "[[pool]]" table with its backends, each with more keys in `settings` (lines such as
// "access_log = \"stderr\"" or "retries = 0").
[[nodiscard]] std::string listener_table(const std::string& name, const std::string& pool,
                                         const std::string& settings = "");
[[nodiscard]] std::string pool_table(const std::string& name,
                                     const std::vector<std::string>& backends,
                                     const std::string& settings = "");

struct BackendOptions final {
    std::string mode;                    // echo | greet | reply | respond | silent | source | sink
    std::optional<std::string> reply;    // reply, greet and respond modes: the text
    std::optional<std::string> request;  // respond: answer once the bytes read contain this
    std::optional<unsigned> delay_ms;    // respond: wait this long before answering
    bool log_received = false;           // print "received HEX" of each connection's first bytes
    std::optional<std::uint64_t> bytes;  // source mode: stream length
    std::optional<std::uint64_t> seed;   // source mode: stream seed
    std::uint16_t port = 0;              // 0 = ephemeral
    bool report = false;                 // print "closed sent=.. received=.. hash=.." lines
    std::optional<unsigned> drain_ms;    // wait for the client's EOF after the last byte
};

struct Backend final {
    std::unique_ptr<Process> process;
    std::uint16_t port = 0;
    [[nodiscard]] std::string address() const;  // "127.0.0.1:PORT"
    // Stops listening while keeping the port (connects are refused, as by a backend that is
    // down; open connections go on), and listens again on it: a backend down and back up
    // without the risk that someone else takes its port meanwhile. Each waits for the
    // backend to confirm.
    void pause();
    void resume();
};

// Starts ringlb-testbackend and waits for its "listening" line.
[[nodiscard]] Backend start_backend(const BackendOptions& options);
[[nodiscard]] Backend start_backend(std::string mode);
[[nodiscard]] Backend start_reply_backend(std::string reply);
// A backend that sends "NAME\n" on each connection, then echoes: read_line tells a client
// where it landed, and the connection stays open and relaying until the client closes it.
[[nodiscard]] Backend start_greet_backend(std::string name);

struct Ringlb final {
    std::unique_ptr<TempFile> config;
    std::unique_ptr<Process> process;
    std::map<std::string, std::uint16_t> ports;  // listener name -> port
    std::uint16_t port = 0;                      // the first listener's port

    // The port of a listener by name; throws if it was never logged.
    [[nodiscard]] std::uint16_t port_of(const std::string& listener) const;
};

// Writes `config_text` to a temp file, runs `ringlb --config FILE EXTRA...`, waits for
// "ready" and collects the "listening listener=NAME address=...:PORT" lines. Throws
// HarnessError (with ringlb's output) if it is not ready within the timeout. `environment`
// holds NAME=VALUE entries added to ringlb's environment (through env(1), which execs ringlb
// in its own process, so the pid is ringlb's).
[[nodiscard]] Ringlb start_ringlb(const std::string& config_text,
                                  const std::vector<std::string>& extra_args = {},
                                  milliseconds timeout = milliseconds(10000),
                                  const std::vector<std::string>& environment = {});
// The same with ringlb run by a command that execs it in its own process, so that the pid
// is ringlb's: `prlimit --nofile=N:N --`, `ip netns exec NS`, `unshare -m sh -c '... exec
// "$@"' sh`. The command line is `wrapper... ringlb --config FILE extra_args...`.
[[nodiscard]] Ringlb start_ringlb_under(const std::vector<std::string>& wrapper,
                                        const std::string& config_text,
                                        const std::vector<std::string>& extra_args = {},
                                        milliseconds timeout = milliseconds(10000));

// Replaces ringlb's config file with `config_text`, sends SIGHUP and waits for the
// "reloaded ... generation=N" line; throws HarnessError on "reload failed" or timeout.
void reload_ringlb(Ringlb& ringlb, const std::string& config_text,
                   milliseconds timeout = milliseconds(10000));

// A port on 127.0.0.1 where nothing listens: bound to port 0, read and closed.
[[nodiscard]] std::uint16_t refused_port();

// A listener whose accept queue is full and never accepted: connections to it hang in
// SYN-SENT until the connector's timeout. Holds the sockets that fill the queue.
class Blackhole final {
  public:
    Blackhole();
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

  private:
    UniqueFd listener_;
    std::vector<UniqueFd> fillers_;
    std::uint16_t port_ = 0;
};

// ---------------------------------------------------------------------------------------
// TCP client helpers. Sockets are non-blocking and close-on-exec; every call is bounded.

struct ConnectResult final {
    UniqueFd fd;
    int error = 0;  // 0, or errno (ETIMEDOUT when the deadline passed)
};
[[nodiscard]] ConnectResult try_connect(std::uint16_t port, milliseconds timeout);
// Connects to 127.0.0.1:port or throws HarnessError.
[[nodiscard]] UniqueFd connect_to(std::uint16_t port, milliseconds timeout = milliseconds(2000));

// The same to any numeric address of this host, IPv4 or IPv6 ("127.0.0.2", "::1").
[[nodiscard]] ConnectResult try_connect_ip(const std::string& ip, std::uint16_t port,
                                           milliseconds timeout);
[[nodiscard]] UniqueFd connect_ip(const std::string& ip, std::uint16_t port,
                                  milliseconds timeout = milliseconds(2000));

// The same from a chosen source address on this host (an address text such as
// "127.1.2.3": the whole of 127.0.0.0/8 is local), port chosen by the kernel, so that one
// test process can appear to ringlb as many different clients. The destination is
// 127.0.0.1 unless given; source and destination are of one family ("::1" to "::1").
[[nodiscard]] ConnectResult try_connect_from(const std::string& source, std::uint16_t port,
                                             milliseconds timeout);
[[nodiscard]] ConnectResult try_connect_from(const std::string& source,
                                             const std::string& destination, std::uint16_t port,
                                             milliseconds timeout);
[[nodiscard]] UniqueFd connect_from(const std::string& source, std::uint16_t port,
                                    milliseconds timeout = milliseconds(2000));
[[nodiscard]] UniqueFd connect_from(const std::string& source, const std::string& destination,
                                    std::uint16_t port, milliseconds timeout = milliseconds(2000));

// The local port of a socket of either family (a client's, to name it in what ringlb
// reports about it); throws if the socket has none.
[[nodiscard]] std::uint16_t local_port(int fd);

// Sends every byte or throws (error, or deadline).
void send_all(int fd, std::string_view data, Deadline deadline);
// Reads exactly n bytes or throws (EOF, error or deadline).
[[nodiscard]] std::string read_exact(int fd, std::size_t n, Deadline deadline);
// Reads up to and including the first '\n', or throws.
[[nodiscard]] std::string read_line(int fd, Deadline deadline);

struct ReadResult final {
    std::string data;
    bool eof = false;        // orderly end of stream
    int error = 0;           // errno when the stream ended with an error (e.g. ECONNRESET)
    bool timed_out = false;  // the deadline passed first
    [[nodiscard]] bool closed() const noexcept { return eof || error != 0; }
};
// Reads until EOF, an error or the deadline.
[[nodiscard]] ReadResult read_until_close(int fd, Deadline deadline);
// Reads until EOF; throws on error or deadline.
[[nodiscard]] std::string read_until_eof(int fd, Deadline deadline);

void shutdown_write(int fd);
// Closes with SO_LINGER 0: the peer gets an RST.
void reset_close(UniqueFd& fd);

struct DuplexResult final {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
    std::uint64_t received_hash = Fnv1a64::kOffsetBasis;
};
// Sends `bytes` bytes of stream `seed` then shuts the write side, while reading (hashing)
// everything that comes back until EOF. Throws on error or deadline.
[[nodiscard]] DuplexResult duplex_transfer(int fd, std::uint64_t seed, std::uint64_t bytes,
                                           Deadline deadline);
// Reads until EOF, hashing; checks nothing. Throws on error or deadline.
[[nodiscard]] DuplexResult drain_hashing(int fd, Deadline deadline);

// Connects, reads everything until EOF (sending nothing) and closes: one reply from a
// reply backend. Throws on error or timeout.
[[nodiscard]] std::string fetch(std::uint16_t port, milliseconds timeout = milliseconds(5000));
// fetch from a chosen source address (see try_connect_from).
[[nodiscard]] std::string fetch_from(const std::string& source, std::uint16_t port,
                                     milliseconds timeout = milliseconds(5000));
// `count` fetches one after the other, counted by reply: how a pool of reply backends
// shared them.
[[nodiscard]] std::map<std::string, int> fetch_counts(std::uint16_t port, int count);
// One fetch from each source address, up to `parallel` connections in flight at once; the
// replies in the order of `sources`. Throws HarnessError if any fails or the whole batch is
// not done within `timeout`.
[[nodiscard]] std::vector<std::string> fetch_each_from(const std::vector<std::string>& sources,
                                                       std::uint16_t port, std::size_t parallel,
                                                       milliseconds timeout);

// ---------------------------------------------------------------------------------------
// Where connections land on greet backends (start_greet_backend)

// A connection held open through ringlb to a greet backend, and the name it greeted with.
struct HeldConnection final {
    UniqueFd fd;
    std::string backend;
};
// Connects to 127.0.0.1:port and reads the greeting; throws HarnessError when none arrives
// within the timeout (e.g. ringlb closed the connection).
[[nodiscard]] HeldConnection open_held(std::uint16_t port,
                                       milliseconds timeout = milliseconds(5000));
// `count` connections one after the other, each closed after its greeting, counted by the
// backend that greeted.
[[nodiscard]] std::map<std::string, int> short_connections(std::uint16_t port, int count);

// ---------------------------------------------------------------------------------------
// Failure messages and patterns

// Counts by reply or backend name for failure messages, as `"a"=3 "b"=2 ` (each key up to
// its first newline).
[[nodiscard]] std::string describe_counts(const std::map<std::string, int>& counts);
// `text` with every character special to std::regex (ECMAScript) escaped, to match an
// address or a path literally inside a pattern.
[[nodiscard]] std::string regex_escape(std::string_view text);

// ---------------------------------------------------------------------------------------
// /proc

[[nodiscard]] std::size_t thread_count(pid_t pid);
[[nodiscard]] std::size_t fd_count(pid_t pid);
// The full path of an executable found on $PATH (Process uses execv, not execvp), or "".
[[nodiscard]] std::string find_on_path(const std::string& command);

// Preconditions. A test never skips and never passes without checking: what it needs and
// lacks is a failure that says why (CI runs as root with every tool scripts/test installs).
// Fails the running test (HarnessError) unless this process runs as root: network
// namespaces, nft rules, bind mounts and privilege drops need it.
void require_root(const std::string& why);
// The full path of `command` on $PATH, or a HarnessError naming the Debian package that
// scripts/test installs it from.
[[nodiscard]] std::string require_command(const std::string& command, const std::string& package);
// The process's resident set in KiB (VmRSS of /proc/PID/status); throws if absent.
[[nodiscard]] std::size_t vm_rss_kib(pid_t pid);
// fd number -> what it refers to ("socket:[123]", "pipe:[45]", "anon_inode:[io_uring]"...).
using FdTable = std::map<int, std::string>;
[[nodiscard]] FdTable fd_table(pid_t pid);
// The lines that differ between two tables ("fd 7: socket:[1] -> (closed)"), for messages.
[[nodiscard]] std::string fd_table_diff(const FdTable& before, const FdTable& after);
// Polls until the process holds exactly the sockets and other non-pipe descriptors it held in
// `before`, and at most `pipe_fd_allowance` pipe ends more. Pipes are exempt from exact
// equality because ringlb keeps a per-shard pipe pool that grows to the peak number of
// active relays and drops pipes that still held bytes when their connection died; sockets
// must come back exactly. Returns "" when settled, else a description of what differs.
[[nodiscard]] std::string wait_fds_settled(pid_t pid, const FdTable& before,
                                           std::size_t pipe_fd_allowance, milliseconds timeout);
// Polls until fd_count(pid) == expected; returns the last count seen.
[[nodiscard]] std::size_t wait_fd_count(pid_t pid, std::size_t expected, milliseconds timeout);
// Raises this process's RLIMIT_NOFILE soft limit to `wanted` (or the hard limit, if lower);
// children inherit it. Returns the resulting soft limit.
std::size_t raise_fd_limit(std::size_t wanted);

}  // namespace ringlb::test
