// SPDX-License-Identifier: MIT
// TokenBucket: the bandwidth limit of one direction of a connection.
#include "ringlb/base/token_bucket.hpp"

#include <catch2/catch.hpp>

using ringlb::TokenBucket;

namespace {
constexpr std::uint64_t kSecond = TokenBucket::kNsPerS;
}

TEST_CASE("a new bucket holds 100 ms of its rate and refills at the rate, no faster") {
    TokenBucket bucket;
    bucket.reset(1000000, 5 * kSecond);
    CHECK(bucket.depth() == 100000);
    CHECK(bucket.available(5 * kSecond) == 100000);
    bucket.take(100000);
    CHECK(bucket.available(5 * kSecond) == 0);
    CHECK(bucket.available(5 * kSecond + kSecond / 100) == 10000);  // 10 ms later
    // A long pause fills it up to its depth only.
    CHECK(bucket.available(60 * kSecond) == 100000);
}

TEST_CASE("the rate is exact over many small refills (fractions of a byte are kept)") {
    TokenBucket bucket;
    bucket.reset(3, 0);  // 3 bytes/s: depth 1 byte
    bucket.take(1);
    std::uint64_t read = 0;
    for (std::uint64_t ns = 1000; ns <= 10 * kSecond; ns += 1000) {  // every microsecond
        const std::uint64_t now = bucket.available(ns);
        bucket.take(now);
        read += now;
    }
    CHECK(read == 30);
}

TEST_CASE("an overdraft is paid back before the next read; the wait says when") {
    TokenBucket bucket;
    bucket.reset(1000, 0);  // depth 100
    bucket.take(300);       // a copy-mode receive took more than there was
    CHECK(bucket.available(0) == 0);
    // 200 bytes of debt and 64 KiB wanted (capped at the depth, 100): 300 bytes at 1000 B/s.
    CHECK(bucket.wait_ns(65536) == 300 * kSecond / 1000);
    CHECK(bucket.available(kSecond / 10) == 0);
    CHECK(bucket.available(3 * kSecond / 10) == 100);
    CHECK(bucket.wait_ns(65536) == 0);
}

TEST_CASE("an unlimited bucket says so") {
    TokenBucket bucket;
    CHECK_FALSE(bucket.limited());
    bucket.reset(0, 0);
    CHECK_FALSE(bucket.limited());
    bucket.reset(1, 0);
    CHECK(bucket.limited());
    CHECK(bucket.depth() == 1);
}
