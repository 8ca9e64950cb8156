// SPDX-License-Identifier: MIT
// Reload (SIGHUP): hitless under load, open connections kept, listeners added and removed,
// and an invalid file rejected with every error while the old config keeps serving.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// Replaces the file atomically (write a sibling, rename over), so that ringlb never reads a
// half-written config.
void write_config(const std::string& path, const std::string& text) {
    const std::string next = path + ".next";
    {
        std::ofstream file(next, std::ios::trunc);
        file << text;
        if (!file.flush()) {
            throw HarnessError("cannot write " + next);
        }
    }
    if (std::rename(next.c_str(), path.c_str()) != 0) {
        throw HarnessError("cannot rename " + next + " to " + path);
    }
}

struct ReloadOutcome final {
    bool succeeded = false;
    std::uint64_t generation = 0;  // when it succeeded
    std::size_t from = 0;          // index of ringlb's first output line after the SIGHUP
    std::size_t line = 0;          // index of the "reloaded" or "reload failed" line
};

// Rewrites ringlb's config file, sends SIGHUP and waits for the verdict line.
ReloadOutcome reload(Ringlb& lb, const std::string& text, milliseconds timeout = 10000ms) {
    write_config(lb.config->path(), text);
    const std::size_t before = lb.process->line_count();
    lb.process->signal(SIGHUP);
    const LineMatch match = lb.process->wait_for_line(
        R"(reloaded config=\S+ generation=(\d+)|reload failed)", timeout, before);
    ReloadOutcome outcome;
    outcome.from = before;
    outcome.line = match.index;
    outcome.succeeded = !match.groups[1].empty();
    if (outcome.succeeded) {
        outcome.generation = std::stoull(match.groups[1]);
    }
    return outcome;
}

const char* const kAlgorithms[] = {"round_robin", "weighted_round_robin", "least_connections",
                                   "random_two", "maglev"};

struct PoolSpec final {
    std::string algorithm;
    std::vector<std::pair<std::string, unsigned>> backends;  // address, weight
};

std::string config_with(const PoolSpec& pool, const std::string& more_listeners = "") {
    std::string text = R"(
[global]
workers = 2

[admin]
bind = "127.0.0.1:0"

[[listener]]
name = "in"
bind = "127.0.0.1:0"
pool = "p"
)" + more_listeners + R"(
[[pool]]
name = "p"
algorithm = ")" + pool.algorithm +
                       "\"\n";
    for (const auto& [address, weight] : pool.backends) {
        text += backend_table(address, "  weight = " + std::to_string(weight));
    }
    return text;
}

Metrics scrape(Ringlb& lb) {
    return get_metrics(AdminClient(admin_port(*lb.process)));
}

}  // namespace

