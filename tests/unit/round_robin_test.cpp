// SPDX-License-Identifier: MIT
// Round robin: exact rotation, full backends, changing live sets, retries, and the factory.
#include <catch2/catch.hpp>

#include <memory>
#include <thread>
#include <vector>

#include "balance_fixture.hpp"
#include "ringlb/balance/least_connections.hpp"
#include "ringlb/balance/maglev.hpp"
#include "ringlb/balance/random_two.hpp"
#include "ringlb/balance/round_robin.hpp"
#include "ringlb/balance/weighted_round_robin.hpp"
#include "ringlb/base/epoch.hpp"
#include "ringlb/pool/backend_pool.hpp"

using ringlb::BackendPool;
using ringlb::Balancer;
using ringlb::LiveSet;
using ringlb::PickContext;
using ringlb::RoundRobin;
using namespace ringlb::test;

TEST_CASE("round robin spreads 300 picks over 3 live backends exactly 100 each") {
    BalancePool pool({{}, {}, {}});
    RoundRobin balancer;
    balancer.prepare(pool.set);
    CHECK(count_rotating_picks(balancer, pool.set, 300) == std::vector<int>{100, 100, 100});
}

TEST_CASE("round robin shared by two threads still hands out an exact spread") {
    BalancePool pool({{}, {}, {}});
    RoundRobin balancer;
    std::vector<int> first(3);
    std::vector<int> second(3);
    auto work = [&](std::vector<int>& hits) {
        for (int i = 0; i < 30000; ++i) {
            ++hits[balancer.pick(pool.set, PickContext{})];
        }
    };
    std::thread a(work, std::ref(first));
    std::thread b(work, std::ref(second));
    a.join();
    b.join();
    for (int i = 0; i < 3; ++i) {
        CHECK(first[i] + second[i] == 20000);
    }
}

TEST_CASE("round robin skips a full backend and uses it again once it has room") {
    BalancePool pool(with_weights({1, 1, 1}, 1));
    RoundRobin balancer;
    pool.open(1, 1);
    const std::vector<int> hits = count_picks(balancer, pool.set, 300);
    CHECK(hits[1] == 0);
    CHECK(hits[0] == 100);
    CHECK(hits[2] == 200);  // the full backend's turn passes to the next one

    pool.backends[1]->release();
    CHECK(count_picks(balancer, pool.set, 300) == std::vector<int>{100, 100, 100});
}

TEST_CASE("round robin returns no pick when every backend is full or none is live") {
    BalancePool pool(with_weights({1, 1}, 1));
    RoundRobin balancer;
    pool.open(0, 1);
    pool.open(1, 1);
    CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);
    LiveSet empty;
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("a pool only picks backends of its current live set") {
    const auto config = pool_config(3);
    const auto backends = make_backends(config);
    BalancedPool pool(config, backends);
    ringlb::EpochDomain epochs(1);
    backends[1]->healthy.store(false);
    pool.pool.refresh(1, epochs);
    std::vector<int> hits(3);
    for (int i = 0; i < 100; ++i) {
        const std::uint32_t backend = pool.acquire();
        REQUIRE(backend < 3);
        ++hits[backend];
        pool.backends[backend]->release();
    }
    CHECK(hits == std::vector<int>{50, 0, 50});

    backends[0]->healthy.store(false);
    backends[2]->state.store(ringlb::config::BackendState::drain);
    backends[1]->healthy.store(true);
    pool.pool.refresh(2, epochs);
    for (int i = 0; i < 10; ++i) {
        CHECK(pool.acquire() == 1);
    }
    CHECK(backends[1]->active.load() == 10);
}

TEST_CASE("a pool with no live backend yields none") {
    const auto config = pool_config(2);
    const auto backends = make_backends(config);
    BalancedPool pool(config, backends);
    ringlb::EpochDomain epochs(1);
    for (const auto& backend : backends) {
        backend->healthy.store(false);
    }
    pool.pool.refresh(1, epochs);
    CHECK(pool.acquire() == kNone);
}

