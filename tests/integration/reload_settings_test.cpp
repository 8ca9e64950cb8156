// SPDX-License-Identifier: MIT
// Reload (SIGHUP) of settings other than backends and algorithms: health checks, timeouts,
// limits, allow/deny, PROXY protocol and retries each take effect as docs/CONFIG.md says.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

// One listener "in" over one pool "p", with more lines for each table.
std::string config(const std::vector<std::string>& backends, const std::string& pool_settings,
                   const std::string& listener_settings = "", const std::string& global = "") {
    return "[global]\nworkers = 2\n" + global + "\n" +
           listener_table("in", "p", listener_settings) + pool_table("p", backends, pool_settings);
}

std::string health(unsigned interval_ms, unsigned timeout_ms, unsigned rise, unsigned fall) {
    return "[pool.health]\ninterval_ms = " + std::to_string(interval_ms) +
           "\ntimeout_ms = " + std::to_string(timeout_ms) + "\nrise = " + std::to_string(rise) +
           "\nfall = " + std::to_string(fall) + "\n";
}

// A backend port the test opens and closes: bound but not listening, connects are refused;
// listening, they complete (nobody accepts: health probes only connect).
class SwitchableBackend final {
  public:
    SwitchableBackend() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (!fd_ ||
            ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0) {
            throw HarnessError(std::string("switchable backend: ") + std::strerror(errno));
        }
        port_ = local_port(fd_.get());
    }
    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
    [[nodiscard]] std::string pattern() const {
        return "127\\.0\\.0\\.1:" + std::to_string(port_) + "\\b";
    }
    void listen() {
        // Room for every probe of the test: none is ever accepted.
        if (::listen(fd_.get(), 4096) < 0) {
            throw HarnessError(std::string("switchable backend: listen: ") + std::strerror(errno));
        }
    }
    // Waits until a probe has connected and the health thread has closed it again, i.e. the
    // probe is over and counted; false at the deadline.
    [[nodiscard]] bool wait_for_probe(milliseconds timeout) const {
        const Deadline deadline = deadline_in(timeout);
        pollfd poll_fd{fd_.get(), POLLIN, 0};
        if (::poll(&poll_fd, 1, static_cast<int>(timeout.count())) != 1) {
            return false;
        }
        UniqueFd probe(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        return probe && read_until_close(probe.get(), deadline).closed();
    }
    // Closes the socket: connects are refused from now on.
    void close() noexcept { fd_.reset(); }

  private:
    UniqueFd fd_;
    std::uint16_t port_ = 0;
};

// Connects and reads until ringlb closes the connection; how long that took.
milliseconds time_until_closed(std::uint16_t port, milliseconds limit) {
    const auto started = Clock::now();
    UniqueFd fd = connect_to(port);
    const ReadResult result = read_until_close(fd.get(), deadline_in(limit));
    if (!result.closed()) {
        throw HarnessError("ringlb did not close the connection within " +
                           std::to_string(limit.count()) + " ms");
    }
    return std::chrono::duration_cast<milliseconds>(Clock::now() - started);
}

// Whether a greeting arrives on `fd` within `timeout` (a served client), without reading it.
bool greeted_within(int fd, milliseconds timeout) {
    pollfd poll_fd{fd, POLLIN, 0};
    return ::poll(&poll_fd, 1, static_cast<int>(timeout.count())) == 1;
}

}  // namespace

TEST_CASE("health: a reload that lowers fall takes a failing backend down at the new count") {
    Backend live = start_reply_backend("live");
    const std::string dead = "127.0.0.1:" + std::to_string(refused_port());
    const std::string dead_pattern = regex_escape(dead) + "\\b";
    Ringlb lb = start_ringlb(config({live.address(), dead}, health(100, 100, 1, 1000)));
    INFO("ringlb output:\n" << lb.process->tail());

    const std::size_t before = lb.process->line_count();
    reload_ringlb(lb, config({live.address(), dead}, health(100, 100, 1, 2)));
    // Every probe of `dead` fails: with fall = 1000 it would take 100 s; with 2, 300 ms.
    lb.process->wait_for_line("warn +backend down pool=p backend=" + dead_pattern +
                                  " reason=\"Connection refused\" " + "failures=2$",
                              5s, before);
    CHECK(lb.process->find_lines("backend down pool=p backend=" + dead_pattern).size() == 1);
}