TEST_CASE("20 reloads under continuous traffic: no client connection fails; the last set serves") {
    constexpr int kBackends = 5;
    constexpr int kReloads = 20;
    constexpr int kClients = 3;
    std::vector<Backend> backends;
    std::set<std::string> known_replies;
    for (int i = 0; i < kBackends; ++i) {
        backends.push_back(start_reply_backend("r" + std::to_string(i)));
        known_replies.insert("r" + std::to_string(i) + "\n");
    }
    // Step s serves 1..4 backends starting at s % 5, with a changing algorithm and weights.
    auto spec_for = [&](int step) {
        PoolSpec spec;
        spec.algorithm = kAlgorithms[step % 5];
        const int count = 1 + step % 4;
        for (int k = 0; k < count; ++k) {
            spec.backends.emplace_back(backends[(step + k) % kBackends].address(),
                                       1 + (step + k) % 4);
        }
        return spec;
    };
    PoolSpec last;
    last.algorithm = "round_robin";
    last.backends = {{backends[3].address(), 1}, {backends[4].address(), 1}};

    Ringlb lb = start_ringlb(config_with(spec_for(0)));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t port = lb.port;

    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> successes{0};
    std::atomic<std::uint64_t> failures{0};
    std::mutex failure_mutex;
    std::vector<std::string> failure_messages;  // the first few, guarded by failure_mutex
    std::vector<std::thread> clients;
    // A failed REQUIRE or a harness exception below must still stop and join the clients.
    struct StopAndJoin final {
        std::atomic<bool>& stop;
        std::vector<std::thread>& threads;
        ~StopAndJoin() {
            stop.store(true);
            for (auto& thread : threads) {
                if (thread.joinable()) {
                    thread.join();
                }
            }
        }
    } stop_and_join{stop, clients};
    for (int c = 0; c < kClients; ++c) {
        clients.emplace_back([&] {
            while (!stop.load()) {
                std::string problem;
                try {
                    const std::string reply = fetch(port, 3000ms);
                    if (known_replies.count(reply) == 0) {
                        problem = "unexpected reply \"" + reply + "\"";
                    }
                } catch (const std::exception& error) {
                    problem = error.what();
                }
                if (problem.empty()) {
                    successes.fetch_add(1);
                } else {
                    failures.fetch_add(1);
                    std::lock_guard lock(failure_mutex);
                    if (failure_messages.size() < 5) {
                        failure_messages.push_back(problem);
                    }
                }
            }
        });
    }
    // Waits until the clients completed `count` more connections (bounded): traffic flows
    // between every two reloads, not only around them.
    auto wait_for_traffic = [&](std::uint64_t count) {
        const std::uint64_t target = successes.load() + failures.load() + count;
        const Deadline deadline = deadline_in(5s);
        while (successes.load() + failures.load() < target && Clock::now() < deadline) {
            std::this_thread::sleep_for(1ms);
        }
        return successes.load() + failures.load() >= target;
    };

    bool traffic_flowed = wait_for_traffic(20);
    std::uint64_t generation = 1;
    std::vector<std::string> reload_problems;
    for (int step = 1; step <= kReloads; ++step) {
        const PoolSpec spec = step == kReloads ? last : spec_for(step);
        const ReloadOutcome outcome = reload(lb, config_with(spec));
        if (!outcome.succeeded || outcome.generation != generation + 1) {
            reload_problems.push_back("step " + std::to_string(step) + ": " +
                                      (outcome.succeeded
                                           ? "generation " + std::to_string(outcome.generation)
                                           : std::string("reload failed")));
        }
        generation = outcome.generation;
        traffic_flowed = wait_for_traffic(10) && traffic_flowed;
    }
    stop.store(true);
    for (auto& client : clients) {
        client.join();
    }

    INFO("ringlb output at the end:\n" << lb.process->tail(40));
    INFO("connections: " << successes.load() << " ok, " << failures.load() << " failed");
    {
        std::string messages;
        for (const auto& message : failure_messages) {
            messages += "\n  " + message;
        }
        INFO("first failures:" << messages);
        CHECK(failures.load() == 0);
    }
    CHECK(reload_problems.empty());
    CHECK(traffic_flowed);
    CHECK(successes.load() >= 20 + 10 * kReloads);

    // The final set, and only it, serves new connections.
    std::map<std::string, int> seen = fetch_counts(port, 100);
    INFO("after the last reload: " << describe_counts(seen));
    CHECK(seen.size() == 2);
    CHECK(seen["r3\n"] >= 40);
    CHECK(seen["r4\n"] >= 40);

    const Metrics metrics = scrape(lb);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "success"}}) == kReloads);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "failure"}}) == 0);
    CHECK(metrics.at("ringlb_config_generation") == kReloads + 1);
    // The listener kept its counter through every generation: each connection counted once.
    CHECK(metrics.at("ringlb_connections_accepted_total", {{"listener", "in"}}) ==
          static_cast<double>(successes.load() + failures.load() + 100));
    CHECK(lb.process->running());
}

TEST_CASE("a connection opened before a reload that removes its backend relays until closed") {
    Backend echo = start_backend("echo");
    Backend other = start_reply_backend("new");
    Ringlb lb = start_ringlb(config_with({"round_robin", {{echo.address(), 1}}}));
    INFO("ringlb output:\n" << lb.process->tail());

    ringlb::UniqueFd held = connect_to(lb.port);
    send_all(held.get(), "before\n", deadline_in(2s));
    REQUIRE(read_line(held.get(), deadline_in(2s)) == "before\n");

    const ReloadOutcome outcome = reload(lb, config_with({"round_robin", {{other.address(), 1}}}));
    REQUIRE(outcome.succeeded);
    // New connections go to the new set at once...
    for (int i = 0; i < 5; ++i) {
        CHECK(fetch(lb.port) == "new\n");
    }
    // ...while the old one keeps relaying both ways, also a larger amount.
    send_all(held.get(), "after\n", deadline_in(2s));
    CHECK(read_line(held.get(), deadline_in(2s)) == "after\n");
    const std::string bulk = stream_slice(7, 0, 300 * 1024);
    // Sent from another thread while this one reads, so that neither side's buffers fill up;
    // the future joins it however this scope ends, and hands over its exception.
    auto sent =
        std::async(std::launch::async, [&] { send_all(held.get(), bulk, deadline_in(5s)); });
    const std::string echoed = read_exact(held.get(), bulk.size(), deadline_in(5s));
    sent.get();
    CHECK(echoed == bulk);

    // It ends when the client ends it: the echo backend sees EOF and closes.
    shutdown_write(held.get());
    CHECK(read_until_close(held.get(), deadline_in(3s)).eof);
    CHECK(lb.process->running());
}

