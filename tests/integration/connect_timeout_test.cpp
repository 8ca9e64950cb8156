// SPDX-License-Identifier: MIT
// Connect timeout: a backend that never answers the SYN costs connect_timeout_ms, then the
// next backend is tried; with no retries left the client is closed, not left hanging.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("a connect that times out is retried on the next backend") {
    Blackhole blackhole;
    Backend live = start_reply_backend("live");
    const std::string blackhole_address = "127.0.0.1:" + std::to_string(blackhole.port());
    Ringlb lb = start_ringlb(SimpleConfig({blackhole_address, live.address()})
                                 .workers(1)
                                 .pool("connect_timeout_ms = 300\nretries = 1")
                                 .text());

    int slow = 0;
    for (int i = 0; i < 6; ++i) {
        const auto started = Clock::now();
        ringlb::UniqueFd fd = connect_to(lb.port);
        CHECK(read_until_eof(fd.get(), deadline_in(5s)) == "live\n");
        if (Clock::now() - started >= 300ms) {
            ++slow;  // this one went to the blackhole first and waited out the timeout
        }
    }
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(slow == 3);  // round robin over two backends: every other connection
}

TEST_CASE("with no retry left a timed-out connect closes the client") {
    Blackhole blackhole;
    const std::string blackhole_address = "127.0.0.1:" + std::to_string(blackhole.port());
    Ringlb lb = start_ringlb(
        SimpleConfig({blackhole_address}).pool("connect_timeout_ms = 300\nretries = 0").text());

    const auto started = Clock::now();
    ringlb::UniqueFd fd = connect_to(lb.port);
    const ReadResult result = read_until_close(fd.get(), deadline_in(5s));
    const auto waited = Clock::now() - started;
    CHECK(result.closed());
    CHECK(result.data.empty());
    CHECK(waited >= 300ms);
    CHECK(waited < 2s);
    CHECK(lb.process->running());
}
