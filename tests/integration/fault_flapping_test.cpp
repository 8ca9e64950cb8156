// SPDX-License-Identifier: MIT
// Flapping: a backend killed and restarted every ~100 ms under aggressive health checks never
// crashes ringlb and never leaves a client waiting past the connect budget.
#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr unsigned kConnectTimeoutMs = 500;
constexpr unsigned kRetries = 2;
// A client must see a reply or a close within connect_timeout_ms x (retries + 1), plus slack
// for a loaded 2-core machine.
constexpr milliseconds kBound = milliseconds(kConnectTimeoutMs * (kRetries + 1)) + 1500ms;
constexpr auto kFlapFor = 3s;
constexpr auto kFlapPeriod = 100ms;
constexpr int kClientThreads = 3;
constexpr auto kClientPause = 2ms;

struct Tally final {
    std::mutex mutex;
    std::map<std::string, int> outcomes;  // reply text, "close", "reset", "hung", ...
    milliseconds slowest{0};
    std::string slowest_outcome;

    void add(const std::string& outcome, milliseconds took) {
        std::lock_guard lock(mutex);
        ++outcomes[outcome];
        if (took > slowest) {
            slowest = took;
            slowest_outcome = outcome;
        }
    }
    std::string describe() {
        std::lock_guard lock(mutex);
        std::string text;
        for (const auto& [outcome, n] : outcomes) {
            text += "\"" + outcome + "\"=" + std::to_string(n) + " ";
        }
        return text + "; slowest " + std::to_string(slowest.count()) + " ms (" + slowest_outcome +
               ")";
    }
};

// One client: connect, wait for the reply or a close, and report which and how long it took.
void one_client(std::uint16_t port, Tally& tally) {
    const auto started = Clock::now();
    std::string outcome;
    ConnectResult connected = try_connect(port, kBound);
    if (connected.error == ECONNRESET) {
        // The kernel completed the handshake and ringlb reset the connection before this
        // thread looked at it (a slow, sanitized client): a reset like any other.
        outcome = "reset";
    } else if (connected.error != 0) {
        outcome = std::string("connect: ") + std::strerror(connected.error);
    } else {
        // Twice the bound, so that a slow answer is measured rather than cut off.
        const ReadResult result = read_until_close(connected.fd.get(), deadline_in(2 * kBound));
        if (result.timed_out) {
            outcome = "hung";
        } else if (!result.data.empty()) {
            outcome = result.data.substr(0, result.data.find('\n'));
        } else {
            outcome = result.error != 0 ? "reset" : "close";
        }
    }
    tally.add(outcome, std::chrono::duration_cast<milliseconds>(Clock::now() - started));
}

// Restarts a reply backend on `port`; the port may be briefly taken by someone's ephemeral
// connection, so a failed bind is retried.
Backend restart(const std::string& reply, std::uint16_t port) {
    BackendOptions options;
    options.mode = "reply";
    options.reply = reply;
    options.port = port;
    for (int attempt = 0;; ++attempt) {
        try {
            return start_backend(options);
        } catch (const HarnessError&) {
            if (attempt == 20) {
                throw;
            }
            std::this_thread::sleep_for(10ms);
        }
    }
}

}  // namespace

TEST_CASE(
    "a backend flapping every 100 ms under rise=1 fall=1 health checks never crashes "
    "ringlb and no client waits past connect_timeout x (retries + 1)") {
    Backend steady = start_reply_backend("steady");
    Backend flapping = start_reply_backend("flapping");
    const std::uint16_t flapping_port = flapping.port;
    Ringlb lb = start_ringlb(
        SimpleConfig({steady.address(), flapping.address()})
            .pool("connect_timeout_ms = " + std::to_string(kConnectTimeoutMs) +
                  "\nretries = " + std::to_string(kRetries) +
                  "\n[pool.health]\ninterval_ms = 100\ntimeout_ms = 50\nrise = 1\nfall = 1\n")
            .text());

    Tally tally;
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int i = 0; i < kClientThreads; ++i) {
        clients.emplace_back([&] {
            while (!stop.load()) {
                one_client(lb.port, tally);
                // Pacing: a steady stream of clients without churning through ephemeral ports.
                std::this_thread::sleep_for(kClientPause);
            }
        });
    }

    // Processes are spawned from this thread only (a child dies with its spawning thread).
    int flaps = 0;
    const auto flap_until = Clock::now() + kFlapFor;
    auto next_flip = Clock::now();
    while (Clock::now() < flap_until) {
        next_flip += kFlapPeriod;
        // Pacing, not synchronisation: the backend is down for one period, up for the next.
        if (flapping.process) {
            flapping.process->kill();
            flapping.process.reset();
        } else {
            flapping = restart("flapping", flapping_port);
            ++flaps;
        }
        std::this_thread::sleep_until(next_flip);
    }
    if (!flapping.process) {
        flapping = restart("flapping", flapping_port);
    }
    stop.store(true);
    for (auto& thread : clients) {
        thread.join();
    }

    const auto outcomes = tally.describe();
    INFO("ringlb output:\n" << lb.process->tail(40));
    INFO(flaps << " restarts; client outcomes: " << outcomes);
    REQUIRE(lb.process->running());
    CHECK(tally.outcomes["hung"] == 0);
    CHECK(tally.slowest <= kBound);
    CHECK(tally.outcomes["steady"] > 0);
    // Every outcome is a reply, or ringlb closing or resetting the client.
    for (const auto& [outcome, n] : tally.outcomes) {
        INFO("outcome \"" << outcome << "\" x" << n);
        CHECK((outcome == "steady" || outcome == "flapping" || outcome == "close" ||
               outcome == "reset" || outcome == "hung"));
    }

    // Once the flapping stops ringlb still relays.
    CHECK_FALSE(fetch(lb.port, 5s).empty());
    CHECK(lb.process->running());
}
