// SPDX-License-Identifier: MIT
// CIDR blocks: what parses, what is refused, and which client addresses each block holds.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "ringlb/base/cidr.hpp"

namespace {

using ringlb::Cidr;
using ringlb::parse_cidr;

// A client address as accept() returns it: sockaddr_in or sockaddr_in6 from numeric text.
struct Client final {
    sockaddr_storage storage{};

    explicit Client(const char* text) {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
            in4->sin_family = AF_INET;
            in4->sin_port = htons(40000);
        } else {
            REQUIRE(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
            in6->sin6_family = AF_INET6;
            in6->sin6_port = htons(40000);
        }
    }
    [[nodiscard]] const sockaddr* get() const {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
};

Cidr block(const char* text) {
    auto parsed = parse_cidr(text);
    INFO(text);
    REQUIRE(parsed);
    return *parsed;
}

bool contains(const char* block_text, const char* client) {
    return ringlb::cidr_contains(block(block_text), Client(client).get());
}

}  // namespace

TEST_CASE("an IPv4 block parses into family, network bytes, prefix and text") {
    Cidr parsed = block("10.1.0.0/16");
    CHECK(parsed.family == AF_INET);
    CHECK(parsed.prefix == 16);
    CHECK(parsed.bytes[0] == 10);
    CHECK(parsed.bytes[1] == 1);
    CHECK(parsed.bytes[2] == 0);
    CHECK(parsed.bytes[3] == 0);
    CHECK(parsed.text == "10.1.0.0/16");
}

TEST_CASE("an IPv6 block parses into family, network bytes and prefix") {
    Cidr parsed = block("2001:db8::/32");
    CHECK(parsed.family == AF_INET6);
    CHECK(parsed.prefix == 32);
    CHECK(parsed.bytes[0] == 0x20);
    CHECK(parsed.bytes[1] == 0x01);
    CHECK(parsed.bytes[2] == 0x0d);
    CHECK(parsed.bytes[3] == 0xb8);
    CHECK(parsed.text == "2001:db8::/32");
}

TEST_CASE("a bare address is a single-host block") {
    CHECK(block("192.168.1.7").prefix == 32);
    CHECK(block("::1").prefix == 128);
    CHECK(block("::1").family == AF_INET6);
}

TEST_CASE("the prefix bounds are accepted") {
    CHECK(block("0.0.0.0/0").prefix == 0);
    CHECK(block("1.2.3.4/32").prefix == 32);
    CHECK(block("::/0").prefix == 0);
    CHECK(block("2001:db8::1/128").prefix == 128);
}

TEST_CASE("host bits beyond the prefix are refused") {
    CHECK_FALSE(parse_cidr("10.0.0.1/8"));
    CHECK_FALSE(parse_cidr("10.128.0.0/8"));
    CHECK_FALSE(parse_cidr("192.168.1.1/31"));
    CHECK_FALSE(parse_cidr("2001:db8::1/64"));
    CHECK_FALSE(parse_cidr("::1/0"));
    // The last network bit of an odd prefix is still part of the network.
    CHECK(parse_cidr("192.168.1.2/31"));
    CHECK(parse_cidr("10.128.0.0/9"));
}

TEST_CASE("bad prefixes and bad addresses are refused") {
    for (const char* text : {"",
                             "/8",
                             "10.0.0.0/",
                             "10.0.0.0/33",
                             "10.0.0.0/-1",
                             "10.0.0.0/+8",
                             "10.0.0.0/08",
                             "10.0.0.0/8/8",
                             "10.0.0.0/8 ",
                             " 10.0.0.0/8",
                             "10.0.0.0/1000",
                             "::/129",
                             "10.0.0/8",
                             "10.0.0.256",
                             "localhost",
                             "fe80::1%eth0/128",
                             "[::1]/128",
                             "10.0.0.0 /8",
                             "1.2.3.4/a",
                             "10.0.0.0/99999999999999999999",
                             "::ffff:1.2.3.4.5"}) {
        INFO("text: \"" << text << "\"");
        CHECK_FALSE(parse_cidr(text));
    }
}

TEST_CASE("embedded NUL bytes are refused, not truncated") {
    CHECK_FALSE(parse_cidr(std::string_view("10.0.0.0\0/8", 11)));
    CHECK_FALSE(parse_cidr(std::string_view("10.0.0.0/8\0", 11)));
}

TEST_CASE("an IPv4 block holds exactly the addresses of its prefix") {
    CHECK(contains("10.0.0.0/8", "10.0.0.1"));
    CHECK(contains("10.0.0.0/8", "10.255.255.255"));
    CHECK_FALSE(contains("10.0.0.0/8", "11.0.0.0"));
    CHECK_FALSE(contains("10.0.0.0/8", "9.255.255.255"));
    CHECK(contains("192.168.1.0/25", "192.168.1.127"));
    CHECK_FALSE(contains("192.168.1.0/25", "192.168.1.128"));
    CHECK(contains("192.168.1.7", "192.168.1.7"));
    CHECK_FALSE(contains("192.168.1.7", "192.168.1.6"));
    CHECK(contains("0.0.0.0/0", "203.0.113.9"));
}

TEST_CASE("an IPv6 block holds exactly the addresses of its prefix") {
    CHECK(contains("2001:db8::/32", "2001:db8:ffff::1"));
    CHECK_FALSE(contains("2001:db8::/32", "2001:db9::1"));
    CHECK(contains("2001:db8::/33", "2001:db8:7fff::1"));
    CHECK_FALSE(contains("2001:db8::/33", "2001:db8:8000::1"));
    CHECK(contains("::1", "::1"));
    CHECK_FALSE(contains("::1", "::2"));
}

TEST_CASE("an IPv4-mapped IPv6 client matches IPv4 blocks as its IPv4 address") {
    CHECK(contains("10.0.0.0/8", "::ffff:10.1.2.3"));
    CHECK_FALSE(contains("10.0.0.0/8", "::ffff:11.1.2.3"));
    CHECK(contains("127.0.0.1", "::ffff:127.0.0.1"));
    CHECK(contains("0.0.0.0/0", "::ffff:1.2.3.4"));
}

TEST_CASE("a plain IPv6 client never matches an IPv4 block") {
    CHECK_FALSE(contains("0.0.0.0/0", "::1"));
    CHECK_FALSE(contains("0.0.0.0/0", "2001:db8::1"));
    // The IPv4-compatible form (::a.b.c.d, deprecated) is not a mapped address.
    CHECK_FALSE(contains("10.0.0.0/8", "::10.1.2.3"));
}

TEST_CASE("an IPv4 client matches IPv6 blocks as its mapped form") {
    CHECK(contains("::ffff:0:0/96", "10.1.2.3"));
    CHECK(contains("::/0", "10.1.2.3"));
    CHECK_FALSE(contains("2001:db8::/32", "10.1.2.3"));
}

TEST_CASE("an address of another family, or none, matches nothing") {
    sockaddr_storage unix_address{};
    unix_address.ss_family = AF_UNIX;
    const auto* other = reinterpret_cast<const sockaddr*>(&unix_address);
    CHECK_FALSE(ringlb::cidr_contains(block("0.0.0.0/0"), other));
    CHECK_FALSE(ringlb::cidr_contains(block("::/0"), other));
    CHECK_FALSE(ringlb::cidr_contains(block("0.0.0.0/0"), nullptr));
}

TEST_CASE("any_contains is true when one block of the list holds the address") {
    std::vector<Cidr> blocks{block("10.0.0.0/8"), block("2001:db8::/32"), block("192.168.0.0/16")};
    CHECK(ringlb::any_contains(blocks, Client("192.168.3.4").get()));
    CHECK(ringlb::any_contains(blocks, Client("2001:db8::5").get()));
    CHECK(ringlb::any_contains(blocks, Client("::ffff:10.9.9.9").get()));
    CHECK_FALSE(ringlb::any_contains(blocks, Client("172.16.0.1").get()));
    CHECK_FALSE(ringlb::any_contains({}, Client("10.0.0.1").get()));
}
