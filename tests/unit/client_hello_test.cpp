// SPDX-License-Identifier: MIT
// parse_client_hello: server names out of ClientHellos in one record or many, every prefix
// incomplete, and malformed bytes refused at the first byte that shows it.
#include <catch2/catch.hpp>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ringlb/inspect/client_hello.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;
using ringlb::ClientHello;
using ringlb::HelloParse;

void put16(Bytes& out, std::size_t value) {
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value));
}

void append(Bytes& out, const Bytes& more) {
    out.insert(out.end(), more.begin(), more.end());
}

Bytes extension(std::size_t type, const Bytes& body) {
    Bytes out;
    put16(out, type);
    put16(out, body.size());
    append(out, body);
    return out;
}

Bytes server_name_extension(const std::string& name) {
    Bytes body;
    put16(body, name.size() + 3);
    body.push_back(0);  // host_name
    put16(body, name.size());
    body.insert(body.end(), name.begin(), name.end());
    return extension(0, body);
}

// A ClientHello handshake message (type, length, body) with these extensions.
Bytes hello_message(const Bytes& extensions, bool with_extensions = true) {
    Bytes body = {3, 3};                // legacy_version TLS 1.2
    body.insert(body.end(), 32, 0xab);  // random
    body.push_back(32);                 // session id
    body.insert(body.end(), 32, 0xcd);
    put16(body, 4);  // two cipher suites
    append(body, {0x13, 0x01, 0x13, 0x02});
    append(body, {1, 0});  // compression: null
    if (with_extensions) {
        put16(body, extensions.size());
        append(body, extensions);
    }
    Bytes message = {1, static_cast<std::uint8_t>(body.size() >> 16),
                     static_cast<std::uint8_t>(body.size() >> 8),
                     static_cast<std::uint8_t>(body.size())};
    append(message, body);
    return message;
}

// `message` in handshake records of at most `size` bytes each.
Bytes in_records(const Bytes& message, std::size_t size = 16384) {
    Bytes out;
    for (std::size_t at = 0; at < message.size(); at += size) {
        const std::size_t length = std::min(size, message.size() - at);
        append(out, {22, 3, 1});
        put16(out, length);
        out.insert(out.end(), message.begin() + static_cast<long>(at),
                   message.begin() + static_cast<long>(at + length));
    }
    return out;
}

Bytes typical(const std::string& name) {
    Bytes extensions = extension(10, {0, 2, 0, 29});  // supported_groups
    append(extensions, server_name_extension(name));
    append(extensions, extension(43, {2, 3, 4}));  // supported_versions
    return in_records(hello_message(extensions));
}

HelloParse parse(const Bytes& bytes, ClientHello& hello) {
    return ringlb::parse_client_hello(bytes, hello);
}

HelloParse parse(const Bytes& bytes) {
    ClientHello hello;
    return ringlb::parse_client_hello(bytes, hello);
}

// The verdict on each prefix of `bytes`: incomplete up to some length, then `final` on every
// longer prefix. Returns that length (the first byte that decided).
std::size_t deciding_length(const Bytes& bytes, HelloParse final) {
    std::size_t decided = bytes.size() + 1;
    for (std::size_t length = 0; length <= bytes.size(); ++length) {
        ClientHello hello;
        const HelloParse verdict =
            ringlb::parse_client_hello(std::span<const std::uint8_t>(bytes).first(length), hello);
        if (decided > bytes.size()) {
            if (verdict == HelloParse::incomplete) {
                INFO("prefix " << length);
                CHECK(hello.needed > length);
                continue;
            }
            decided = length;
        }
        INFO("prefix " << length << " after the verdict at " << decided);
        REQUIRE(verdict == final);
    }
    return decided;
}

}  // namespace

TEST_CASE("a ClientHello in one record: its server name, lower case") {
    const Bytes bytes = typical("Api.Example.COM");
    ClientHello hello;
    REQUIRE(parse(bytes, hello) == HelloParse::server_name);
    CHECK(hello.server_name() == "api.example.com");
    CHECK(hello.length == bytes.size());
    // Every proper prefix is only incomplete; the whole decides.
    CHECK(deciding_length(bytes, HelloParse::server_name) == bytes.size());
}

TEST_CASE("a ClientHello over several records, in any split") {
    Bytes extensions = extension(21, Bytes(300, 0));  // padding
    append(extensions, server_name_extension("www.example.org"));
    const Bytes message = hello_message(extensions);
    for (std::size_t size : {1, 2, 7, 64, 100, 1000}) {
        INFO("records of " << size);
        const Bytes bytes = in_records(message, size);
        ClientHello hello;
        REQUIRE(parse(bytes, hello) == HelloParse::server_name);
        CHECK(hello.server_name() == "www.example.org");
        CHECK(hello.length == bytes.size());
    }
    CHECK(deciding_length(in_records(message, 50), HelloParse::server_name) ==
          in_records(message, 50).size());
}

