// SPDX-License-Identifier: MIT
// Round robin: exact spread, changing live sets, and the retry-avoids-failed-backend rule.
#include <catch2/catch.hpp>

#include <map>
#include <thread>
#include <vector>

#include "ringlb/balance/round_robin.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/epoch.hpp"

namespace {

ringlb::config::PoolConfig make_pool(int backends) {
    ringlb::config::PoolConfig pool;
    pool.name = "web";
    for (int i = 0; i < backends; ++i) {
        ringlb::config::BackendConfig backend;
        backend.address_text = "127.0.0.1:" + std::to_string(9001 + i);
        backend.address = *ringlb::SocketAddress::parse(backend.address_text);
        pool.backends.push_back(backend);
    }
    return pool;
}

}  // namespace

TEST_CASE("round robin spreads 300 picks over 3 live backends exactly 100 each") {
    ringlb::BackendPool pool(make_pool(3));
    std::map<std::uint32_t, int> hits;
    for (int i = 0; i < 300; ++i) {
        ++hits[pool.choose()];
    }
    REQUIRE(hits.size() == 3);
    CHECK(hits[0] == 100);
    CHECK(hits[1] == 100);
    CHECK(hits[2] == 100);
}

TEST_CASE("round robin shared by two threads still hands out an exact spread") {
    ringlb::BackendPool pool(make_pool(3));
    std::vector<int> first(3), second(3);
    auto work = [&pool](std::vector<int>& hits) {
        for (int i = 0; i < 30000; ++i) {
            ++hits[pool.choose()];
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

TEST_CASE("round robin only picks backends of the current live set") {
    ringlb::BackendPool pool(make_pool(3));
    ringlb::EpochDomain epochs(1);
    pool.publish({0, 2}, epochs);
    std::map<std::uint32_t, int> hits;
    for (int i = 0; i < 100; ++i) {
        ++hits[pool.choose()];
    }
    CHECK(hits.count(1) == 0);
    CHECK(hits[0] == 50);
    CHECK(hits[2] == 50);

    pool.publish({1}, epochs);
    for (int i = 0; i < 10; ++i) {
        CHECK(pool.choose() == 1);
    }
}

TEST_CASE("an empty live set yields no backend") {
    ringlb::BackendPool pool(make_pool(2));
    ringlb::EpochDomain epochs(1);
    pool.publish({}, epochs);
    CHECK(pool.choose() == ringlb::BackendPool::kNone);
}

TEST_CASE("a retry goes to the live backend after the one that failed") {
    ringlb::BackendPool pool(make_pool(3));
    CHECK(pool.next_after(0) == 1);
    CHECK(pool.next_after(1) == 2);
    CHECK(pool.next_after(2) == 0);
    ringlb::EpochDomain epochs(1);
    pool.publish({0, 2}, epochs);
    CHECK(pool.next_after(2) == 0);
    CHECK(pool.next_after(0) == 2);
    pool.publish({1}, epochs);
    CHECK(pool.next_after(1) == 1);  // the only live one is still better than none
}

TEST_CASE("retries do not consume round-robin picks") {
    ringlb::BackendPool pool(make_pool(2));
    // Backend 0 is dead: each connection that picks it retries on 1. If retries took a
    // pick, every connection would land on 0 first.
    int first_on_dead = 0;
    for (int i = 0; i < 10; ++i) {
        std::uint32_t backend = pool.choose();
        if (backend == 0) {
            ++first_on_dead;
            CHECK(pool.next_after(backend) == 1);
        }
    }
    CHECK(first_on_dead == 5);
}

TEST_CASE("a retry after a backend left the live set falls back to a fresh pick") {
    ringlb::BackendPool pool(make_pool(3));
    ringlb::EpochDomain epochs(1);
    pool.publish({0, 1}, epochs);
    for (int i = 0; i < 10; ++i) {
        CHECK(pool.next_after(2) != 2);
    }
}

TEST_CASE("a retired live set is freed only once every reader has moved on") {
    ringlb::BackendPool pool(make_pool(2));
    ringlb::EpochDomain epochs(2);
    epochs.enter(0);  // reader 0 is inside a loop pass and may hold the current set
    epochs.leave(1);  // reader 1 is asleep
    pool.publish({0}, epochs);
    CHECK(epochs.reclaim() == 1);  // reader 0 could still hold the old set
    epochs.enter(0);               // its next pass sees only the new set
    CHECK(epochs.reclaim() == 0);
    pool.publish({1}, epochs);
    epochs.leave(0);
    CHECK(epochs.reclaim() == 0);  // nobody online: freed at once
}
