// SPDX-License-Identifier: MIT
// Least connections: the emptiest backend relative to weight, rotating ties, full backends.
#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringlb/balance/least_connections.hpp"

namespace {

using ringlb::Backend;
using ringlb::Balancer;
using ringlb::LeastConnections;
using ringlb::LiveSet;
using ringlb::PickContext;

struct BackendSpec {
    unsigned weight = 1;
    unsigned max_connections = 0;
};

// Backends on 127.0.0.1:9001.., and the live set that lists them all.
struct Pool {
    std::vector<std::unique_ptr<Backend>> backends;
    LiveSet set;

    explicit Pool(const std::vector<BackendSpec>& specs) {
        for (std::size_t i = 0; i < specs.size(); ++i) {
            ringlb::config::BackendConfig config;
            config.address_text = "127.0.0.1:" + std::to_string(9001 + i);
            config.address = *ringlb::SocketAddress::parse(config.address_text);
            config.weight = specs[i].weight;
            config.max_connections = specs[i].max_connections;
            backends.push_back(std::make_unique<Backend>(config, "web"));
            set.entries.push_back(ringlb::LiveEntry{static_cast<std::uint32_t>(i), specs[i].weight,
                                                    backends.back().get()});
        }
    }

    void open(std::size_t backend, int connections) {
        for (int i = 0; i < connections; ++i) {
            REQUIRE(backends[backend]->try_acquire());
        }
    }
    [[nodiscard]] std::uint32_t active(std::size_t backend) const {
        return backends[backend]->active.load();
    }
};

// Picks and keeps the connection open, as a long-lived client would.
std::uint32_t pick_and_open(LeastConnections& balancer, Pool& pool) {
    const std::uint32_t position = balancer.pick(pool.set, PickContext{});
    REQUIRE(position < pool.set.entries.size());
    REQUIRE(pool.set.entries[position].state->try_acquire());
    return position;
}

}  // namespace

TEST_CASE("least connections goes to the backend with the fewest open connections") {
    Pool pool({{}, {}, {}});
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
    Pool pool({{2, 0}, {1, 0}});
    LeastConnections balancer;
    for (int i = 0; i < 300; ++i) {
        pick_and_open(balancer, pool);
    }
    CHECK(pool.active(0) == 200);
    CHECK(pool.active(1) == 100);
}

TEST_CASE("a backend holding long-lived connections gets no new ones while others are emptier") {
    Pool pool({{}, {}, {}});
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
    Pool pool({{}, {}, {}});
    LeastConnections balancer;
    std::vector<int> hits(3);
    std::uint32_t previous = Balancer::kNoPick;
    for (int i = 0; i < 300; ++i) {
        // Each connection closes at once, so every pick sees three idle backends.
        const std::uint32_t position = balancer.pick(pool.set, PickContext{});
        REQUIRE(position < 3);
        CHECK(position != previous);
        previous = position;
        ++hits[position];
    }
    CHECK(hits == std::vector<int>{100, 100, 100});
}

TEST_CASE("least connections passes over a full backend even when it is the emptiest") {
    Pool pool({{1, 1}, {}, {}});
    LeastConnections balancer;
    pool.open(0, 1);
    pool.open(1, 5);
    pool.open(2, 3);
    CHECK(balancer.pick(pool.set, PickContext{}) == 2);
    pool.backends[0]->max_connections.store(10);
    CHECK(balancer.pick(pool.set, PickContext{}) == 0);
}

TEST_CASE("least connections returns no pick when every backend is full or none is live") {
    Pool pool({{1, 2}, {3, 1}});
    LeastConnections balancer;
    pool.open(0, 2);
    pool.open(1, 1);
    CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);
    LiveSet empty;
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("least connections shared by two threads keeps the backends level") {
    Pool pool({{}, {}, {}});
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