TEST_CASE("bytes after the ClientHello are not part of it") {
    Bytes bytes = typical("a.example");
    const std::size_t length = bytes.size();
    append(bytes, {23, 3, 3, 0, 1, 0});  // early data after it
    ClientHello hello;
    REQUIRE(parse(bytes, hello) == HelloParse::server_name);
    CHECK(hello.length == length);
}

TEST_CASE("without a server name, or without extensions at all") {
    ClientHello hello;
    CHECK(parse(in_records(hello_message(extension(10, {0, 2, 0, 29}))), hello) ==
          HelloParse::no_name);
    CHECK(parse(in_records(hello_message({}, false)), hello) == HelloParse::no_name);
}

TEST_CASE("not TLS: decided at the first byte") {
    CHECK(parse(Bytes{'G'}) == HelloParse::not_tls);
    CHECK(parse(Bytes{'G', 'E', 'T', ' '}) == HelloParse::not_tls);
    CHECK(parse(Bytes{23, 3, 3}) == HelloParse::not_tls);  // application data first
    CHECK(parse(Bytes{}) == HelloParse::incomplete);
}

TEST_CASE("malformed: refused at the first byte that shows it") {
    const Bytes good = typical("api.example.com");
    auto with = [&](std::size_t at, std::uint8_t value) {
        Bytes bytes = good;
        bytes[at] = value;
        return bytes;
    };
    // Record header: version major 2, minor 9, a length over 2^14, a zero length.
    CHECK(deciding_length(with(1, 2), HelloParse::invalid) == 2);
    CHECK(deciding_length(with(2, 9), HelloParse::invalid) == 3);
    CHECK(deciding_length(with(3, 0x41), HelloParse::invalid) == 4);
    Bytes empty_record = {22, 3, 1, 0, 0};
    CHECK(deciding_length(empty_record, HelloParse::invalid) == 5);
    // Handshake type 2 (a ServerHello) at byte 5.
    CHECK(deciding_length(with(5, 2), HelloParse::invalid) == 6);
    // legacy_version 3.4 at bytes 9-10.
    CHECK(deciding_length(with(10, 4), HelloParse::invalid) == 11);
    // A session id longer than 32 (byte 43).
    CHECK(deciding_length(with(43, 33), HelloParse::invalid) == 44);
    // A character a host name cannot hold, inside the name.
    const std::size_t name_at = good.size() - 7 - std::string("api.example.com").size() + 4;
    REQUIRE(good[name_at] == 'e');  // "api.Example"'s 'e'
    CHECK(deciding_length(with(name_at, '/'), HelloParse::invalid) == name_at + 1);
    CHECK(deciding_length(with(name_at, '.'), HelloParse::invalid) == name_at + 1);  // empty label
}

TEST_CASE("malformed lengths and duplicates are refused") {
    // The extensions' length must be the rest of the message.
    Bytes message = hello_message(server_name_extension("a.example"));
    message.push_back(0);
    message[3] = static_cast<std::uint8_t>(message[3] + 1);
    CHECK(parse(in_records(message)) == HelloParse::invalid);
    // Two server_name extensions.
    Bytes twice = server_name_extension("a.example");
    append(twice, server_name_extension("b.example"));
    CHECK(parse(in_records(hello_message(twice))) == HelloParse::invalid);
    // A trailing dot, an empty name.
    CHECK(parse(in_records(hello_message(server_name_extension("a.example.")))) ==
          HelloParse::invalid);
    CHECK(parse(in_records(hello_message(server_name_extension("")))) == HelloParse::invalid);
    // The ClientHello must end its record.
    Bytes bytes = typical("a.example");
    bytes.push_back(0);
    bytes[4] = static_cast<std::uint8_t>(bytes[4] + 1);
    CHECK(parse(bytes) == HelloParse::invalid);
}

TEST_CASE("a ClientHello over 16 KiB of records is refused as soon as it says so") {
    Bytes extensions = extension(21, Bytes(16400, 0));
    append(extensions, server_name_extension("big.example"));
    const Bytes message = hello_message(extensions);
    // In one record: its length (bytes 3-4) says more than 2^14 bytes.
    CHECK(deciding_length(in_records(message, 20000), HelloParse::invalid) == 5);
    // A record length whose first byte alone is over 2^14: refused at that byte.
    CHECK(deciding_length(Bytes{22, 3, 1, 0x41, 0}, HelloParse::invalid) == 4);
    // In one full record: it would end past 16 KiB of input (its length, byte 4).
    CHECK(deciding_length(in_records(message, 16384), HelloParse::invalid) == 5);
    // In small records: the message's own length says it cannot fit (bytes 6-8).
    CHECK(deciding_length(in_records(message, 1000), HelloParse::invalid) == 9);
}