TEST_CASE("health: a reload that lowers rise brings a recovered backend up at the new count") {
    Backend live = start_reply_backend("live");
    SwitchableBackend flapping;
    Ringlb lb =
        start_ringlb(config({live.address(), flapping.address()}, health(100, 100, 1000, 1)));
    INFO("ringlb output:\n" << lb.process->tail());
    lb.process->wait_for_line("backend down pool=p backend=" + flapping.pattern(), 5s);

    flapping.listen();  // probes succeed from now on; rise = 1000 would take 100 s
    const std::size_t before = lb.process->line_count();
    reload_ringlb(lb, config({live.address(), flapping.address()}, health(100, 100, 2, 1)));
    lb.process->wait_for_line(
        "info +backend up pool=p backend=" + flapping.pattern() + " successes=2$", 5s, before);
}

TEST_CASE("health: a reload that shortens interval_ms probes on the new schedule at once") {
    Backend live = start_reply_backend("live");
    SwitchableBackend flapping;
    flapping.listen();
    // One probe at start-up, the next an hour later.
    Ringlb lb =
        start_ringlb(config({live.address(), flapping.address()}, health(3600000, 1000, 1, 1)));
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(flapping.wait_for_probe(5s));  // the start-up probe succeeded and is over
    flapping.close();                      // the next probe fails

    const std::size_t before = lb.process->line_count();
    reload_ringlb(lb, config({live.address(), flapping.address()}, health(100, 100, 1, 1)));
    lb.process->wait_for_line("backend down pool=p backend=" + flapping.pattern(), 5s, before);
}

TEST_CASE("health: a reload that shortens timeout_ms applies to the probe in flight") {
    Backend live = start_reply_backend("live");
    Blackhole silent;  // SYNs are dropped: a probe waits out its timeout
    const std::string silent_address = "127.0.0.1:" + std::to_string(silent.port());
    Ringlb lb = start_ringlb(config({live.address(), silent_address}, health(60000, 60000, 1, 1)));
    INFO("ringlb output:\n" << lb.process->tail());

    // The start-up probe hangs for up to 60 s; the reload's 300 ms ends it.
    const std::size_t before = lb.process->line_count();
    reload_ringlb(lb, config({live.address(), silent_address}, health(1000, 300, 1, 1)));
    lb.process->wait_for_line("backend down pool=p backend=" + regex_escape(silent_address) +
                                  " reason=\"Connection timed out\"",
                              5s, before);
}

TEST_CASE("timeouts: connect, idle and PROXY timeouts from a reload apply to new connections") {
    SECTION("connect_timeout_ms") {
        Blackhole silent;
        const std::string address = "127.0.0.1:" + std::to_string(silent.port());
        Ringlb lb = start_ringlb(config({address}, "retries = 0\nconnect_timeout_ms = 60000"));
        INFO("ringlb output:\n" << lb.process->tail());
        reload_ringlb(lb, config({address}, "retries = 0\nconnect_timeout_ms = 300"));
        const milliseconds took = time_until_closed(lb.port, 10s);
        INFO("closed after " << took.count() << " ms");
        CHECK(took >= 300ms);  // it did wait for the connect, the new 300 ms
    }
    SECTION("idle_timeout_ms") {
        Backend echo = start_backend("echo");
        Ringlb lb = start_ringlb(config({echo.address()}, "idle_timeout_ms = 0"));
        INFO("ringlb output:\n" << lb.process->tail());
        UniqueFd before_reload = connect_to(lb.port);
        send_all(before_reload.get(), "a", deadline_in(5s));
        REQUIRE(read_exact(before_reload.get(), 1, deadline_in(5s)) == "a");

        reload_ringlb(lb, config({echo.address()}, "idle_timeout_ms = 300"));
        UniqueFd after_reload = connect_to(lb.port);
        send_all(after_reload.get(), "b", deadline_in(5s));
        REQUIRE(read_exact(after_reload.get(), 1, deadline_in(5s)) == "b");
        // The new connection is closed for idleness...
        CHECK(read_until_close(after_reload.get(), deadline_in(10s)).closed());
        // ...while the older one, idle for longer, keeps the setting it started with.
        send_all(before_reload.get(), "c", deadline_in(5s));
        CHECK(read_exact(before_reload.get(), 1, deadline_in(5s)) == "c");
    }
    SECTION("proxy_timeout_ms") {
        Backend echo = start_backend("echo");
        const std::string proxy = "accept_proxy = true\nproxy_trusted = [\"127.0.0.1\"]\n";
        Ringlb lb = start_ringlb(config({echo.address()}, "", proxy + "proxy_timeout_ms = 60000"));
        INFO("ringlb output:\n" << lb.process->tail());
        reload_ringlb(lb, config({echo.address()}, "", proxy + "proxy_timeout_ms = 300"));
        // A client that never sends its header is closed after the new 300 ms, not 60 s.
        const milliseconds took = time_until_closed(lb.port, 10s);
        INFO("closed after " << took.count() << " ms");
        CHECK(took >= 300ms);
    }
}

