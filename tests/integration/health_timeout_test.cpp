// SPDX-License-Identifier: MIT
// pool.health.timeout_ms for real: in a private network namespace an nft rule drops the SYNs
// to one backend, so its probes time out (nothing refuses them); the backend goes down after
// `fall` timeouts, and comes back once the rule is removed.
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "netns.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kListenerPort = 9000;
constexpr std::uint16_t kSilentPort = 9001;  // its SYNs are dropped while the rule is there
constexpr std::uint16_t kLivePort = 9002;
constexpr int kIntervalMs = 300;
constexpr int kTimeoutMs = 200;
constexpr int kFall = 2;
constexpr int kRise = 2;

std::string address(std::uint16_t port) {
    return "127.0.0.1:" + std::to_string(port);
}

std::unique_ptr<Process> start_reply(const NetNamespace& ns, std::uint16_t port,
                                     const std::string& reply) {
    auto backend = std::make_unique<Process>(
        "backend(" + reply + ")", ns.exec({backend_binary(), "--mode", "reply", "--listen",
                                           address(port), "--reply", reply}));
    backend->wait_for_line(R"(^listening 127\.0\.0\.1:)" + std::to_string(port) + "$", 5s);
    return backend;
}

}  // namespace

TEST_CASE("a black-holed backend goes down after `fall` probe timeouts and back without them") {
    const NetNamespace ns("health");
    const auto silent = start_reply(ns, kSilentPort, "silent");
    const auto live = start_reply(ns, kLivePort, "live");
    Ringlb lb = start_ringlb_under(
        ns.exec({}),
        "[global]\nworkers = 2\n\n[[listener]]\nname = \"in\"\nbind = \"" + address(kListenerPort) +
            "\"\npool = \"p\"\n\n[[pool]]\nname = \"p\"\n" +
            "retries = 0\n[pool.health]\ninterval_ms = " + std::to_string(kIntervalMs) +
            "\ntimeout_ms = " + std::to_string(kTimeoutMs) + "\nrise = " + std::to_string(kRise) +
            "\nfall = " + std::to_string(kFall) + "\n" +
            backends_toml({address(kSilentPort), address(kLivePort)}));
    Process& process = *lb.process;
    INFO("ringlb output:\n" << process.tail());
    const std::string silent_pattern = "backend=127\\.0\\.0\\.1:" + std::to_string(kSilentPort);

    const std::size_t before_drop = process.line_count();
    const auto dropped_at = Clock::now();
    ns.drop_syns_to(kSilentPort);
    process.wait_for_line("warn +backend down pool=p " + silent_pattern +
                              " reason=\"Connection timed out\" failures=" + std::to_string(kFall) +
                              "$",
                          10s, before_drop);
    const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - dropped_at);
    INFO("down " << took.count() << " ms after the rule");
    // Two probes, each waiting out its full timeout, the second an interval after the first:
    // never sooner than interval + timeout. At most interval (until the first) + interval +
    // timeout ≈ 800 ms; 5 s absorbs a loaded machine, while a probe without its timeout would
    // wait for the kernel's SYN retries (over a minute).
    CHECK(took >= milliseconds(kIntervalMs + kTimeoutMs));
    CHECK(took < 5s);
    // Timeouts, not refusals: nothing between the rule and the line says otherwise.
    CHECK(process.find_lines(silent_pattern + R"( reason="Connection refused")", before_drop)
              .empty());
    CHECK(ns.dropped_syns() >= static_cast<std::uint64_t>(kFall));

    // While it is down every connection goes to the live one (retries = 0: a pick of the
    // silent backend would hang the client for connect_timeout_ms and fail).
    ns.run_inside([&] {
        for (int i = 0; i < 6; ++i) {
            CHECK(fetch(kListenerPort, 5s) == "live\n");
        }
    });

    const std::size_t before_lift = process.line_count();
    ns.stop_dropping();
    process.wait_for_line(
        "info +backend up pool=p " + silent_pattern + " successes=" + std::to_string(kRise) + "$",
        5s, before_lift);
    ns.run_inside([&] {
        std::map<std::string, int> replies;
        for (int i = 0; i < 6; ++i) {
            ++replies[fetch(kListenerPort, 5s)];
        }
        INFO("replies once it is back: " << describe_counts(replies));
        CHECK(replies["silent\n"] == 3);
        CHECK(replies["live\n"] == 3);
    });
}
