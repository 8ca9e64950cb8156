// SPDX-License-Identifier: MIT
// Why each connection ended: the access log's end= field and
// ringlb_connections_closed_total{listener,reason}, through the real binary, for each way a
// connection can end that a client or backend can cause.
#include <catch2/catch.hpp>

#include <signal.h>

#include <map>
#include <string>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// The local port of a client, as ringlb's access log names it ("client=127.0.0.1:PORT").
std::string client_of(const ringlb::UniqueFd& fd) {
    return "127.0.0.1:" + std::to_string(local_port(fd.get()));
}

// Waits for the access-log line of `client` and returns its end= value.
std::string ending_of(Process& ringlb, const std::string& client) {
    const LineMatch match = ringlb.wait_for_line(
        " client=" + regex_escape(client) + " listener=\\S+ .* end=(\\S+)$", 5000ms);
    return match.groups[1];
}

}  // namespace

TEST_CASE("each connection's end names why it ended, in the access log and the metric") {
    Backend echo = start_backend("echo");
    Backend talker = start_reply_backend("hello");
    OwnedListener owned;
    const std::string log = "access_log = \"stderr\"";
    Ringlb lb = start_ringlb(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n" +
        listener_table("web", "echo", log) + listener_table("talk", "talker", log) +
        listener_table("own", "owned", log) + listener_table("dead", "dead", log) +
        listener_table("idle", "idle", log) +
        listener_table("deny", "echo", log + "\ndeny = [\"127.0.0.0/8\"]") +
        pool_table("echo", {echo.address()}) + pool_table("talker", {talker.address()}) +
        pool_table("owned", {owned.address()}) +
        pool_table("dead", {"127.0.0.1:" + std::to_string(refused_port())}, "retries = 0") +
        pool_table("idle", {echo.address()}, "idle_timeout_ms = 300"));
    AdminClient admin(admin_port(*lb.process));
    std::map<std::string, std::string> expected;  // client -> end

    {  // The client closes first (after its echo came back).
        ringlb::UniqueFd fd = connect_to(lb.port_of("web"));
        send_all(fd.get(), "x\n", deadline_in(2s));
        REQUIRE(read_line(fd.get(), deadline_in(2s)) == "x\n");
        shutdown_write(fd.get());
        REQUIRE(read_until_close(fd.get(), deadline_in(2s)).eof);
        expected[client_of(fd)] = "client_closed";
    }
    {  // The backend says its line and closes first.
        ringlb::UniqueFd fd = connect_to(lb.port_of("talk"));
        REQUIRE(read_until_close(fd.get(), deadline_in(2s)).data == "hello\n");
        expected[client_of(fd)] = "backend_closed";
    }
    {  // The client resets in the middle of the relay.
        ringlb::UniqueFd fd = connect_to(lb.port_of("web"));
        const std::string client = client_of(fd);
        send_all(fd.get(), "y\n", deadline_in(2s));
        REQUIRE(read_line(fd.get(), deadline_in(2s)) == "y\n");
        reset_close(fd);
        expected[client] = "client_reset";
    }
    {  // The backend resets in the middle of the relay.
        ringlb::UniqueFd fd = connect_to(lb.port_of("own"));
        ringlb::UniqueFd backend = owned.accept(deadline_in(2s));
        send_all(fd.get(), "z\n", deadline_in(2s));
        REQUIRE(read_exact(backend.get(), 2, deadline_in(2s)) == "z\n");
        reset_close(backend);
        REQUIRE(read_until_close(fd.get(), deadline_in(2s)).closed());
        expected[client_of(fd)] = "backend_reset";
    }
    {  // Nothing listens at the pool's only backend.
        ringlb::UniqueFd fd = connect_to(lb.port_of("dead"));
        REQUIRE(read_until_close(fd.get(), deadline_in(3s)).closed());
        expected[client_of(fd)] = "connect_failed";
    }
    {  // Refused by the listener's deny rule.
        ringlb::UniqueFd fd = connect_to(lb.port_of("deny"));
        REQUIRE(read_until_close(fd.get(), deadline_in(2s)).closed());
        expected[client_of(fd)] = "denied";
    }
    {  // Silent for longer than the pool's idle_timeout_ms (300 ms): ringlb closes it.
        ringlb::UniqueFd fd = connect_to(lb.port_of("idle"));
        REQUIRE(read_until_close(fd.get(), deadline_in(5s)).closed());
        expected[client_of(fd)] = "idle_timeout";
    }

    for (const auto& [client, end] : expected) {
        INFO("client " << client);
        CHECK(ending_of(*lb.process, client) == end);
    }
    // Every line is written after its connection was counted: the metric has them all.
    const Metrics metrics = parse_metrics(admin.get("/metrics").body);
    CHECK(metrics.types.at("ringlb_connections_closed_total") == "counter");
    const std::map<std::pair<std::string, std::string>, double> counts = {
        {{"web", "client_closed"}, 1},   {{"web", "client_reset"}, 1},
        {{"talk", "backend_closed"}, 1}, {{"own", "backend_reset"}, 1},
        {{"dead", "connect_failed"}, 1}, {{"deny", "denied"}, 1},
        {{"idle", "idle_timeout"}, 1},   {{"web", "idle_timeout"}, 0},
        {{"web", "shutdown"}, 0}};
    for (const auto& [labels, value] : counts) {
        INFO(labels.first << " " << labels.second);
        CHECK(metrics.at("ringlb_connections_closed_total",
                         {{"listener", labels.first}, {"reason", labels.second}}) == value);
    }
    double total = 0;
    for (const MetricSample& sample : metrics.matching("ringlb_connections_closed_total")) {
        total += sample.value;
    }
    CHECK(total == static_cast<double>(expected.size()));
}