TEST_CASE("timeouts: a reload's shutdown_grace_ms is the grace of the next stop") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config({echo.address()}, "", "", "shutdown_grace_ms = 60000\n"));
    INFO("ringlb output:\n" << lb.process->tail());
    reload_ringlb(lb, config({echo.address()}, "", "", "shutdown_grace_ms = 300\n"));

    UniqueFd idle = connect_to(lb.port);
    send_all(idle.get(), "x", deadline_in(5s));
    REQUIRE(read_exact(idle.get(), 1, deadline_in(5s)) == "x");
    lb.process->signal(SIGTERM);
    // 300 ms of grace, then the idle connection is closed and ringlb exits; with the old
    // 60 s it would still be waiting at the deadline.
    const std::optional<ExitStatus> status = lb.process->wait_exit(10s);
    REQUIRE(status.has_value());
    CHECK(status->exited_with(0));
    CHECK(read_until_close(idle.get(), deadline_in(1s)).closed());
    CHECK_FALSE(lb.process->find_lines(R"(stopping signal=\S+ .* grace_ms=300$)").empty());
}

TEST_CASE("limits: global, backend and per-client connection limits from a reload apply") {
    // The admin listener tells when ringlb has seen the first three clients go.
    const std::string admin = "[admin]\nbind = \"127.0.0.1:0\"\n";
    const auto config =
        [&admin](const std::vector<std::string>& backends, const std::string& pool_settings,
                 const std::string& listener_settings = "", const std::string& global = "") {
            return ::config(backends, pool_settings, listener_settings, global + admin);
        };
    Backend greet = start_greet_backend("a");
    Ringlb lb = start_ringlb(config({greet.address()}, ""));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin_client(admin_port(*lb.process));
    {
        // No limit yet: three at once.
        std::vector<HeldConnection> held;
        for (int i = 0; i < 3; ++i) {
            held.push_back(open_held(lb.port));
        }
    }
    // They close asynchronously: a limit of one must not count them.
    REQUIRE(wait_for_sample(admin_client, "ringlb_connections_open", {}, 0, 5s) == 0);

    SECTION("global.max_connections") {
        reload_ringlb(lb, config({greet.address()}, "", "", "max_connections = 1\n"));
        HeldConnection first = open_held(lb.port);
        UniqueFd second = connect_to(lb.port);
        // At the limit the second waits in the backlog (a greeting would come within a
        // millisecond if it were served)...
        CHECK_FALSE(greeted_within(second.get(), 300ms));
        first.fd.reset();
        // ...and is served once the first has gone.
        CHECK(read_line(second.get(), deadline_in(5s)) == "a\n");
    }
    SECTION("backend max_connections") {
        reload_ringlb(lb, config({}, backend_table(greet.address(), "max_connections = 1")));
        HeldConnection first = open_held(lb.port);
        UniqueFd second = connect_to(lb.port);
        const ReadResult result = read_until_close(second.get(), deadline_in(5s));
        CHECK(result.closed());
        CHECK(result.data.empty());  // the backend is full: closed at once, no greeting
    }
    SECTION("listener max_connections_per_client") {
        reload_ringlb(lb, config({greet.address()}, "", "max_connections_per_client = 1"));
        HeldConnection first = open_held(lb.port);
        UniqueFd second = connect_to(lb.port);
        const ReadResult result = read_until_close(second.get(), deadline_in(5s));
        CHECK(result.closed());
        CHECK(result.data.empty());
        HeldConnection other_client = HeldConnection{connect_from("127.0.0.7", lb.port), ""};
        CHECK(read_line(other_client.fd.get(), deadline_in(5s)) == "a\n");
    }
}

