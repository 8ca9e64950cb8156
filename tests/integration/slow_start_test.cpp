// SPDX-License-Identifier: MIT
// pool.slow_start_ms: a backend that comes back up ramps its weight from 1 to its full weight
// over the window, so it gets clearly fewer connections at first and its full share after.
#include <signal.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr int kWeight = 10;

std::string config(const Backend& a, const Backend& b, unsigned slow_start_ms) {
    return SimpleConfig({})
        .workers(2)
        .pool(fmt::format("algorithm = \"weighted_round_robin\"\nslow_start_ms = {}\nretries = 1\n",
                          slow_start_ms) +
              backend_table(a.address(), fmt::format("  weight = {}", kWeight)) +
              backend_table(b.address(), fmt::format("  weight = {}", kWeight)) +
              "\n[pool.health]\ninterval_ms = 100\ntimeout_ms = 100\nrise = 1\nfall = 1\n")
        .text();
}

std::string backend_pattern(const Backend& backend) {
    return fmt::format("backend=127\\.0\\.0\\.1:{}\\b", backend.port);
}

// Share of "b" among `count` sequential fetches.
double share_of_b(std::uint16_t port, int count) {
    int b = 0;
    for (int i = 0; i < count; ++i) {
        b += fetch(port) == "b\n" ? 1 : 0;
    }
    return static_cast<double>(b) / count;
}

// Takes b down (it stops listening, keeping its port), waits until ringlb reports it down,
// brings it back and waits until ringlb reports it up.
void bounce(Ringlb& lb, Backend& b) {
    std::size_t from = lb.process->line_count();
    b.pause();
    lb.process->wait_for_line("backend down pool=p " + backend_pattern(b), 5s, from);
    from = lb.process->line_count();
    b.resume();
    lb.process->wait_for_line("backend up pool=p " + backend_pattern(b), 5s, from);
}

}  // namespace

TEST_CASE(
    "slow start: a backend back up gets clearly fewer than its share at first, its full "
    "share after the window") {
    // Long enough that the first sample lands early in the window even on a loaded machine:
    // the sample is 30 fetches, normally a few tens of milliseconds; were it to take 2 s, b's
    // weight would be 3 of 10 by its end and its share still below 20%.
    constexpr unsigned kSlowStartMs = 6000;
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Ringlb lb = start_ringlb(config(a, b, kSlowStartMs));

    // At start-up nothing ramps: equal weights alternate.
    const double at_start = share_of_b(lb.port, 20);
    INFO("b's share at start-up: " << at_start);
    CHECK(at_start == 0.5);

    bounce(lb, b);
    const auto up_seen = Clock::now();
    const double early = share_of_b(lb.port, 30);
    const auto early_took = std::chrono::duration_cast<milliseconds>(Clock::now() - up_seen);

    // Sample through the window (b's share grows) until past its end plus a margin for the
    // health thread's 100 ms ramp steps, measured from when the "up" line was seen, which is
    // after ringlb started the ramp. The pause only spaces the samples out (the ramp is a
    // function of time); it synchronises nothing.
    std::vector<std::string> ramp;
    while (Clock::now() < up_seen + milliseconds(kSlowStartMs) + 500ms) {
        const auto at = std::chrono::duration_cast<milliseconds>(Clock::now() - up_seen);
        ramp.push_back(fmt::format("{}ms:{:.2f}", at.count(), share_of_b(lb.port, 20)));
        std::this_thread::sleep_for(500ms);
    }
    const double late = share_of_b(lb.port, 40);
    std::string ramp_text;
    for (const std::string& step : ramp) {
        ramp_text += step + " ";
    }

    INFO("b's share: first 30 connections " << early << " (taking " << early_took.count()
                                            << " ms), through the window " << ramp_text
                                            << ", after it " << late);
    INFO("ringlb output:\n" << lb.process->tail());
    // A full share is 0.5; weight 1 of 10 at the start of the ramp gives 1/11.
    CHECK(early <= 0.25);
    CHECK(late >= 0.45);
    CHECK(late <= 0.55);
}

TEST_CASE("without slow start a backend back up gets its full share at once") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    Ringlb lb = start_ringlb(config(a, b, 0));

    bounce(lb, b);
    const double early = share_of_b(lb.port, 30);
    INFO("b's share of the first 30 connections after it is up: " << early);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(early >= 0.45);
    CHECK(early <= 0.55);
}
