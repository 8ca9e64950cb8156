// SPDX-License-Identifier: MIT
// Health checks: a backend that refuses connections is marked down and skipped; when it listens
// again it is used again.
#include <catch2/catch.hpp>

#include <map>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr int kIntervalMs = 200;
constexpr int kRise = 2;
constexpr int kFall = 2;
// A loaded 2-core machine may run a probe late; this is added to every health deadline.
constexpr milliseconds kSlack = 1000ms;

// Fetches `count` replies and counts them by text; a failed connection counts as "error".
std::map<std::string, int> fetch_replies(std::uint16_t port, int count) {
    std::map<std::string, int> replies;
    for (int i = 0; i < count; ++i) {
        try {
            ++replies[fetch(port, 2s)];
        } catch (const HarnessError&) {
            ++replies["error"];
        }
    }
    return replies;
}

}  // namespace

TEST_CASE(
    "a backend that stops listening is marked down, skipped, and used again once it is back") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    // retries = 0: a connection sent to the dead backend fails instead of being rescued by
    // a retry, so the test sees whether the health checker really took it out.
    Ringlb lb = start_ringlb(
        SimpleConfig({a.address(), b.address()})
            .pool("retries = 0\n[pool.health]\ninterval_ms = " + std::to_string(kIntervalMs) +
                  "\ntimeout_ms = 100\nrise = " + std::to_string(kRise) +
                  "\nfall = " + std::to_string(kFall) + "\n")
            .text());

    // Both backends serve before anything happens (polled: whether a fresh backend starts
    // up or has to rise first is not part of the promise).
    {
        const Deadline deadline = deadline_in(milliseconds((kRise + 1) * kIntervalMs) + kSlack);
        std::map<std::string, int> replies;
        while ((replies["a\n"] == 0 || replies["b\n"] == 0) && Clock::now() < deadline) {
            for (const auto& [reply, n] : fetch_replies(lb.port, 2)) {
                replies[reply] += n;
            }
        }
        INFO("ringlb output:\n" << lb.process->tail());
        REQUIRE(replies["a\n"] > 0);
        REQUIRE(replies["b\n"] > 0);
    }

    const std::size_t before_kill = lb.process->line_count();
    b.pause();  // its port stays reserved, so it comes back on it
    const std::string b_pattern = "127\\.0\\.0\\.1:" + std::to_string(b.port);
    lb.process->wait_for_line("warn +backend down pool=p backend=" + b_pattern + "\\b",
                              milliseconds((kFall + 1) * kIntervalMs) + kSlack, before_kill);

    const auto while_down = fetch_replies(lb.port, 20);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("replies while b is down: " << describe_counts(while_down));
    CHECK(while_down.size() == 1);
    CHECK(while_down.count("a\n") == 1);
    CHECK(while_down.begin()->second == 20);

    const std::size_t before_restart = lb.process->line_count();
    b.resume();
    lb.process->wait_for_line("info +backend up pool=p backend=" + b_pattern + "\\b",
                              milliseconds((kRise + 1) * kIntervalMs) + kSlack, before_restart);

    const auto after_up = fetch_replies(lb.port, 20);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("replies after b is back: " << describe_counts(after_up));
    // Round robin over two live backends: exactly every other connection.
    CHECK(after_up == std::map<std::string, int>{{"a\n", 10}, {"b\n", 10}});
    CHECK(lb.process->running());
}
