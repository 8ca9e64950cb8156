// SPDX-License-Identifier: MIT
// pool.on_backend_down: with "close", the open connections of a backend that health checks
// mark down are closed at once (the client sees its end and reconnects to a live backend),
// counted as reason="backend_down"; with "keep" (the default) they go on; a reload applies
// the setting to the connections after it.
#include <catch2/catch.hpp>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr int kIntervalMs = 100;
constexpr int kFall = 2;
// A loaded 2-core machine may run a probe late; this is added to every health deadline.
constexpr milliseconds kSlack = 2000ms;

std::string health_settings(const std::string& policy) {
    return "on_backend_down = \"" + policy +
           "\"\nretries = 0\n[pool.health]\ninterval_ms = " + std::to_string(kIntervalMs) +
           "\ntimeout_ms = 100\nrise = 1\nfall = " + std::to_string(kFall) + "\n";
}

// One shard, so that the connection each test opens first lands where its second does.
std::string two_pools(const std::string& backend, const std::string& spare) {
    return "[global]\nworkers = 1\n[admin]\nbind = \"127.0.0.1:0\"\n" +
           listener_table("kept", "keeper") + listener_table("closed", "closer") +
           pool_table("keeper", {backend}, health_settings("keep")) +
           pool_table("closer", {backend, spare}, health_settings("close"));
}

// A connection through `port` that landed on the backend that greets with `name`; other
// connections are closed.
HeldConnection held_on(std::uint16_t port, const std::string& name) {
    for (int attempt = 0; attempt < 10; ++attempt) {
        HeldConnection held = open_held(port);
        if (held.backend == name + "\n" || held.backend == name) {
            return held;
        }
    }
    throw HarnessError("no connection landed on backend " + name);
}

// One echo round trip; true when it came back.
bool echoes(int fd) {
    try {
        send_all(fd, "ping\n", deadline_in(2s));
        return read_line(fd, deadline_in(2s)) == "ping\n";
    } catch (const HarnessError&) {
        return false;
    }
}

}  // namespace

TEST_CASE("close ends a down backend's connections at once; keep lets them run") {
    Backend b = start_greet_backend("b");
    Backend spare = start_greet_backend("spare");
    Ringlb lb = start_ringlb(two_pools(b.address(), spare.address()));
    AdminClient admin{admin_port(*lb.process)};

    HeldConnection kept = held_on(lb.port_of("kept"), "b");
    HeldConnection closed = held_on(lb.port_of("closed"), "b");
    HeldConnection other = held_on(lb.port_of("closed"), "spare");
    REQUIRE(echoes(kept.fd.get()));
    REQUIRE(echoes(closed.fd.get()));

    // b stops listening: its probes fail, but the connections it accepted go on serving.
    const std::size_t before = lb.process->line_count();
    const auto paused_at = Clock::now();
    b.pause();
    const std::string b_pattern = "127\\.0\\.0\\.1:" + std::to_string(b.port);
    lb.process->wait_for_line("backend down pool=closer backend=" + b_pattern + "\\b",
                              milliseconds((kFall + 1) * kIntervalMs) + kSlack, before);
    lb.process->wait_for_line("backend down pool=keeper backend=" + b_pattern + "\\b",
                              milliseconds((kFall + 1) * kIntervalMs) + kSlack, before);

    // "close": the client sees the end of its stream without sending anything.
    const ReadResult end = read_until_close(closed.fd.get(), deadline_in(5s));
    const auto closed_after = std::chrono::duration_cast<milliseconds>(Clock::now() - paused_at);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("closed " << closed_after.count() << " ms after the pause");
    CHECK(end.closed());
    CHECK_FALSE(end.timed_out);

    // The shard has scanned its connections (the close above came from that scan), and
    // neither the "keep" pool's connection to b nor the "close" pool's connection to the live
    // backend was touched.
    CHECK(echoes(kept.fd.get()));
    CHECK(echoes(other.fd.get()));

    // The client reconnects and reaches the live backend.
    HeldConnection again = open_held(lb.port_of("closed"));
    CHECK(again.backend.rfind("spare", 0) == 0);

    const Metrics metrics = parse_metrics(admin.get("/metrics").body);
    CHECK(metrics.at("ringlb_connections_closed_total",
                     {{"listener", "closed"}, {"reason", "backend_down"}}) == 1);
    CHECK(metrics.at("ringlb_connections_closed_total",
                     {{"listener", "kept"}, {"reason", "backend_down"}}) == 0);
    const std::string status = admin.get("/status").body;
    CHECK(status.find("\"name\":\"closer\"") != std::string::npos);
    CHECK(status.find("\"on_backend_down\":\"close\"") != std::string::npos);
    CHECK(status.find("\"on_backend_down\":\"keep\"") != std::string::npos);
    CHECK(lb.process->running());
}

TEST_CASE("a reload to on_backend_down = close applies to the connections after it") {
    Backend b = start_greet_backend("b");
    const auto config = [&](const std::string& policy) {
        return "[global]\nworkers = 1\n" + listener_table("in", "p") +
               pool_table("p", {b.address()}, health_settings(policy));
    };
    Ringlb lb = start_ringlb(config("keep"));
    reload_ringlb(lb, config("close"));

    HeldConnection held = held_on(lb.port_of("in"), "b");
    REQUIRE(echoes(held.fd.get()));
    const std::size_t before = lb.process->line_count();
    b.pause();
    lb.process->wait_for_line(
        "backend down pool=p backend=127\\.0\\.0\\.1:" + std::to_string(b.port) + "\\b",
        milliseconds((kFall + 1) * kIntervalMs) + kSlack, before);
    const ReadResult end = read_until_close(held.fd.get(), deadline_in(5s));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(end.closed());
    CHECK_FALSE(end.timed_out);
    CHECK(lb.process->running());
}
