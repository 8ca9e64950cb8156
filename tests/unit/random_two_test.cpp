// SPDX-License-Identifier: MIT
// Power of two random choices: even spread, loaded backends avoided, full backends skipped.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "balance_fixture.hpp"
#include "ringlb/balance/random_two.hpp"

using ringlb::Balancer;
using ringlb::LiveSet;
using ringlb::PickContext;
using ringlb::RandomTwo;
using namespace ringlb::test;

TEST_CASE("random two spreads short connections evenly over equal backends") {
    BalancePool pool({{}, {}, {}});
    RandomTwo balancer;
    const std::vector<int> hits = count_picks(balancer, pool.set, 30000);
    for (const int hit : hits) {
        CHECK(hit >= 8500);
        CHECK(hit <= 11500);
    }
}

TEST_CASE("random two sends nothing to a backend loaded with 100 connections") {
    BalancePool pool({{}, {}, {}});
    RandomTwo balancer;
    pool.open(0, 100);

    SECTION("short connections: the others stay idle") {
        const std::vector<int> hits = count_picks(balancer, pool.set, 1000);
        CHECK(hits[0] == 0);
        CHECK(hits[1] > 300);
        CHECK(hits[2] > 300);
    }
    SECTION("connections kept open: the others stay below 100") {
        for (int i = 0; i < 90; ++i) {
            const std::uint32_t position = balancer.pick(pool.set, PickContext{});
            REQUIRE(position < 3);
            CHECK(position != 0);
            REQUIRE(pool.set.entries[position].state->try_acquire());
        }
        CHECK(pool.active(0) == 100);
    }
}

TEST_CASE("random two compares load relative to weight") {
    BalancePool pool({{3, 0}, {1, 0}});
    RandomTwo balancer;
    for (int i = 0; i < 400; ++i) {
        const std::uint32_t position = balancer.pick(pool.set, PickContext{});
        REQUIRE(position < 2);
        REQUIRE(pool.set.entries[position].state->try_acquire());
    }
    // With two backends both are always the candidates: least connections by weight.
    CHECK(pool.active(0) >= 299);
    CHECK(pool.active(0) <= 301);
}

TEST_CASE("random two skips full backends, also when both candidates are full") {
    BalancePool pool({{1, 1}, {1, 1}, {}});
    RandomTwo balancer;
    pool.open(0, 1);
    pool.open(1, 1);
    // A third of the picks draw the two full backends and must fall back to the scan.
    const std::vector<int> hits = count_picks(balancer, pool.set, 3000);
    CHECK(hits[2] == 3000);

    pool.backends[1]->release();
    const std::vector<int> after = count_picks(balancer, pool.set, 3000);
    CHECK(after[0] == 0);
    CHECK(after[1] > 0);
    CHECK(after[2] > 0);
}

TEST_CASE("random two returns no pick when every backend is full or none is live") {
    BalancePool pool({{1, 1}, {1, 1}, {1, 1}});
    RandomTwo balancer;
    for (std::size_t i = 0; i < 3; ++i) {
        pool.open(i, 1);
    }
    for (int i = 0; i < 100; ++i) {
        CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);
    }
    LiveSet empty;
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);

    BalancePool single({{1, 1}});
    CHECK(balancer.pick(single.set, PickContext{}) == 0);
    single.open(0, 1);
    CHECK(balancer.pick(single.set, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("each thread draws its own random sequence") {
    BalancePool pool({{}, {}, {}, {}, {}, {}, {}, {}});
    RandomTwo balancer;
    std::vector<std::uint32_t> first;
    std::vector<std::uint32_t> second;
    auto work = [&](std::vector<std::uint32_t>& picks) {
        for (int i = 0; i < 5000; ++i) {
            picks.push_back(balancer.pick(pool.set, PickContext{}));
        }
    };
    std::thread a(work, std::ref(first));
    std::thread b(work, std::ref(second));
    a.join();
    b.join();
    CHECK(first != second);
    std::vector<int> hits(8);
    for (const auto& picks : {first, second}) {
        for (const std::uint32_t position : picks) {
            REQUIRE(position < 8);
            ++hits[position];
        }
    }
    for (const int hit : hits) {
        CHECK(hit > 1250 - 300);
        CHECK(hit < 1250 + 300);
    }
}
