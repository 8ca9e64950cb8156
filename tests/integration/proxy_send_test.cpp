// SPDX-License-Identifier: MIT
// pool.send_proxy: the PROXY v1/v2 header reaches the backend before any client byte, byte-exact.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "proxy_header.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

TEST_CASE("send_proxy v1: the exact TCP4 line arrives before the client's bytes") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).pool("send_proxy = \"v1\"").text());
    INFO("ringlb output:\n" << lb.process->tail());

    // Two connections, each header naming its own client port.
    for (int i = 0; i < 2; ++i) {
        UniqueFd client = connect_to(lb.port);
        const std::string expected = fmt::format("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n",
                                                 local_port(client.get()), lb.port);
        // Nothing sent yet: the header alone must come back, so ringlb wrote it on connect.
        const Deadline deadline = deadline_in(3s);
        CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
        const std::string payload = "hello, backend " + std::to_string(i);
        send_all(client.get(), payload, deadline);
        CHECK(read_exact(client.get(), payload.size(), deadline) == payload);
        shutdown_write(client.get());
        const ReadResult rest = read_until_close(client.get(), deadline);
        CHECK(rest.eof);
        CHECK(rest.data.empty());
    }
}

TEST_CASE("send_proxy v1: bytes sent at once with the connect follow the header intact") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).pool("send_proxy = \"v1\"").text());
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port);
    const std::string expected =
        fmt::format("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n", local_port(client.get()), lb.port);
    // Bytes sent straight away, most likely before the backend connect completes: the header
    // must still come first and the bytes must follow it unchanged.
    const Deadline deadline = deadline_in(5s);
    const std::string sent = stream_slice(7, 0, 64 * 1024);
    send_all(client.get(), sent, deadline);
    CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
    CHECK(read_exact(client.get(), sent.size(), deadline) == sent);
}

TEST_CASE("send_proxy v2 over IPv4: the header equals the specification's layout byte for byte") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).pool("send_proxy = \"v2\"").text());
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port);
    const std::string expected =
        proxy_v2("127.0.0.1", local_port(client.get()), "127.0.0.1", lb.port);
    REQUIRE(expected.size() == 28);
    const Deadline deadline = deadline_in(3s);
    const std::string header = read_exact(client.get(), expected.size(), deadline);
    CHECK(hex(header) == hex(expected));

    // Then a bulk transfer both ways, intact after the header.
    constexpr std::uint64_t kSeed = 11;
    constexpr std::uint64_t kBytes = 2 << 20;
    const DuplexResult result = duplex_transfer(client.get(), kSeed, kBytes, deadline_in(10s));
    CHECK(result.received == kBytes);
    CHECK(result.received_hash == stream_hash(kSeed, kBytes));
}

TEST_CASE("send_proxy v2 over IPv6: a [::1] listener sends the TCP6 layout") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(
        SimpleConfig({echo.address()}).bind("[::1]:0").pool("send_proxy = \"v2\"").text());
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_ip("::1", lb.port);
    const std::string expected = proxy_v2("::1", local_port(client.get()), "::1", lb.port);
    REQUIRE(expected.size() == 52);
    const Deadline deadline = deadline_in(3s);
    const std::string payload = "six";
    send_all(client.get(), payload, deadline);
    const std::string received =
        read_exact(client.get(), expected.size() + payload.size(), deadline);
    CHECK(hex(received.substr(0, expected.size())) == hex(expected));
    CHECK(received.substr(expected.size()) == payload);
}

TEST_CASE("send_proxy v1 over IPv6: the TCP6 line names ::1 and both ports") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(
        SimpleConfig({echo.address()}).bind("[::1]:0").pool("send_proxy = \"v1\"").text());
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_ip("::1", lb.port);
    const std::string expected =
        fmt::format("PROXY TCP6 ::1 ::1 {} {}\r\n", local_port(client.get()), lb.port);
    const Deadline deadline = deadline_in(3s);
    CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
    send_all(client.get(), "ok", deadline);
    CHECK(read_exact(client.get(), 2, deadline) == "ok");
}

TEST_CASE("send_proxy none (the default) sends no header") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).text());
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port);
    const Deadline deadline = deadline_in(3s);
    send_all(client.get(), "plain", deadline);
    CHECK(read_exact(client.get(), 5, deadline) == "plain");
}

TEST_CASE("send_proxy after a refused connect: the backend that answers gets one header") {
    Backend echo = start_backend("echo");
    const std::string dead = fmt::format("127.0.0.1:{}", refused_port());
    Ringlb lb = start_ringlb(
        SimpleConfig({dead, echo.address()}).pool("send_proxy = \"v1\"\nretries = 1").text());
    INFO("ringlb output:\n" << lb.process->tail());

    // Round robin sends some of these to the refused backend first, then retries.
    for (int i = 0; i < 4; ++i) {
        UniqueFd client = connect_to(lb.port);
        const std::string expected = fmt::format("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\n",
                                                 local_port(client.get()), lb.port) +
                                     "early bytes, then EOF";
        // Data and FIN at once, before ringlb can have connected anywhere.
        send_all(client.get(), "early bytes, then EOF", deadline_in(2s));
        shutdown_write(client.get());
        CHECK(read_until_eof(client.get(), deadline_in(5s)) == expected);
    }
}