TEST_CASE("a listener added by a reload accepts; one removed by a reload refuses") {
    Backend a = start_reply_backend("a");
    const PoolSpec pool{"round_robin", {{a.address(), 1}}};
    const std::string extra = R"(
[[listener]]
name = "extra"
bind = "127.0.0.1:0"
pool = "p"
)";
    Ringlb lb = start_ringlb(config_with(pool));
    INFO("ringlb output:\n" << lb.process->tail());

    const std::size_t before_add = lb.process->line_count();
    const ReloadOutcome added = reload(lb, config_with(pool, extra));
    REQUIRE(added.succeeded);
    const LineMatch listening = lb.process->wait_for_line(
        R"(listening listener=extra address=127\.0\.0\.1:(\d+))", 1000ms, before_add);
    const auto extra_port = static_cast<std::uint16_t>(std::stoul(listening.groups[1]));
    CHECK(extra_port != lb.port);
    for (int i = 0; i < 10; ++i) {
        CHECK(fetch(extra_port) == "a\n");
        CHECK(fetch(lb.port) == "a\n");
    }

    const ReloadOutcome removed = reload(lb, config_with(pool));
    REQUIRE(removed.succeeded);
    lb.process->wait_for_line(
        "closing listener address=127\\.0\\.0\\.1:" + std::to_string(extra_port) + "\\b", 1000ms,
        added.line);
    // Every worker's socket for it is closed: connections are refused, consistently.
    int refused = 0;
    int accepted = 0;
    const Deadline deadline = deadline_in(3s);
    while (refused < 20 && Clock::now() < deadline) {
        ConnectResult result = try_connect(extra_port, 1000ms);
        if (result.error == ECONNREFUSED) {
            ++refused;
        } else {
            refused = 0;
            ++accepted;
            std::this_thread::sleep_for(5ms);
        }
    }
    INFO("ringlb output after the removal:\n" << lb.process->tail());
    INFO("connections still accepted after the removal: " << accepted);
    CHECK(refused == 20);
    CHECK(fetch(lb.port) == "a\n");
}

TEST_CASE("an invalid file is rejected with every error at FILE:LINE:COL; the old config serves") {
    Backend old_backend = start_reply_backend("old");
    Backend new_backend = start_reply_backend("new");
    Ringlb lb = start_ringlb(config_with({"round_robin", {{old_backend.address(), 1}}}));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::string path = lb.config->path();

    // A bad value and a typo key, each on a line we know.
    std::string broken = config_with({"fastest", {{new_backend.address(), 1}}});
    broken += "  wieght = 2\n";
    auto line_of = [&](const std::string& needle) {
        const std::size_t at = broken.find(needle);
        return 1 + std::count(broken.begin(), broken.begin() + static_cast<long>(at), '\n');
    };
    const long typo_line = line_of("  wieght");
    const long value_line = line_of("algorithm = \"fastest\"");

    const ReloadOutcome outcome = reload(lb, broken);
    INFO("ringlb output after the reload:\n" << lb.process->tail());
    REQUIRE_FALSE(outcome.succeeded);
    const std::string place = regex_escape(path);
    const auto typo = lb.process->find_lines(
        place + ":" + std::to_string(typo_line) + R"(:3: .*wieght)", outcome.from);
    const auto value = lb.process->find_lines(
        place + ":" + std::to_string(value_line) + R"(:\d+: .*fastest)", outcome.from);
    CHECK(typo.size() == 1);
    CHECK(value.size() == 1);

    for (int i = 0; i < 5; ++i) {
        CHECK(fetch(lb.port) == "old\n");
    }
    Metrics metrics = scrape(lb);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "failure"}}) == 1);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "success"}}) == 0);
    CHECK(metrics.at("ringlb_config_generation") == 1);

    // Fixed, the same change goes through.
    const ReloadOutcome fixed =
        reload(lb, config_with({"round_robin", {{new_backend.address(), 1}}}));
    REQUIRE(fixed.succeeded);
    CHECK(fixed.generation == 2);
    for (int i = 0; i < 5; ++i) {
        CHECK(fetch(lb.port) == "new\n");
    }
    metrics = scrape(lb);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "failure"}}) == 1);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "success"}}) == 1);
}

TEST_CASE("a reload whose new listener cannot bind changes nothing (weights included)") {
    Backend a = start_reply_backend("a");
    Backend b = start_reply_backend("b");
    const PoolSpec even{"weighted_round_robin", {{a.address(), 1}, {b.address(), 1}}};
    Ringlb lb = start_ringlb(config_with(even));
    INFO("ringlb output:\n" << lb.process->tail());

    // A port someone else holds (without SO_REUSEPORT, so ringlb's bind fails).
    ringlb::UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(holder);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(holder.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(holder.get(), 1) == 0);
    const std::uint16_t taken = local_port(holder.get());

    // The same pool with other weights, plus a listener on the taken port.
    const PoolSpec skewed{"weighted_round_robin", {{a.address(), 3}, {b.address(), 1}}};
    const std::string extra =
        "\n[[listener]]\nname = \"taken\"\nbind = \"127.0.0.1:" + std::to_string(taken) +
        "\"\npool = \"p\"\n";
    const ReloadOutcome outcome = reload(lb, config_with(skewed, extra));
    INFO("ringlb output after the reload:\n" << lb.process->tail());
    REQUIRE_FALSE(outcome.succeeded);

    // Still weights 1:1 (the failed file's 3:1 did not leak into the running pool).
    std::map<std::string, int> counts;
    for (int i = 0; i < 40; ++i) {
        ++counts[fetch(lb.port)];
    }
    CHECK(counts["a\n"] == 20);
    CHECK(counts["b\n"] == 20);
    Metrics metrics = scrape(lb);
    CHECK(metrics.at("ringlb_reloads_total", {{"result", "failure"}}) == 1);
    CHECK(metrics.at("ringlb_config_generation") == 1);
}