TEST_CASE("a retry goes to the live backend after the one that failed") {
    const auto config = pool_config(3);
    const auto backends = make_backends(config);
    BalancedPool pool(config, backends);
    CHECK(pool.acquire_after(0) == 1);
    CHECK(pool.acquire_after(1) == 2);
    CHECK(pool.acquire_after(2) == 0);
    ringlb::EpochDomain epochs(1);
    backends[1]->healthy.store(false);
    pool.pool.refresh(1, epochs);
    CHECK(pool.acquire_after(2) == 0);
    CHECK(pool.acquire_after(0) == 2);
    backends[0]->healthy.store(false);
    backends[2]->healthy.store(false);
    backends[1]->healthy.store(true);
    pool.pool.refresh(2, epochs);
    // The only live one is still better than none.
    CHECK(pool.acquire_after(1) == 1);
}

TEST_CASE("retries do not consume round-robin picks") {
    const auto config = pool_config(2);
    const auto backends = make_backends(config);
    BalancedPool pool(config, backends);
    // Backend 0 is dead but still listed: each connection that picks it retries on 1. If
    // retries took a pick, every connection would land on 0 first.
    int first_on_dead = 0;
    for (int i = 0; i < 10; ++i) {
        const std::uint32_t backend = pool.acquire();
        if (backend == 0) {
            ++first_on_dead;
            pool.backends[0]->release();
            CHECK(pool.acquire_after(0) == 1);
        }
    }
    CHECK(first_on_dead == 5);
}

TEST_CASE("a retry after a backend left the live set falls back to a fresh pick") {
    const auto config = pool_config(3);
    const auto backends = make_backends(config);
    BalancedPool pool(config, backends);
    ringlb::EpochDomain epochs(1);
    backends[2]->healthy.store(false);
    pool.pool.refresh(1, epochs);
    for (int i = 0; i < 10; ++i) {
        CHECK(pool.acquire_after(2) != 2);
    }
}

TEST_CASE("a retired live set is freed only once every reader has moved on") {
    const auto config = pool_config(2);
    const auto backends = make_backends(config);
    BalancedPool pool(config, backends);
    ringlb::EpochDomain epochs(2);
    epochs.enter(0);  // reader 0 is inside a loop pass and may hold the current set
    epochs.leave(1);  // reader 1 is asleep
    backends[1]->healthy.store(false);
    pool.pool.refresh(1, epochs);
    CHECK(epochs.reclaim() == 1);  // reader 0 could still hold the old set
    epochs.enter(0);               // its next pass sees only the new set
    CHECK(epochs.reclaim() == 0);
    backends[1]->healthy.store(true);
    pool.pool.refresh(2, epochs);
    epochs.leave(0);
    CHECK(epochs.reclaim() == 0);  // nobody online: freed at once
}

TEST_CASE("make_balancer builds the algorithm each pool names") {
    using ringlb::config::Algorithm;
    auto config = pool_config(3);
    auto built = [&config](Algorithm algorithm) {
        config.algorithm = algorithm;
        return ringlb::make_balancer(config);
    };
    CHECK(dynamic_cast<RoundRobin*>(built(Algorithm::round_robin).get()) != nullptr);
    CHECK(dynamic_cast<ringlb::WeightedRoundRobin*>(built(Algorithm::weighted_round_robin).get()) !=
          nullptr);
    CHECK(dynamic_cast<ringlb::LeastConnections*>(built(Algorithm::least_connections).get()) !=
          nullptr);
    CHECK(dynamic_cast<ringlb::RandomTwo*>(built(Algorithm::random_two).get()) != nullptr);
    CHECK(dynamic_cast<ringlb::Maglev*>(built(Algorithm::maglev).get()) != nullptr);
    CHECK_THROWS_AS(built(static_cast<Algorithm>(99)), std::invalid_argument);
}

TEST_CASE("every algorithm picks a backend with room through a pool, and none when all are full") {
    using ringlb::config::Algorithm;
    for (const Algorithm algorithm :
         {Algorithm::round_robin, Algorithm::weighted_round_robin, Algorithm::least_connections,
          Algorithm::random_two, Algorithm::maglev}) {
        INFO("algorithm " << ringlb::config::algorithm_name(algorithm));
        auto config = pool_config(3, 2);
        config.algorithm = algorithm;
        const auto backends = make_backends(config);
        BalancedPool pool(config, backends);
        for (int i = 0; i < 6; ++i) {
            CHECK(pool.acquire(PickContext{static_cast<std::uint64_t>(i) * 977}) < kNone);
        }
        CHECK(pool.acquire() == kNone);
        for (const auto& backend : backends) {
            CHECK(backend->active.load() == 2);
        }
    }
}
