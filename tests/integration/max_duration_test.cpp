// SPDX-License-Identifier: MIT
// pool.max_connection_duration_ms: a connection older than the limit is closed on both sides
// even while bytes flow, counted in /metrics, so that the client reconnects and meets the
// backends as they are now; a reload applies a new limit to the connections after it.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// Exchanges one byte back and forth until ringlb closes the connection; returns how long the
// connection lived (from `opened`) and whether it ended by a close from ringlb.
struct Lifetime final {
    milliseconds lived{0};
    bool closed = false;
    std::uint64_t exchanges = 0;
};

Lifetime exchange_until_closed(int fd, Clock::time_point opened, milliseconds deadline) {
    Lifetime life;
    while (Clock::now() - opened < deadline) {
        try {
            send_all(fd, "y", deadline_in(5s));
            if (read_exact(fd, 1, deadline_in(5s)) != "y") {
                break;
            }
            ++life.exchanges;
        } catch (const HarnessError&) {
            life.closed = true;  // EOF or a reset: ringlb ended it
            break;
        }
    }
    life.lived = std::chrono::duration_cast<milliseconds>(Clock::now() - opened);
    return life;
}

std::string config(std::uint64_t max_duration_ms, const std::vector<std::string>& backends) {
    return SimpleConfig(backends)
        .global("\n[admin]\nbind = \"127.0.0.1:0\"")
        .pool("idle_timeout_ms = 60000\nmax_connection_duration_ms = " +
              std::to_string(max_duration_ms))
        .text();
}

}  // namespace

// Timing: the limit is a lower bound that load cannot break (the close never comes early);
// the upper bound is generous (ten limits) because the shard scans every limit/10 and a
// loaded machine may delay the client, not ringlb's decision.
TEST_CASE("a busy connection older than max_connection_duration_ms is closed and counted") {
    constexpr auto kLimit = 700ms;
    Backend a = start_greet_backend("a");
    Backend b = start_greet_backend("b");
    Ringlb lb = start_ringlb(config(kLimit.count(), {a.address(), b.address()}));
    AdminClient admin{admin_port(*lb.process)};

    const auto opened = Clock::now();
    HeldConnection first = open_held(lb.port);
    const Lifetime life = exchange_until_closed(first.fd.get(), opened, 10 * kLimit);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("lived " << life.lived.count() << " ms with " << life.exchanges << " exchanges");
    CHECK(life.closed);
    CHECK(life.lived >= kLimit);
    CHECK(life.exchanges > 0);
    first.fd.reset();

    // The client reconnects and round robin sends it to the other backend.
    HeldConnection second = open_held(lb.port);
    CHECK(second.backend != first.backend);
    second.fd.reset();

    const Metrics metrics = parse_metrics(admin.get("/metrics").body);
    CHECK(metrics.at("ringlb_max_duration_closes_total") == 1);
}

TEST_CASE("max_connection_duration_ms = 0 keeps a connection; a reload sets a limit") {
    Backend echo = start_greet_backend("e");
    Ringlb lb = start_ringlb(config(0, {echo.address()}));
    AdminClient admin{admin_port(*lb.process)};

    HeldConnection old = open_held(lb.port);
    reload_ringlb(lb, config(500, {echo.address()}));
    const auto opened = Clock::now();
    HeldConnection young = open_held(lb.port);
    const Lifetime life = exchange_until_closed(young.fd.get(), opened, 10s);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(life.closed);
    CHECK(life.lived >= 500ms);
    // The connection from before the reload keeps its generation's setting (no limit), and
    // has by now lived longer than the new one.
    send_all(old.fd.get(), "z", deadline_in(5s));
    CHECK(read_exact(old.fd.get(), 1, deadline_in(5s)) == "z");
    old.fd.reset();
    young.fd.reset();
    CHECK(parse_metrics(admin.get("/metrics").body).at("ringlb_max_duration_closes_total") == 1);
}