TEST_CASE("allow and deny from a reload apply to the next client") {
    Backend reply = start_reply_backend("r");
    Ringlb lb = start_ringlb(config({reply.address()}, ""));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(fetch_from("127.0.0.1", lb.port) == "r\n");

    reload_ringlb(lb, config({reply.address()}, "", "deny = [\"127.0.0.1\"]"));
    CHECK(fetch_from("127.0.0.1", lb.port).empty());  // closed before any backend
    CHECK(fetch_from("127.0.0.2", lb.port) == "r\n");

    reload_ringlb(lb, config({reply.address()}, "", "allow = [\"127.0.0.2/32\"]"));
    CHECK(fetch_from("127.0.0.1", lb.port).empty());
    CHECK(fetch_from("127.0.0.2", lb.port) == "r\n");
    CHECK(fetch_from("127.0.0.3", lb.port).empty());

    reload_ringlb(lb, config({reply.address()}, ""));
    CHECK(fetch_from("127.0.0.3", lb.port) == "r\n");
}

TEST_CASE("PROXY protocol: send_proxy and accept_proxy from a reload apply to new connections") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config({echo.address()}, ""));
    INFO("ringlb output:\n" << lb.process->tail());

    reload_ringlb(lb, config({echo.address()}, "send_proxy = \"v1\""));
    {
        UniqueFd client = connect_to(lb.port);
        const std::string header = "PROXY TCP4 127.0.0.1 127.0.0.1 " +
                                   std::to_string(local_port(client.get())) + " " +
                                   std::to_string(lb.port) + "\r\n";
        // The echo backend sends back what it received: the header ringlb wrote first.
        CHECK(read_exact(client.get(), header.size(), deadline_in(5s)) == header);
    }

    reload_ringlb(lb, config({echo.address()}, "send_proxy = \"v1\"",
                             "accept_proxy = true\nproxy_trusted = [\"127.0.0.1\"]"));
    {
        UniqueFd client = connect_to(lb.port);
        send_all(client.get(), "PROXY TCP4 192.0.2.9 127.0.0.1 1234 80\r\nping", deadline_in(5s));
        // The client's header was taken by ringlb; the one sent on carries its address.
        const std::string expected = "PROXY TCP4 192.0.2.9 127.0.0.1 1234 80\r\nping";
        CHECK(read_exact(client.get(), expected.size(), deadline_in(5s)) == expected);
    }
}

TEST_CASE("retries from a reload apply to new connections") {
    Backend live = start_reply_backend("live");
    const std::string dead = "127.0.0.1:" + std::to_string(refused_port());
    Ringlb lb = start_ringlb(config({dead, live.address()}, "retries = 0"));
    INFO("ringlb output:\n" << lb.process->tail());
    // Round robin over a refused and a live backend, no retry: every other one fails.
    int failed = 0;
    for (int i = 0; i < 4; ++i) {
        failed += fetch(lb.port).empty() ? 1 : 0;
    }
    CHECK(failed == 2);

    reload_ringlb(lb, config({dead, live.address()}, "retries = 1"));
    for (int i = 0; i < 4; ++i) {
        CHECK(fetch(lb.port) == "live\n");
    }
}
