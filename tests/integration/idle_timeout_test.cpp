// SPDX-License-Identifier: MIT
// Idle timeout: a connection with no traffic either way for idle_timeout_ms is closed, one
// with traffic is not, and idle_timeout_ms = 0 never closes.
#include <catch2/catch.hpp>

#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("a connection idle for idle_timeout_ms is closed while a busy one stays open") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).pool("idle_timeout_ms = 600").text());

    ringlb::UniqueFd idle = connect_to(lb.port);
    ringlb::UniqueFd busy = connect_to(lb.port);
    send_all(idle.get(), "x", deadline_in(5s));
    REQUIRE(read_exact(idle.get(), 1, deadline_in(5s)) == "x");

    // The busy connection exchanges a byte every 100 ms for 1.5 s: far past the timeout in
    // total, never idle for long.
    const auto started = Clock::now();
    while (Clock::now() - started < 1500ms) {
        send_all(busy.get(), "y", deadline_in(5s));
        REQUIRE(read_exact(busy.get(), 1, deadline_in(5s)) == "y");
        std::this_thread::sleep_for(100ms);
    }
    // By now the idle one has had no traffic for more than twice its timeout.
    const ReadResult idle_end = read_until_close(idle.get(), deadline_in(2s));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(idle_end.closed());
    CHECK(idle_end.data.empty());

    send_all(busy.get(), "z", deadline_in(5s));
    CHECK(read_exact(busy.get(), 1, deadline_in(5s)) == "z");
}

TEST_CASE("idle_timeout_ms = 0 keeps an idle connection open") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).pool("idle_timeout_ms = 0").text());

    ringlb::UniqueFd fd = connect_to(lb.port);
    send_all(fd.get(), "a", deadline_in(5s));
    REQUIRE(read_exact(fd.get(), 1, deadline_in(5s)) == "a");
    // Idle for more than the 1 s scan interval of a shard that has no idle timeout.
    const ReadResult quiet = read_until_close(fd.get(), deadline_in(1500ms));
    CHECK(quiet.timed_out);
    send_all(fd.get(), "b", deadline_in(5s));
    CHECK(read_exact(fd.get(), 1, deadline_in(5s)) == "b");
}
