// SPDX-License-Identifier: MIT
// Power of two random choices: even spread, loaded backends avoided, full backends skipped.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringlb/balance/random_two.hpp"

namespace {

using ringlb::Backend;
using ringlb::Balancer;
using ringlb::LiveSet;
using ringlb::PickContext;
using ringlb::RandomTwo;

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

// `picks` picks whose connections close at once (nothing is acquired).
std::vector<int> count_picks(RandomTwo& balancer, const Pool& pool, int picks) {
    std::vector<int> hits(pool.set.entries.size());
    for (int i = 0; i < picks; ++i) {
        const std::uint32_t position = balancer.pick(pool.set, PickContext{});
        REQUIRE(position < hits.size());
        ++hits[position];
    }
    return hits;
}

}  // namespace

TEST_CASE("random two spreads short connections evenly over equal backends") {
    Pool pool({{}, {}, {}});
    RandomTwo balancer;
    const std::vector<int> hits = count_picks(balancer, pool, 30000);
    for (const int hit : hits) {
        CHECK(hit >= 8500);
        CHECK(hit <= 11500);
    }
}

TEST_CASE("random two sends nothing to a backend loaded with 100 connections") {
    Pool pool({{}, {}, {}});
    RandomTwo balancer;
    pool.open(0, 100);

    SECTION("short connections: the others stay idle") {
        const std::vector<int> hits = count_picks(balancer, pool, 1000);
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
    Pool pool({{3, 0}, {1, 0}});
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
    Pool pool({{1, 1}, {1, 1}, {}});
    RandomTwo balancer;
    pool.open(0, 1);
    pool.open(1, 1);
    // A third of the picks draw the two full backends and must fall back to the scan.
    const std::vector<int> hits = count_picks(balancer, pool, 3000);
    CHECK(hits[2] == 3000);

    pool.backends[1]->release();
    const std::vector<int> after = count_picks(balancer, pool, 3000);
    CHECK(after[0] == 0);
    CHECK(after[1] > 0);
    CHECK(after[2] > 0);
}

TEST_CASE("random two returns no pick when every backend is full or none is live") {
    Pool pool({{1, 1}, {1, 1}, {1, 1}});
    RandomTwo balancer;
    for (std::size_t i = 0; i < 3; ++i) {
        pool.open(i, 1);
    }
    for (int i = 0; i < 100; ++i) {
        CHECK(balancer.pick(pool.set, PickContext{}) == Balancer::kNoPick);
    }
    LiveSet empty;
    CHECK(balancer.pick(empty, PickContext{}) == Balancer::kNoPick);

    Pool single({{1, 1}});
    CHECK(balancer.pick(single.set, PickContext{}) == 0);
    single.open(0, 1);
    CHECK(balancer.pick(single.set, PickContext{}) == Balancer::kNoPick);
}

TEST_CASE("each thread draws its own random sequence") {
    Pool pool({{}, {}, {}, {}, {}, {}, {}, {}});
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
