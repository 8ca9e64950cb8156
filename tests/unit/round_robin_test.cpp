// SPDX-License-Identifier: MIT
// Round robin: exact rotation, full backends, changing live sets, retries, and the factory.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringlb/balance/least_connections.hpp"
#include "ringlb/balance/maglev.hpp"
#include "ringlb/balance/random_two.hpp"
#include "ringlb/balance/round_robin.hpp"
#include "ringlb/balance/weighted_round_robin.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/epoch.hpp"

namespace {

using ringlb::Backend;
using ringlb::BackendPool;
using ringlb::Balancer;
using ringlb::LiveSet;
using ringlb::PickContext;
using ringlb::RoundRobin;

ringlb::config::PoolConfig make_config(int backends, unsigned max_connections = 0) {
    ringlb::config::PoolConfig pool;
    pool.name = "web";
    for (int i = 0; i < backends; ++i) {
        ringlb::config::BackendConfig backend;
        backend.address_text = "127.0.0.1:" + std::to_string(9001 + i);
        backend.address = *ringlb::SocketAddress::parse(backend.address_text);
        backend.max_connections = max_connections;
        pool.backends.push_back(backend);
    }
    return pool;
}

std::vector<std::shared_ptr<Backend>> make_backends(const ringlb::config::PoolConfig& pool) {
    std::vector<std::shared_ptr<Backend>> backends;
    for (const auto& config : pool.backends) {
        backends.push_back(std::make_shared<Backend>(config, pool.name));
    }
    return backends;
}

// A live set of every backend, as a pool with all of them healthy would publish.
void fill(LiveSet& set, const std::vector<std::shared_ptr<Backend>>& backends) {
    for (std::uint32_t i = 0; i < backends.size(); ++i) {
        set.entries.push_back(ringlb::LiveEntry{i, 1, backends[i].get()});
    }
}

}  // namespace

TEST_CASE("round robin spreads 300 picks over 3 live backends exactly 100 each") {
    const auto backends = make_backends(make_config(3));
    LiveSet set;
    fill(set, backends);
    RoundRobin balancer;
    balancer.prepare(set);
    std::vector<int> hits(3);
    std::uint32_t previous = Balancer::kNoPick;
    for (int i = 0; i < 300; ++i) {
        const std::uint32_t position = balancer.pick(set, PickContext{});
        REQUIRE(position < 3);
        CHECK(position != previous);
        previous = position;
        ++hits[position];
    }
    CHECK(hits == std::vector<int>{100, 100, 100});
}

