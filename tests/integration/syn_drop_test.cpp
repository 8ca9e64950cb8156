// SPDX-License-Identifier: MIT
// Connect timeout for real: in a private network namespace an nft rule drops the SYNs to one
// backend, so ringlb's connect hangs until connect_timeout_ms and then retries or closes the
// client.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>

#include "admin_client.hpp"
#include "harness.hpp"
#include "netns.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kListenerPort = 9000;
constexpr std::uint16_t kDroppedPort = 9001;
constexpr std::uint16_t kLivePort = 9002;
constexpr std::uint16_t kAdminPort = 9003;

constexpr auto kConnectTimeout = 300ms;

std::string config_text(const std::vector<std::string>& backends, unsigned retries) {
    return fmt::format(
        "[global]\nworkers = 1\n\n[admin]\nbind = \"127.0.0.1:{}\"\n\n"
        "[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:{}\"\npool = \"p\"\n\n"
        "[[pool]]\nname = \"p\"\nconnect_timeout_ms = {}\nretries = {}\n{}",
        kAdminPort, kListenerPort, kConnectTimeout.count(), retries, backends_toml(backends));
}

std::string address(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

Ringlb start_ringlb_inside(const NetNamespace& ns, const std::string& text) {
    return start_ringlb_under(ns.exec({}), text);
}

// ringlb's count of connects to the dropped backend that timed out, read inside the namespace.
double timeouts_inside(const NetNamespace& ns, double expected) {
    double timeouts = -1;
    ns.run_inside([&] {
        timeouts = wait_for_sample(
            AdminClient(kAdminPort), "ringlb_backend_connect_failures_total",
            {{"pool", "p"}, {"backend", address(kDroppedPort)}, {"reason", "timeout"}}, expected);
    });
    return timeouts;
}

}  // namespace

// Timing: only lower bounds are asserted against the clock (ringlb cannot give up on a
// connect before connect_timeout_ms, however loaded the machine is); which connections met
// the timeout is read from ringlb's counters, and "not hung" is a deadline of ten timeouts.
TEST_CASE("a SYN dropped by the network costs connect_timeout_ms, then the next backend serves") {
    // lo up, and an nft rule that drops the TCP SYNs to kDroppedPort.
    const NetNamespace ns("syn-retry");
    ns.drop_syns_to(kDroppedPort);
    Process live("backend(reply)", ns.exec({backend_binary(), "--mode", "reply", "--listen",
                                            address(kLivePort), "--reply", "live"}));
    live.wait_for_line(R"(^listening 127\.0\.0\.1:)" + std::to_string(kLivePort) + "$", 5s);
    Ringlb lb =
        start_ringlb_inside(ns, config_text({address(kDroppedPort), address(kLivePort)}, 1));

    std::vector<std::string> replies;
    std::vector<Clock::duration> durations;
    ns.run_inside([&] {
        for (int i = 0; i < 4; ++i) {
            const auto started = Clock::now();
            ringlb::UniqueFd fd = connect_to(kListenerPort);
            replies.push_back(read_until_eof(fd.get(), deadline_in(10 * kConnectTimeout)));
            durations.push_back(Clock::now() - started);
        }
    });

    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(replies.size() == 4);
    for (const std::string& reply : replies) {
        CHECK(reply == "live\n");
    }
    // Round robin over two backends: every other connection went to the dropped backend
    // first and waited out the timeout there.
    CHECK(timeouts_inside(ns, 2) == 2);
    std::sort(durations.begin(), durations.end());
    CHECK(durations[2] >= kConnectTimeout);
    CHECK(durations[3] >= kConnectTimeout);
    // The delay came from dropped SYNs, not from a refusal.
    CHECK(ns.dropped_syns() >= 2);
    CHECK(lb.process->running());
}

TEST_CASE("a SYN dropped by the network with no retry left closes the client") {
    const NetNamespace ns("syn-noretry");
    ns.drop_syns_to(kDroppedPort);
    Ringlb lb = start_ringlb_inside(ns, config_text({address(kDroppedPort)}, 0));

    ReadResult result;
    Clock::duration waited{};
    ns.run_inside([&] {
        const auto started = Clock::now();
        ringlb::UniqueFd fd = connect_to(kListenerPort);
        result = read_until_close(fd.get(), deadline_in(10 * kConnectTimeout));
        waited = Clock::now() - started;
    });

    INFO("ringlb output:\n" << lb.process->tail());
    INFO("waited " << std::chrono::duration_cast<milliseconds>(waited).count() << " ms");
    CHECK(result.closed());
    CHECK(result.data.empty());
    CHECK(waited >= kConnectTimeout);
    CHECK(timeouts_inside(ns, 1) == 1);
    CHECK(ns.dropped_syns() >= 1);
    CHECK(lb.process->running());
}
