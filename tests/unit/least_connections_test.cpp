// SPDX-License-Identifier: MIT
// Least connections: the emptiest backend relative to weight, rotating ties, full backends.
#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>
#include <vector>

#include "balance_fixture.hpp"
#include "ringlb/balance/least_connections.hpp"

namespace {

using ringlb::Balancer;
using ringlb::LeastConnections;
using ringlb::LiveSet;
using ringlb::PickContext;
using namespace ringlb::test;

// Picks and keeps the connection open, as a long-lived client would.
std::uint32_t pick_and_open(LeastConnections& balancer, BalancePool& pool) {
    const std::uint32_t position = balancer.pick(pool.set, PickContext{});
    REQUIRE(position < pool.set.entries.size());
    REQUIRE(pool.set.entries[position].state->try_acquire());
    return position;
}

}  // namespace

TEST_CASE("least connections goes to the backend with the fewest open connections") {
    BalancePool pool({{}, {}, {}});
    LeastConnections balancer;
    balancer.prepare(pool.set);
    pool.open(0, 5);
    pool.open(1, 2);
    pool.open(2, 7);
    for (int i = 0; i < 10; ++i) {
        CHECK(balancer.pick(pool.set, PickContext{}) == 1);
    }
}

TEST_CASE("least connections honours weights: weight 2 holds twice the connections") {
    BalancePool pool({{2, 0}, {1, 0}});
    LeastConnections balancer;
    for (int i = 0; i < 300; ++i) {
        pick_and_open(balancer, pool);
    }
    CHECK(pool.active(0) == 200);
    CHECK(pool.active(1) == 100);
}

TEST_CASE("a backend holding long-lived connections gets no new ones while others are emptier") {
    BalancePool pool({{}, {}, {}});
    LeastConnections balancer;
    pool.open(0, 50);
    for (int i = 0; i < 60; ++i) {
        CHECK(pick_and_open(balancer, pool) != 0);
    }
    CHECK(pool.active(0) == 50);
    CHECK(pool.active(1) == 30);
    CHECK(pool.active(2) == 30);
}

TEST_CASE("ties rotate: an idle pool spreads its connections over every backend") {
    BalancePool pool({{}, {}, {}});
    LeastConnections balancer;
    // Each connection closes at once, so every pick sees three idle backends.
    CHECK(count_rotating_picks(balancer, pool.set, 300) == std::vector<int>{100, 100, 100});
}

TEST_CASE("least connections passes over a full backend even when it is the emptiest") {
    BalancePool pool({{1, 1}, {}, {}});
    LeastConnections balancer;
    pool.open(0, 1);
    pool.open(1, 5);
    pool.open(2, 3);
    CHECK(balancer.pick(pool.set, PickContext{}) == 2);
    pool.backends[0]->max_connections.store(10);
    CHECK(balancer.pick(pool.set, PickContext{}) == 0);
}

TEST_CASE("least connections returns no pick when every backend is full or none is live") {
    BalancePool pool({{1, 2}, {3, 1}});
    LeastConnections balancer;
    pool.open(0, 2);
    pool.open(1, 1);
    CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);
    LiveSet empty;
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("least connections shared by two threads keeps the backends level") {
    BalancePool pool({{}, {}, {}});
    LeastConnections balancer;
    auto work = [&] {
        for (int i = 0; i < 15000; ++i) {
            const std::uint32_t position = balancer.pick(pool.set, PickContext{});
            if (position < 3) {
                (void)pool.set.entries[position].state->try_acquire();
            }
        }
    };
    std::thread a(work);
    std::thread b(work);
    a.join();
    b.join();
    const std::uint32_t total = pool.active(0) + pool.active(1) + pool.active(2);
    CHECK(total == 30000);
    const auto [low, high] = std::minmax({pool.active(0), pool.active(1), pool.active(2)});
    CHECK(high - low <= 16);
}