TEST_CASE("a connection still open when the shutdown grace runs out ends with end=shutdown") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb("[global]\nworkers = 1\nshutdown_grace_ms = 200\n" +
                             listener_table("web", "p", "access_log = \"stderr\"") +
                             pool_table("p", {echo.address()}));
    ringlb::UniqueFd fd = connect_to(lb.port);
    send_all(fd.get(), "x\n", deadline_in(2s));
    REQUIRE(read_line(fd.get(), deadline_in(2s)) == "x\n");
    lb.process->signal(SIGTERM);
    REQUIRE(read_until_close(fd.get(), deadline_in(5s)).closed());
    CHECK(lb.process->require_exit(10s).exited_with(0));
    CHECK(ending_of(*lb.process, client_of(fd)) == "shutdown");
}

TEST_CASE("access_log_interval_ms: a connection still open gets end=open lines, then its end") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(
        "[global]\nworkers = 2\n" +
        listener_table("web", "p", "access_log = \"stderr\"\naccess_log_interval_ms = 200") +
        pool_table("p", {echo.address()}));
    ringlb::UniqueFd fd = connect_to(lb.port);
    const std::string client = client_of(fd);
    send_all(fd.get(), "hello\n", deadline_in(2s));
    REQUIRE(read_line(fd.get(), deadline_in(2s)) == "hello\n");
    const std::string line = " client=" + regex_escape(client) +
                             " listener=web backend=" + regex_escape(echo.address()) +
                             " bytes_in=6 bytes_out=6 ";
    // Two interim lines while it stays open (the first after ~200 ms, the next ~200 ms later).
    const LineMatch first = lb.process->wait_for_line(line + "duration_ms=\\d+ end=open$", 5000ms);
    lb.process->wait_for_line(line + "duration_ms=\\d+ end=open$", 5000ms, first.index + 1);
    shutdown_write(fd.get());
    REQUIRE(read_until_close(fd.get(), deadline_in(2s)).eof);
    lb.process->wait_for_line(line + "duration_ms=\\d+ end=client_closed$", 5000ms);
}

TEST_CASE("access_log_interval_ms below 100 ms, or without an access log, is a config error") {
    for (const std::string& settings :
         {std::string("access_log = \"stderr\"\naccess_log_interval_ms = 50"),
          std::string("access_log_interval_ms = 1000")}) {
        INFO(settings);
        TempFile config("[global]\nworkers = 1\n" + listener_table("web", "p", settings) +
                        pool_table("p", {"127.0.0.1:9"}));
        const RunResult result =
            run_process({ringlb_binary(), "--check", "--config", config.path()});
        CHECK(result.status.exited_with(2));
        CHECK(result.stderr_text.find("access_log_interval_ms") != std::string::npos);
    }
}
