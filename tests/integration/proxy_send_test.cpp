// SPDX-License-Identifier: MIT
// pool.send_proxy: the PROXY v1/v2 header reaches the backend before any client byte, byte-exact.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

// Both families from a numeric address text ("127.0.0.1", "::1").
sockaddr_storage make_address(const std::string& ip, std::uint16_t port, socklen_t& length) {
    sockaddr_storage storage{};
    if (ip.find(':') != std::string::npos) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        REQUIRE(inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1);
        length = sizeof(sockaddr_in6);
    } else {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        REQUIRE(inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1);
        length = sizeof(sockaddr_in);
    }
    return storage;
}

// A non-blocking connection to ip:port (either family), like the harness's connect_to.
UniqueFd connect_ip(const std::string& ip, std::uint16_t port) {
    socklen_t length = 0;
    const sockaddr_storage address = make_address(ip, port, length);
    UniqueFd fd(::socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    REQUIRE(fd);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
        REQUIRE(errno == EINPROGRESS);
        pollfd poll_fd{fd.get(), POLLOUT, 0};
        REQUIRE(::poll(&poll_fd, 1, 2000) == 1);
        int error = 0;
        socklen_t error_length = sizeof error;
        ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &error_length);
        INFO("connect " << ip << " port " << port << ": " << std::strerror(error));
        REQUIRE(error == 0);
    }
    return fd;
}

std::uint16_t local_port(int fd) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    return address.ss_family == AF_INET6
               ? ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port)
               : ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
}

void append_port(std::string& out, std::uint16_t port) {
    out += static_cast<char>(port >> 8);
    out += static_cast<char>(port & 0xFF);
}

void append_ip(std::string& out, const std::string& ip) {
    unsigned char raw[16];
    const bool v6 = ip.find(':') != std::string::npos;
    REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), raw) == 1);
    out.append(reinterpret_cast<const char*>(raw), v6 ? 16 : 4);
}

// A PROXY v2 header for TCP, laid out from the specification (section 2.2), independently of
// ringlb's encoder: signature, version 2 | PROXY, family | STREAM, length, addresses, ports.
std::string proxy_v2(const std::string& source_ip, std::uint16_t source_port,
                     const std::string& destination_ip, std::uint16_t destination_port) {
    const bool v6 = source_ip.find(':') != std::string::npos;
    std::string header("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);
    header += '\x21';                   // version 2, command PROXY
    header += v6 ? '\x21' : '\x11';     // AF_INET6 or AF_INET, over STREAM
    append_port(header, v6 ? 36 : 12);  // the 16-bit length of the address block
    append_ip(header, source_ip);
    append_ip(header, destination_ip);
    append_port(header, source_port);
    append_port(header, destination_port);
    return header;
}

std::string hex(std::string_view bytes) {
    std::string text;
    for (const char c : bytes) {
        text += fmt::format("{:02x} ", static_cast<unsigned char>(c));
    }
    return text;
}

std::string v6_config(const std::string& bind, const std::string& send_proxy,
                      const std::string& backend) {
    return fmt::format(
        "[global]\nworkers = 2\n\n[[listener]]\nname = \"in\"\nbind = \"{}\"\npool = \"p\"\n\n"
        "[[pool]]\nname = \"p\"\nsend_proxy = \"{}\"\n{}",
        bind, send_proxy, backends_toml({backend}));
}

}  // namespace

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
    Ringlb lb = start_ringlb(v6_config("[::1]:0", "v2", echo.address()));
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
    Ringlb lb = start_ringlb(v6_config("[::1]:0", "v1", echo.address()));
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
