// SPDX-License-Identifier: MIT
// global.batch_wait_us: a worker serving concurrent clients handles their completions in
// batches (by default too), a lone client is never held, and 0 never batches.
#include <optional>

#include <catch2/catch.hpp>

#include "admin_client.hpp"
#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// One worker (the batching is per worker), the admin API, one listener over `backend`;
// batch_wait_us as given, or left to its default.
std::string batch_config(const std::string& backend, std::optional<unsigned> batch_wait_us) {
    const std::string setting =
        batch_wait_us ? "batch_wait_us = " + std::to_string(*batch_wait_us) + "\n" : "";
    return "[global]\nworkers = 1\n" + setting + "[admin]\nbind = \"127.0.0.1:0\"\n" +
           listener_table("main", "main") + pool_table("main", {backend});
}

struct LoopCounters final {
    double passes = 0;
    double completions = 0;
    double batched = 0;
};

LoopCounters loop_counters(const AdminClient& admin) {
    const Metrics metrics = get_metrics(admin);
    const std::map<std::string, std::string> shard{{"shard", "0"}};
    return {metrics.at("ringlb_shard_loop_passes_total", shard),
            metrics.at("ringlb_shard_completions_total", shard),
            metrics.at("ringlb_shard_batched_waits_total", shard)};
}

std::string message_of(std::size_t connection, int round) {
    return "c" + std::to_string(connection) + " r" + std::to_string(round) + " " +
           std::string(40, 'x') + "\n";
}

// `rounds` rounds over `fds`: a message to every connection, then every echo read back, so
// that the worker always has all of them in flight at once.
void concurrent_rounds(const std::vector<ringlb::UniqueFd>& fds, int rounds) {
    const Deadline deadline = deadline_in(60s);
    for (int round = 0; round < rounds; ++round) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            send_all(fds[i].get(), message_of(i, round), deadline);
        }
        for (std::size_t i = 0; i < fds.size(); ++i) {
            const std::string expected = message_of(i, round);
            REQUIRE(read_exact(fds[i].get(), expected.size(), deadline) == expected);
        }
    }
}

std::vector<ringlb::UniqueFd> connect_many(std::uint16_t port, std::size_t count) {
    std::vector<ringlb::UniqueFd> fds;
    for (std::size_t i = 0; i < count; ++i) {
        fds.push_back(connect_to(port));
    }
    return fds;
}

}  // namespace

TEST_CASE("batch_wait_us: concurrent clients are served in batches, byte-exact") {
    Backend echo = start_backend("echo");
    // 2 ms: far longer than the worker needs to receive 32 messages that are all in flight.
    Ringlb lb = start_ringlb(batch_config(echo.address(), 2000));
    AdminClient admin{admin_port(*lb.process)};
    std::vector<ringlb::UniqueFd> fds = connect_many(lb.port, 32);
    const LoopCounters before = loop_counters(admin);
    concurrent_rounds(fds, 50);
    const LoopCounters after = loop_counters(admin);
    const double passes = after.passes - before.passes;
    const double per_pass = (after.completions - before.completions) / passes;
    INFO("passes " << passes << ", completions per pass " << per_pass << ", batched waits "
                   << after.batched - before.batched);
    CHECK(after.batched - before.batched > 0);
    // 32 x 50 echoes are 6,400 receives and 6,400 sends: handled one or two per wake-up
    // without batching, by the dozen with it.
    CHECK(per_pass >= 4);
    CHECK(lb.process->running());
}

TEST_CASE("batch_wait_us: a lone client's requests are never held back") {
    Backend echo = start_backend("echo");
    // 10 ms, the most allowed: a single held request would show in the counter.
    Ringlb lb = start_ringlb(batch_config(echo.address(), 10000));
    AdminClient admin{admin_port(*lb.process)};
    ringlb::UniqueFd fd = connect_to(lb.port);
    std::vector<ringlb::UniqueFd> one;
    one.push_back(std::move(fd));
    concurrent_rounds(one, 5);  // past the connect, the accept and the first bytes
    const LoopCounters before = loop_counters(admin);
    concurrent_rounds(one, 200);
    const LoopCounters after = loop_counters(admin);
    INFO("passes " << after.passes - before.passes);
    CHECK(after.passes - before.passes >= 400);  // the echoes went through this worker
    CHECK(after.batched - before.batched == 0);
}

TEST_CASE("batch_wait_us: on by default, concurrent clients are batched") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(batch_config(echo.address(), std::nullopt));
    AdminClient admin{admin_port(*lb.process)};
    std::vector<ringlb::UniqueFd> fds = connect_many(lb.port, 32);
    concurrent_rounds(fds, 20);
    CHECK(loop_counters(admin).batched > 0);
}

TEST_CASE("batch_wait_us = 0 never batches") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(batch_config(echo.address(), 0));
    AdminClient admin{admin_port(*lb.process)};
    std::vector<ringlb::UniqueFd> fds = connect_many(lb.port, 32);
    concurrent_rounds(fds, 20);
    const LoopCounters after = loop_counters(admin);
    CHECK(after.passes > 0);
    CHECK(after.batched == 0);
}
