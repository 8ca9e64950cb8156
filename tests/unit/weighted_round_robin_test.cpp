// SPDX-License-Identifier: MIT
// Smooth weighted round robin: exact shares, no bursts, full backends, weights with a gcd.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "balance_fixture.hpp"
#include "ringlb/balance/weighted_round_robin.hpp"

using ringlb::Balancer;
using ringlb::LiveSet;
using ringlb::PickContext;
using ringlb::WeightedRoundRobin;
using namespace ringlb::test;

TEST_CASE("weights 5:3:2 give exactly 500, 300 and 200 of 1,000 picks") {
    BalancePool pool(with_weights({5, 3, 2}));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    CHECK(pool.set.table.size() == 10);
    const std::vector<int> hits = count_picks(balancer, pool.set, 1000);
    CHECK(hits[0] == 500);
    CHECK(hits[1] == 300);
    CHECK(hits[2] == 200);
}

TEST_CASE("smooth weighted round robin interleaves instead of sending bursts") {
    BalancePool pool(with_weights({5, 3, 2}));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    // nginx's sequence for 5:3:2: the heavy backend never gets more than two in a row.
    const std::vector<std::uint32_t> expected = {0, 1, 2, 0, 0, 1, 0, 2, 1, 0};
    std::vector<std::uint32_t> sequence;
    for (int i = 0; i < 20; ++i) {
        sequence.push_back(balancer.pick(pool.set, PickContext{}));
    }
    for (std::size_t i = 0; i < sequence.size(); ++i) {
        INFO("pick " << i);
        CHECK(sequence[i] == expected[i % expected.size()]);
    }
}

TEST_CASE("equal weights never pick the same backend twice in a row") {
    BalancePool pool(with_weights({1, 1, 1}));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    CHECK(count_rotating_picks(balancer, pool.set, 300) == std::vector<int>{100, 100, 100});
}

TEST_CASE("weights with a common divisor behave like the reduced weights") {
    BalancePool reduced(with_weights({1, 2}));
    BalancePool scaled(with_weights({10, 20}));
    WeightedRoundRobin first;
    WeightedRoundRobin second;
    first.prepare(reduced.set);
    second.prepare(scaled.set);
    CHECK(scaled.set.table.size() == 3);
    CHECK(scaled.set.table == reduced.set.table);
    const std::vector<int> hits = count_picks(second, scaled.set, 300);
    CHECK(hits[0] == 100);
    CHECK(hits[1] == 200);
}

TEST_CASE("a full backend is passed over for the next one in the sequence") {
    BalancePool pool(with_weights({5, 3, 2}, 1));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    REQUIRE(pool.backends[0]->try_acquire());  // the heavy backend is now full

    const std::vector<int> hits = count_picks(balancer, pool.set, 1000);
    CHECK(hits[0] == 0);
    CHECK(hits[1] > 0);
    CHECK(hits[2] > 0);
    CHECK(hits[1] + hits[2] == 1000);

    pool.backends[0]->release();
    const std::vector<int> after = count_picks(balancer, pool.set, 1000);
    CHECK(after[0] == 500);
}

TEST_CASE("weighted round robin returns no pick when every backend is full or none is live") {
    BalancePool pool(with_weights({5, 3, 2}, 1));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    for (auto& backend : pool.backends) {
        REQUIRE(backend->try_acquire());
    }
    CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);
    pool.backends[2]->release();
    CHECK(balancer.pick(pool.set, PickContext{}) == 2);

    LiveSet empty;
    balancer.prepare(empty);
    CHECK(empty.table.empty());
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("a live set the balancer did not prepare yields no pick rather than a bad index") {
    BalancePool pool(with_weights({1, 1}));
    WeightedRoundRobin balancer;
    CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);  // no table
    pool.set.table = {7, 9};  // positions past the entries
    const std::uint32_t position = balancer.pick(pool.set, PickContext{});
    CHECK((position == Balancer::kNoPick || position < 2));
}

TEST_CASE("weighted round robin shared by two threads still gives exact shares") {
    BalancePool pool(with_weights({5, 3, 2}));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    std::vector<int> first(3);
    std::vector<int> second(3);
    auto work = [&](std::vector<int>& hits) {
        for (int i = 0; i < 10000; ++i) {
            ++hits[balancer.pick(pool.set, PickContext{})];
        }
    };
    std::thread a(work, std::ref(first));
    std::thread b(work, std::ref(second));
    a.join();
    b.join();
    CHECK(first[0] + second[0] == 10000);
    CHECK(first[1] + second[1] == 6000);
    CHECK(first[2] + second[2] == 4000);
}

TEST_CASE("a huge pool with large distinct weights is prepared quickly and keeps the ratios") {
    std::vector<unsigned> weights;
    for (int i = 0; i < 400; ++i) {
        weights.push_back(i % 2 == 0 ? 1000 : 499);
    }
    BalancePool pool(with_weights(weights));
    WeightedRoundRobin balancer;
    balancer.prepare(pool.set);
    REQUIRE(!pool.set.table.empty());
    CHECK(pool.set.table.size() < 400u * 1499u / 2u);  // shrunk, not the full 299,800
    std::vector<int> hits(weights.size());
    for (const std::uint32_t position : pool.set.table) {
        REQUIRE(position < weights.size());
        ++hits[position];
    }
    long heavy = 0;
    long light = 0;
    for (std::size_t i = 0; i < hits.size(); ++i) {
        (i % 2 == 0 ? heavy : light) += hits[i];
    }
    CHECK(static_cast<double>(heavy) / static_cast<double>(light) ==
          Approx(1000.0 / 499.0).epsilon(0.01));
}