TEST_CASE("round robin shared by two threads still hands out an exact spread") {
    const auto backends = make_backends(make_config(3));
    LiveSet set;
    fill(set, backends);
    RoundRobin balancer;
    std::vector<int> first(3);
    std::vector<int> second(3);
    auto work = [&](std::vector<int>& hits) {
        for (int i = 0; i < 30000; ++i) {
            ++hits[balancer.pick(set, PickContext{})];
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
    const auto backends = make_backends(make_config(3, 1));
    LiveSet set;
    fill(set, backends);
    RoundRobin balancer;
    REQUIRE(backends[1]->try_acquire());
    std::vector<int> hits(3);
    for (int i = 0; i < 300; ++i) {
        ++hits[balancer.pick(set, PickContext{})];
    }
    CHECK(hits[1] == 0);
    CHECK(hits[0] == 100);
    CHECK(hits[2] == 200);  // the full backend's turn passes to the next one

    backends[1]->release();
    hits.assign(3, 0);
    for (int i = 0; i < 300; ++i) {
        ++hits[balancer.pick(set, PickContext{})];
    }
    CHECK(hits == std::vector<int>{100, 100, 100});
}

TEST_CASE("round robin returns no pick when every backend is full or none is live") {
    const auto backends = make_backends(make_config(2, 1));
    LiveSet set;
    fill(set, backends);
    RoundRobin balancer;
    REQUIRE(backends[0]->try_acquire());
    REQUIRE(backends[1]->try_acquire());
    CHECK(balancer.pick(set, PickContext{}) == Balancer::kNoPick);
    LiveSet empty;
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("a pool only picks backends of its current live set") {
    const auto config = make_config(3);
    const auto backends = make_backends(config);
    BackendPool pool(config, backends, 0);
    ringlb::EpochDomain epochs(1);
    backends[1]->healthy.store(false);
    pool.refresh(1, epochs);
    std::vector<int> hits(3);
    for (int i = 0; i < 100; ++i) {
        const std::uint32_t backend = pool.acquire(PickContext{});
        REQUIRE(backend < 3);
        ++hits[backend];
        pool.backend(backend).release();
    }
    CHECK(hits == std::vector<int>{50, 0, 50});

    backends[0]->healthy.store(false);
    backends[2]->state.store(ringlb::config::BackendState::drain);
    backends[1]->healthy.store(true);
    pool.refresh(2, epochs);
    for (int i = 0; i < 10; ++i) {
        CHECK(pool.acquire(PickContext{}) == 1);
    }
    CHECK(backends[1]->active.load() == 10);
}

TEST_CASE("a pool with no live backend yields none") {
    const auto config = make_config(2);
    const auto backends = make_backends(config);
    BackendPool pool(config, backends, 0);
    ringlb::EpochDomain epochs(1);
    for (const auto& backend : backends) {
        backend->healthy.store(false);
    }
    pool.refresh(1, epochs);
    CHECK(pool.acquire(PickContext{}) == BackendPool::kNone);
}

TEST_CASE("a retry goes to the live backend after the one that failed") {
    const auto config = make_config(3);
    const auto backends = make_backends(config);
    BackendPool pool(config, backends, 0);
    CHECK(pool.acquire_after(0, PickContext{}) == 1);
    CHECK(pool.acquire_after(1, PickContext{}) == 2);
    CHECK(pool.acquire_after(2, PickContext{}) == 0);
    ringlb::EpochDomain epochs(1);
    backends[1]->healthy.store(false);
    pool.refresh(1, epochs);
    CHECK(pool.acquire_after(2, PickContext{}) == 0);
    CHECK(pool.acquire_after(0, PickContext{}) == 2);
    backends[0]->healthy.store(false);
    backends[2]->healthy.store(false);
    backends[1]->healthy.store(true);
    pool.refresh(2, epochs);
    // The only live one is still better than none.
    CHECK(pool.acquire_after(1, PickContext{}) == 1);
}

TEST_CASE("retries do not consume round-robin picks") {
    const auto config = make_config(2);
    const auto backends = make_backends(config);
    BackendPool pool(config, backends, 0);
    // Backend 0 is dead but still listed: each connection that picks it retries on 1. If
    // retries took a pick, every connection would land on 0 first.
    int first_on_dead = 0;
    for (int i = 0; i < 10; ++i) {
        const std::uint32_t backend = pool.acquire(PickContext{});
        if (backend == 0) {
            ++first_on_dead;
            pool.backend(0).release();
            CHECK(pool.acquire_after(0, PickContext{}) == 1);
        }
    }
    CHECK(first_on_dead == 5);
}

TEST_CASE("a retry after a backend left the live set falls back to a fresh pick") {
    const auto config = make_config(3);
    const auto backends = make_backends(config);
    BackendPool pool(config, backends, 0);
    ringlb::EpochDomain epochs(1);
    backends[2]->healthy.store(false);
    pool.refresh(1, epochs);
    for (int i = 0; i < 10; ++i) {
        CHECK(pool.acquire_after(2, PickContext{}) != 2);
    }
}

TEST_CASE("a retired live set is freed only once every reader has moved on") {
    const auto config = make_config(2);
    const auto backends = make_backends(config);
    BackendPool pool(config, backends, 0);
    ringlb::EpochDomain epochs(2);
    epochs.enter(0);  // reader 0 is inside a loop pass and may hold the current set
    epochs.leave(1);  // reader 1 is asleep
    backends[1]->healthy.store(false);
    pool.refresh(1, epochs);
    CHECK(epochs.reclaim() == 1);  // reader 0 could still hold the old set
    epochs.enter(0);               // its next pass sees only the new set
    CHECK(epochs.reclaim() == 0);
    backends[1]->healthy.store(true);
    pool.refresh(2, epochs);
    epochs.leave(0);
    CHECK(epochs.reclaim() == 0);  // nobody online: freed at once
}

TEST_CASE("make_balancer builds the algorithm each pool names") {
    using ringlb::config::Algorithm;
    auto config = make_config(3);
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
        auto config = make_config(3, 2);
        config.algorithm = algorithm;
        const auto backends = make_backends(config);
        BackendPool pool(config, backends, 0);
        for (int i = 0; i < 6; ++i) {
            CHECK(pool.acquire(PickContext{static_cast<std::uint64_t>(i) * 977}) <
                  BackendPool::kNone);
        }
        CHECK(pool.acquire(PickContext{}) == BackendPool::kNone);
        for (const auto& backend : backends) {
            CHECK(backend->active.load() == 2);
        }
    }
}
