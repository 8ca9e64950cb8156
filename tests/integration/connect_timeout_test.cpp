// SPDX-License-Identifier: MIT
// Connect timeout: a backend that never answers the SYN costs connect_timeout_ms, then the
// next backend is tried; with no retries left the client is closed, not left hanging.
//
// Timing: only lower bounds are asserted against the clock (ringlb cannot give up on a
// connect before connect_timeout_ms, however loaded the machine is); which connections met
// the timeout is read from ringlb's own counters, and "not left hanging" is a deadline ten
// times the timeout.
#include <catch2/catch.hpp>

#include <algorithm>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr auto kConnectTimeout = 300ms;

std::string config(const std::vector<std::string>& backends, unsigned retries) {
    return SimpleConfig(backends)
        .workers(1)
        .global("\n[admin]\nbind = \"127.0.0.1:0\"\n")
        .pool("connect_timeout_ms = " + std::to_string(kConnectTimeout.count()) +
              "\nretries = " + std::to_string(retries))
        .text();
}

double timeouts_of(const AdminClient& admin, const std::string& backend, double expected) {
    return wait_for_sample(admin, "ringlb_backend_connect_failures_total",
                           {{"pool", "p"}, {"backend", backend}, {"reason", "timeout"}}, expected);
}

}  // namespace

TEST_CASE("a connect that times out is retried on the next backend") {
    Blackhole blackhole;
    Backend live = start_reply_backend("live");
    const std::string blackhole_address = "127.0.0.1:" + std::to_string(blackhole.port());
    Ringlb lb = start_ringlb(config({blackhole_address, live.address()}, 1));
    const AdminClient admin(admin_port(*lb.process));

    std::vector<Clock::duration> took;
    for (int i = 0; i < 6; ++i) {
        const auto started = Clock::now();
        ringlb::UniqueFd fd = connect_to(lb.port);
        CHECK(read_until_eof(fd.get(), deadline_in(10 * kConnectTimeout)) == "live\n");
        took.push_back(Clock::now() - started);
    }
    INFO("ringlb output:\n" << lb.process->tail());
    // Round robin over two backends: every other connection went to the blackhole first,
    // waited out the timeout there, and was served by the live backend.
    CHECK(timeouts_of(admin, blackhole_address, 3) == 3);
    std::sort(took.begin(), took.end());
    for (std::size_t i = 3; i < took.size(); ++i) {
        CHECK(took[i] >= kConnectTimeout);
    }
}

TEST_CASE("with no retry left a timed-out connect closes the client") {
    Blackhole blackhole;
    const std::string blackhole_address = "127.0.0.1:" + std::to_string(blackhole.port());
    Ringlb lb = start_ringlb(config({blackhole_address}, 0));
    const AdminClient admin(admin_port(*lb.process));

    const auto started = Clock::now();
    ringlb::UniqueFd fd = connect_to(lb.port);
    const ReadResult result = read_until_close(fd.get(), deadline_in(10 * kConnectTimeout));
    const auto waited = Clock::now() - started;
    CHECK(result.closed());
    CHECK(result.data.empty());
    CHECK(waited >= kConnectTimeout);
    CHECK(timeouts_of(admin, blackhole_address, 1) == 1);
    CHECK(lb.process->running());
}
