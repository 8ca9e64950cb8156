// SPDX-License-Identifier: MIT
// Idle timeout: a connection with no traffic either way for idle_timeout_ms is closed, one
// with traffic is not, and idle_timeout_ms = 0 never closes.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

// Timing: the idle connection's close is waited for (deadline: ten timeouts) and must not come
// before the timeout (a lower bound, which load cannot break). The busy connection exchanges
// bytes back to back on its own thread, so it is never idle for longer than one round trip:
// it would be closed only if the machine stalled this process for the whole 600 ms.
TEST_CASE("a connection idle for idle_timeout_ms is closed while a busy one stays open") {
    constexpr auto kIdleTimeout = 600ms;
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()})
                                 .pool("idle_timeout_ms = " + std::to_string(kIdleTimeout.count()))
                                 .text());

    ringlb::UniqueFd idle = connect_to(lb.port);
    ringlb::UniqueFd busy = connect_to(lb.port);
    send_all(idle.get(), "x", deadline_in(5s));
    REQUIRE(read_exact(idle.get(), 1, deadline_in(5s)) == "x");
    const auto last_traffic = Clock::now();

    std::atomic<bool> stop{false};
    std::string busy_error;
    std::uint64_t exchanges = 0;
    std::thread busy_thread([&] {
        try {
            while (!stop.load()) {
                send_all(busy.get(), "y", deadline_in(5s));
                if (read_exact(busy.get(), 1, deadline_in(5s)) != "y") {
                    throw HarnessError("the busy connection echoed something else");
                }
                ++exchanges;
            }
        } catch (const std::exception& error) {
            busy_error = error.what();
        }
    });
    const ReadResult idle_end = read_until_close(idle.get(), deadline_in(10 * kIdleTimeout));
    const auto idle_for = Clock::now() - last_traffic;
    stop.store(true);
    busy_thread.join();

    INFO("ringlb output:\n" << lb.process->tail());
    INFO("idle connection ended after "
         << std::chrono::duration_cast<milliseconds>(idle_for).count() << " ms; busy exchanges "
         << exchanges);
    CHECK(idle_end.closed());
    CHECK(idle_end.data.empty());
    CHECK(idle_for >= kIdleTimeout);
    CHECK(busy_error.empty());
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

// A shard held up (here: the whole process stopped) past the idle timeout wakes to a batch of
// completions: its tick, and the bytes a client sent meanwhile. The stop lasts longer than the
// timeout, but the client's byte arrives 200 ms into it (after the tick's timer has fired, so
// the tick's completion comes first in the batch), well within the timeout: the connection was
// not idle and must survive. The two sleeps are the stall under test, not synchronisation.
TEST_CASE("a shard held up past the idle timeout keeps a connection whose bytes came meanwhile") {
    constexpr auto kIdleTimeout = 600ms;
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()})
                                 .workers(1)
                                 .pool("idle_timeout_ms = " + std::to_string(kIdleTimeout.count()))
                                 .text());
    ringlb::UniqueFd fd = connect_to(lb.port);
    send_all(fd.get(), "a", deadline_in(5s));
    REQUIRE(read_exact(fd.get(), 1, deadline_in(5s)) == "a");

    lb.process->signal(SIGSTOP);
    std::this_thread::sleep_for(200ms);  // the shard's 100 ms tick fires meanwhile
    send_all(fd.get(), "b", deadline_in(5s));
    std::this_thread::sleep_for(kIdleTimeout);  // 800 ms stopped in all
    lb.process->signal(SIGCONT);

    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(read_exact(fd.get(), 1, deadline_in(5s)) == "b");
    send_all(fd.get(), "c", deadline_in(5s));
    CHECK(read_exact(fd.get(), 1, deadline_in(5s)) == "c");
}
