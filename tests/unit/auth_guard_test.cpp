// SPDX-License-Identifier: MIT
// AuthGuard: failures per address per second, the log rate and the hold-back window.
#include "ringlb/admin/auth_guard.hpp"

#include <catch2/catch.hpp>

#include <string>

using ringlb::AuthGuard;
using ringlb::SocketAddress;

namespace {
SocketAddress at(const std::string& text) {
    auto address = SocketAddress::parse(text);
    REQUIRE(address);
    return *address;
}
}  // namespace

TEST_CASE("more than N failures within a second hold the address back until it stops") {
    AuthGuard guard(10, 2000);
    const SocketAddress a = at("192.0.2.1:1000");
    const SocketAddress b = at("192.0.2.2:1000");
    std::uint64_t now = 5000;
    for (int i = 0; i < 10; ++i) {
        CHECK_FALSE(
            guard.record_failure(a, now + static_cast<std::uint64_t>(i) * 90).started_holding);
    }
    CHECK_FALSE(guard.held(a, now + 900));
    // The 11th within the second.
    const AuthGuard::Verdict eleventh = guard.record_failure(at("192.0.2.1:2000"), now + 950);
    CHECK(eleventh.started_holding);
    CHECK(guard.held(a, now + 951));
    CHECK_FALSE(guard.held(b, now + 951));  // another address is not
    // Another port of the same address is the same client.
    CHECK(guard.held(at("192.0.2.1:3000"), now + 951));
    // Held until 2 s after the last failure; each further failure extends it.
    CHECK(guard.held(a, now + 2949));
    CHECK_FALSE(guard.record_failure(a, now + 2000).started_holding);
    CHECK(guard.held(a, now + 3999));
    CHECK_FALSE(guard.held(a, now + 4000));
}

TEST_CASE("failures spread over more than a second never hold an address back") {
    AuthGuard guard(10, 2000);
    const SocketAddress a = at("[2001:db8::1]:1");
    for (std::uint64_t i = 0; i < 100; ++i) {
        CHECK_FALSE(guard.record_failure(a, 1000 + i * 101).started_holding);
        CHECK_FALSE(guard.held(a, 1000 + i * 101));
    }
}

TEST_CASE("a failure is logged at most once a second per address, with what was left out") {
    AuthGuard guard(1000, 2000);
    const SocketAddress a = at("198.51.100.7:1");
    const SocketAddress mapped = at("[::ffff:198.51.100.7]:2");  // the same client
    const SocketAddress other = at("198.51.100.8:1");
    CHECK(guard.record_failure(a, 10000).log);
    CHECK_FALSE(guard.record_failure(a, 10100).log);
    CHECK_FALSE(guard.record_failure(mapped, 10200).log);
    CHECK(guard.record_failure(other, 10300).log);
    const AuthGuard::Verdict next = guard.record_failure(a, 11000);
    CHECK(next.log);
    CHECK(next.suppressed == 2);
}

TEST_CASE("a full table forgets the address seen longest ago") {
    AuthGuard guard(1, 2000, 2);
    const SocketAddress a = at("203.0.113.1:1");
    const SocketAddress b = at("203.0.113.2:1");
    const SocketAddress c = at("203.0.113.3:1");
    (void)guard.record_failure(a, 1000);
    (void)guard.record_failure(a, 1001);  // a is held
    (void)guard.record_failure(b, 1002);
    (void)guard.record_failure(b, 1003);  // b is held
    CHECK(guard.held(a, 1500));
    (void)guard.record_failure(c, 1004);  // replaces a, the oldest
    CHECK_FALSE(guard.held(a, 1500));
    CHECK(guard.held(b, 1500));
}
