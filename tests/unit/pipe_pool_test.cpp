// SPDX-License-Identifier: MIT
// The per-shard pipe pool: reuse, the limit, dirty pipes, and trimming after a burst.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cerrno>
#include <vector>

#include "ringlb/io/pipe_pool.hpp"

TEST_CASE("a released empty pipe is handed out again instead of a new one") {
    ringlb::PipePool pool(1, 8, 0);
    ringlb::Pipe first;
    REQUIRE(pool.acquire(first) == 0);
    const int read_fd = first.read_fd;
    pool.release(first, true);
    CHECK_FALSE(first.valid());
    ringlb::Pipe second;
    REQUIRE(pool.acquire(second) == 0);
    CHECK(second.read_fd == read_fd);
    CHECK(pool.open() == 1);
    pool.release(second, true);
}

TEST_CASE("a pipe that still holds bytes is closed, never reused") {
    ringlb::PipePool pool(0, 8, 0);
    ringlb::Pipe pipe;
    REQUIRE(pool.acquire(pipe) == 0);
    REQUIRE(::write(pipe.write_fd, "stale", 5) == 5);
    pool.release(pipe, false);
    CHECK(pool.open() == 0);
    CHECK(pool.idle() == 0);
}

TEST_CASE("no more pipes than the limit exist at once") {
    ringlb::PipePool pool(0, 2, 0);
    ringlb::Pipe a, b, c;
    REQUIRE(pool.acquire(a) == 0);
    REQUIRE(pool.acquire(b) == 0);
    CHECK(pool.acquire(c) == -ENOSPC);
    pool.release(a, true);
    CHECK(pool.acquire(c) == 0);
    pool.release(b, true);
    pool.release(c, true);
}

TEST_CASE("after a burst, trimming closes the pipes nobody needed down to the initial count") {
    ringlb::PipePool pool(4, 64, 0);
    std::vector<ringlb::Pipe> burst(20);
    for (auto& pipe : burst) {
        REQUIRE(pool.acquire(pipe) == 0);
    }
    CHECK(pool.open() == 20);
    for (auto& pipe : burst) {
        pool.release(pipe, true);
    }
    pool.trim();  // the burst needed them all during this interval: keep them
    CHECK(pool.open() == 20);
    pool.trim();  // a whole interval without use: back to the initial four
    CHECK(pool.open() == 4);
    CHECK(pool.idle() == 4);
}

TEST_CASE("a steady load keeps the pipes it uses across trims") {
    ringlb::PipePool pool(2, 64, 0);
    std::vector<ringlb::Pipe> held(6);
    for (auto& pipe : held) {
        REQUIRE(pool.acquire(pipe) == 0);
    }
    for (int round = 0; round < 3; ++round) {
        for (auto& pipe : held) {
            pool.release(pipe, true);
        }
        for (auto& pipe : held) {
            REQUIRE(pool.acquire(pipe) == 0);
        }
        pool.trim();
        CHECK(pool.open() == 6);
    }
    for (auto& pipe : held) {
        pool.release(pipe, true);
    }
}
