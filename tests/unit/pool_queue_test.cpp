// SPDX-License-Identifier: MIT
// PoolQueue: tickets in arrival order, each shard's published front, the oldest of all goes
// first, a shard taking its first ticket holds the others back, and the length and counters.
#include <catch2/catch.hpp>

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "ringlb/pool/pool_queue.hpp"

using ringlb::PoolQueue;

TEST_CASE("the oldest front of all shards is served first") {
    PoolQueue queue(3);
    const std::uint64_t a = queue.join(0, true);   // shard 0's first waiter
    const std::uint64_t b = queue.join(1, true);   // shard 1's
    const std::uint64_t c = queue.join(0, false);  // shard 0's second: its front stays a
    CHECK(a < b);
    CHECK(b < c);
    CHECK(queue.length() == 3);
    CHECK(queue.queued_total.load() == 3);
    CHECK(queue.is_oldest(0, a));
    CHECK_FALSE(queue.is_oldest(1, b));
    // a served: shard 0's front becomes c, which is younger than shard 1's b.
    queue.leave(0, c);
    CHECK(queue.length() == 2);
    CHECK(queue.is_oldest(1, b));
    CHECK_FALSE(queue.is_oldest(0, c));
    queue.leave(1, PoolQueue::kNoWaiter);
    CHECK(queue.is_oldest(0, c));
    queue.leave(0, PoolQueue::kNoWaiter);
    CHECK(queue.length() == 0);
    CHECK(queue.queued_total.load() == 3);
}

TEST_CASE("a shard taking its first ticket holds every other shard back") {
    PoolQueue queue(2);
    const std::uint64_t a = queue.join(0, true);
    CHECK(queue.is_oldest(0, a));
    // What shard 1 publishes between its "joining" mark and its ticket.
    queue.row(1).front.store(PoolQueue::kJoining);
    CHECK_FALSE(queue.is_oldest(0, a));
    queue.row(1).front.store(PoolQueue::kNoWaiter);
    CHECK(queue.is_oldest(0, a));
}

TEST_CASE("tickets stay unique and the length exact when shards join and leave at once") {
    constexpr unsigned kShards = 4;
    constexpr int kEach = 20000;
    PoolQueue queue(kShards);
    std::vector<std::vector<std::uint64_t>> tickets(kShards);
    std::vector<std::thread> threads;
    for (unsigned shard = 0; shard < kShards; ++shard) {
        threads.emplace_back([&, shard] {
            for (int i = 0; i < kEach; ++i) {
                tickets[shard].push_back(queue.join(shard, true));
                queue.leave(shard, PoolQueue::kNoWaiter);
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    std::vector<std::uint64_t> all;
    for (const auto& mine : tickets) {
        all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
    CHECK(all.size() == kShards * kEach);
    CHECK(queue.length() == 0);
}

TEST_CASE("wake_others writes the eventfd of every other shard that has waiters") {
    PoolQueue queue(3);
    std::vector<int> fds;
    for (int i = 0; i < 3; ++i) {
        fds.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
        REQUIRE(fds.back() >= 0);
    }
    (void)queue.join(0, true);
    (void)queue.join(2, true);
    queue.wake_others(0, fds);
    auto woken = [&](int shard) {
        std::uint64_t value = 0;
        return ::read(fds[static_cast<std::size_t>(shard)], &value, sizeof(value)) ==
               static_cast<ssize_t>(sizeof(value));
    };
    CHECK_FALSE(woken(0));  // itself
    CHECK_FALSE(woken(1));  // no waiters
    CHECK(woken(2));
    for (int fd : fds) {
        ::close(fd);
    }
}
