// SPDX-License-Identifier: MIT
// listener.accept_proxy: a trusted peer's PROXY header sets the client address ringlb uses.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <optional>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using namespace std::string_literals;
using ringlb::UniqueFd;

namespace {

// A backend the test holds itself, so it can tell that no connection reached it at all.
class OwnedBackend final {
  public:
    OwnedBackend() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        REQUIRE(fd_);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) ==
                0);
        REQUIRE(::listen(fd_.get(), 64) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
    }
    [[nodiscard]] std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

    // Accepts the next connection and returns its first `n` bytes; throws on timeout.
    std::string accept_and_read(std::size_t n, Deadline deadline) {
        pollfd poll_fd{fd_.get(), POLLIN, 0};
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (::poll(&poll_fd, 1, static_cast<int>(std::max<long>(left.count(), 0))) != 1) {
            throw HarnessError("owned backend: no connection arrived");
        }
        UniqueFd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        REQUIRE(accepted);
        std::string data = read_exact(accepted.get(), n, deadline);
        accepted_.push_back(std::move(accepted));
        return data;
    }
    // True when no connection is waiting to be accepted.
    bool idle() {
        UniqueFd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!accepted) {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        accepted_.push_back(std::move(accepted));
        return false;
    }

  private:
    UniqueFd fd_;
    std::uint16_t port_ = 0;
    std::vector<UniqueFd> accepted_;
};

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

const std::string kV2Signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

// A PROXY v2 header for TCP laid out from the specification (section 2.2), with optional TLV
// bytes after the addresses (counted in the length).
std::string proxy_v2(const std::string& source_ip, std::uint16_t source_port,
                     const std::string& destination_ip, std::uint16_t destination_port,
                     const std::string& tlvs = "") {
    const bool v6 = source_ip.find(':') != std::string::npos;
    std::string header = kV2Signature;
    header += '\x21';                // version 2, command PROXY
    header += v6 ? '\x21' : '\x11';  // AF_INET6 or AF_INET, over STREAM
    append_port(header, static_cast<std::uint16_t>((v6 ? 36 : 12) + tlvs.size()));
    append_ip(header, source_ip);
    append_ip(header, destination_ip);
    append_port(header, source_port);
    append_port(header, destination_port);
    return header + tlvs;
}

// A v2 LOCAL header (a health check from the proxy itself): no addresses.
std::string proxy_v2_local() {
    return kV2Signature + std::string("\x20\x00\x00\x00", 4);
}

std::string hex(std::string_view bytes) {
    std::string text;
    for (const char c : bytes) {
        text += fmt::format("{:02x} ", static_cast<unsigned char>(c));
    }
    return text;
}

std::uint16_t local_port(int fd) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    return ntohs(address.sin_port);
}

// Listener "in" (accept_proxy, trusted loopback, plus `listener_lines`) and a plain listener
// "probe", both on pool "p" (plus `pool_lines`) with one backend; the admin API on port 0.
std::string config(const std::string& listener_lines, const std::string& pool_lines,
                   const std::string& backend) {
    return fmt::format(
        "[global]\nworkers = 2\n\n[admin]\nbind = \"127.0.0.1:0\"\n\n"
        "[[listener]]\nname = \"in\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n"
        "accept_proxy = true\n{}\n\n"
        "[[listener]]\nname = \"probe\"\nbind = \"127.0.0.1:0\"\npool = \"p\"\n\n"
        "[[pool]]\nname = \"p\"\n{}\n{}",
        listener_lines, pool_lines, backends_toml({backend}));
}

constexpr const char* kTrusted = "proxy_trusted = [\"127.0.0.0/8\"]";

std::uint16_t admin_port(Ringlb& lb) {
    const auto match =
        lb.process->wait_for_line(R"(admin listening address=127\.0\.0\.1:(\d+))", 2000ms);
    return static_cast<std::uint16_t>(std::stoul(match.groups[1]));
}

// The value of one series of GET /metrics (HTTP/1.0 over a raw socket), or nullopt.
std::optional<std::uint64_t> metric(std::uint16_t admin, const std::string& series) {
    UniqueFd fd = connect_to(admin);
    send_all(fd.get(), "GET /metrics HTTP/1.0\r\nHost: test\r\n\r\n", deadline_in(2s));
    const std::string body = read_until_eof(fd.get(), deadline_in(3s));
    const std::string prefix = series + " ";
    for (std::size_t at = body.find(prefix); at != std::string::npos;
         at = body.find(prefix, at + 1)) {
        if (at == 0 || body[at - 1] == '\n') {
            return std::stoull(body.substr(at + prefix.size()));
        }
    }
    return std::nullopt;
}

// Polls ringlb_connections_rejected_total{listener,reason} until it equals `expected`
// (bounded) and returns the last value read.
std::optional<std::uint64_t> rejected(std::uint16_t admin, const std::string& listener,
                                      const std::string& reason, std::uint64_t expected) {
    const std::string series = fmt::format(
        "ringlb_connections_rejected_total{{listener=\"{}\",reason=\"{}\"}}", listener, reason);
    const Deadline deadline = deadline_in(2s);
    std::optional<std::uint64_t> value = metric(admin, series);
    while (value != expected && Clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
        value = metric(admin, series);
    }
    return value;
}

// The client must be closed by ringlb, without a byte, within `within`.
void expect_closed(int fd, milliseconds within = 2000ms) {
    const ReadResult result = read_until_close(fd, deadline_in(within));
    CHECK(result.closed());
    CHECK_FALSE(result.timed_out);
    CHECK(result.data.empty());
}

// A connection through the plain "probe" listener reaches the owned backend, and nothing
// else came before it or is waiting behind it.
void expect_backend_saw_only_probe(Ringlb& lb, OwnedBackend& backend) {
    UniqueFd probe = connect_to(lb.port_of("probe"));
    send_all(probe.get(), "probe!", deadline_in(2s));
    CHECK(backend.accept_and_read(6, deadline_in(3s)) == "probe!");
    CHECK(backend.idle());
}

}  // namespace

TEST_CASE("a v1 header's source is passed on, and data in the same segment follows intact") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port_of("in"));
    const std::string header = "PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\n";
    const std::string payload = stream_slice(3, 0, 3000);
    const Deadline deadline = deadline_in(3s);
    send_all(client.get(), header + payload, deadline);  // one write: header and data together
    // The backend echoes what ringlb sent it: ringlb's own header, then the client's bytes.
    CHECK(read_exact(client.get(), header.size(), deadline) == header);
    CHECK(read_exact(client.get(), payload.size(), deadline) == payload);
    shutdown_write(client.get());
    const ReadResult rest = read_until_close(client.get(), deadline);
    CHECK(rest.eof);
    CHECK(rest.data.empty());
}

TEST_CASE("a v2 header in gives the same addresses in the v2 header out, byte for byte") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v2\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port_of("in"));
    const std::string header = proxy_v2("192.0.2.7", 4242, "198.51.100.1", 443);
    const std::string payload = "\r\n\r\nbinary\0data"s;
    const Deadline deadline = deadline_in(3s);
    send_all(client.get(), header + payload, deadline);
    CHECK(hex(read_exact(client.get(), header.size(), deadline)) == hex(header));
    CHECK(hex(read_exact(client.get(), payload.size(), deadline)) == hex(payload));
}

TEST_CASE("a v2 IPv6 header in, a v1 TCP6 line out; TLVs are skipped, not relayed") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const Deadline deadline = deadline_in(3s);

    SECTION("no TLV") {
        UniqueFd client = connect_to(lb.port_of("in"));
        send_all(client.get(), proxy_v2("2001:db8::7", 4242, "2001:db8::1", 443) + "v6!", deadline);
        const std::string expected = "PROXY TCP6 2001:db8::7 2001:db8::1 4242 443\r\nv6!";
        CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
    }
    SECTION("a NOOP TLV and an ALPN TLV after the addresses") {
        UniqueFd client = connect_to(lb.port_of("in"));
        const std::string tlvs("\x04\x00\x03xyz\x01\x00\x02h2", 11);
        send_all(client.get(), proxy_v2("192.0.2.9", 1000, "198.51.100.2", 80, tlvs) + "after-tlv",
                 deadline);
        const std::string expected = "PROXY TCP4 192.0.2.9 198.51.100.2 1000 80\r\nafter-tlv";
        CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
    }
}

TEST_CASE("a v2 LOCAL header keeps the connection's own addresses") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port_of("in"));
    const Deadline deadline = deadline_in(3s);
    send_all(client.get(), proxy_v2_local() + "local", deadline);
    const std::string expected = fmt::format("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\nlocal",
                                             local_port(client.get()), lb.port_of("in"));
    CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
}

TEST_CASE("a v1 UNKNOWN line keeps the connection's own addresses") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const Deadline deadline = deadline_in(3s);

    for (const std::string header :
         {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1000 2000\r\n"}) {
        INFO("header: " << header);
        UniqueFd client = connect_to(lb.port_of("in"));
        send_all(client.get(), header + "unknown", deadline);
        const std::string expected = fmt::format("PROXY TCP4 127.0.0.1 127.0.0.1 {} {}\r\nunknown",
                                                 local_port(client.get()), lb.port_of("in"));
        CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
    }
}

TEST_CASE("a v2 header with TLVs up to several hundred bytes is accepted") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    // One NOOP TLV of 900 value bytes: the whole header is 16 + 12 + 3 + 900 = 931 bytes.
    std::string tlv("\x04\x03\x84", 3);
    tlv += std::string(900, 'n');
    UniqueFd client = connect_to(lb.port_of("in"));
    const Deadline deadline = deadline_in(3s);
    send_all(client.get(), proxy_v2("192.0.2.7", 4242, "198.51.100.1", 443, tlv) + "big", deadline);
    const std::string expected = "PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\nbig";
    CHECK(read_exact(client.get(), expected.size(), deadline) == expected);
}

TEST_CASE("once the header is in, proxy_timeout_ms no longer applies") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(std::string(kTrusted) + "\nproxy_timeout_ms = 200",
                                    "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    UniqueFd client = connect_to(lb.port_of("in"));
    const std::string header = "PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\n";
    send_all(client.get(), header + "a", deadline_in(2s));
    CHECK(read_exact(client.get(), header.size() + 1, deadline_in(2s)) == header + "a");
    // Idle for three times the header timeout: the connection must stay open.
    const ReadResult idle = read_until_close(client.get(), deadline_in(600ms));
    CHECK(idle.timed_out);
    send_all(client.get(), "b", deadline_in(2s));
    CHECK(read_exact(client.get(), 1, deadline_in(2s)) == "b");
}

TEST_CASE("a header that arrives in pieces is still parsed, and the data after it relayed") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(kTrusted, "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());

    const std::string header = "PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\n";
    UniqueFd client = connect_to(lb.port_of("in"));
    const Deadline deadline = deadline_in(3s);
    // The pause only makes it likely that ringlb looks at a partial header; the result must
    // be the same whether it does or not.
    send_all(client.get(), header.substr(0, 17), deadline);
    std::this_thread::sleep_for(50ms);
    send_all(client.get(), header.substr(17) + "tail", deadline);
    CHECK(read_exact(client.get(), header.size() + 4, deadline) == header + "tail");
}

TEST_CASE("deny and allow apply to the address the header claims, not to the peer") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(
        config(std::string(kTrusted) + "\nallow = [\"192.0.2.0/24\"]\ndeny = [\"192.0.2.7/32\"]",
               "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t admin = admin_port(lb);
    const std::uint16_t port = lb.port_of("in");
    const Deadline deadline = deadline_in(3s);

    // The peer is 127.0.0.1, outside `allow`: only the claimed 192.0.2.8 lets it in.
    {
        UniqueFd client = connect_to(port);
        send_all(client.get(), "PROXY TCP4 192.0.2.8 198.51.100.1 4242 443\r\nallowed", deadline);
        // The client's header is consumed by ringlb: the backend gets the data only.
        CHECK(backend.accept_and_read(7, deadline) == "allowed");
    }
    // 192.0.2.7 is denied: closed, and nothing reaches the backend.
    {
        UniqueFd client = connect_to(port);
        send_all(client.get(), "PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\r\ndenied", deadline);
        expect_closed(client.get());
    }
    // A LOCAL header leaves the peer's own 127.0.0.1, which `allow` does not cover.
    {
        UniqueFd client = connect_to(port);
        send_all(client.get(), proxy_v2_local() + "local", deadline);
        expect_closed(client.get());
    }
    expect_backend_saw_only_probe(lb, backend);
    CHECK(rejected(admin, "in", "denied", 2) == 2u);
    CHECK(rejected(admin, "in", "proxy_protocol", 0) == 0u);
}

TEST_CASE("max_connections_per_client counts the claimed address") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(std::string(kTrusted) + "\nmax_connections_per_client = 1",
                                    "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t admin = admin_port(lb);
    const Deadline deadline = deadline_in(3s);

    auto open = [&](const std::string& source, std::uint16_t source_port) {
        UniqueFd client = connect_to(lb.port_of("in"));
        send_all(client.get(),
                 fmt::format("PROXY TCP4 {} 198.51.100.1 {} 443\r\n", source, source_port),
                 deadline);
        return client;
    };
    // Three connections from one peer; two claim the same client.
    UniqueFd first = open("192.0.2.7", 1);
    CHECK(read_line(first.get(), deadline) == "PROXY TCP4 192.0.2.7 198.51.100.1 1 443\r\n");
    UniqueFd other = open("192.0.2.8", 2);
    CHECK(read_line(other.get(), deadline) == "PROXY TCP4 192.0.2.8 198.51.100.1 2 443\r\n");
    UniqueFd second = open("192.0.2.7", 3);
    expect_closed(second.get());
    CHECK(rejected(admin, "in", "client_limit", 1) == 1u);
}

TEST_CASE("malformed headers are closed at once and nothing reaches the backend") {
    OwnedBackend backend;
    // A long timeout: a close within 2 s is the parser's verdict, not the timeout.
    Ringlb lb = start_ringlb(
        config(std::string(kTrusted) + "\nproxy_timeout_ms = 10000", "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t admin = admin_port(lb);

    std::string v2_version_1 = proxy_v2("192.0.2.7", 4242, "198.51.100.1", 443);
    v2_version_1[12] = '\x11';
    std::string v2_short_length = kV2Signature + std::string("\x21\x11\x00\x04", 4) + "abcd";
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not PROXY at all", "GET / HTTP/1.0\r\n\r\n"},
        {"v1 bad address", "PROXY TCP4 256.0.2.7 198.51.100.1 4242 443\r\ndata"},
        {"v1 port out of range", "PROXY TCP4 192.0.2.7 198.51.100.1 70000 443\r\ndata"},
        {"v1 LF without CR", "PROXY TCP4 192.0.2.7 198.51.100.1 4242 443\ndata"},
        {"v1 family/address mismatch", "PROXY TCP6 192.0.2.7 198.51.100.1 4242 443\r\ndata"},
        {"v1 longer than 107 bytes", "PROXY UNKNOWN " + std::string(150, 'a') + "\r\ndata"},
        {"v2 version 1", v2_version_1 + "data"},
        {"v2 length too short for IPv4", v2_short_length + "data"},
    };
    for (const auto& [name, bytes] : cases) {
        INFO("case: " << name);
        UniqueFd client = connect_to(lb.port_of("in"));
        send_all(client.get(), bytes, deadline_in(2s));
        expect_closed(client.get());
    }
    expect_backend_saw_only_probe(lb, backend);
    CHECK(rejected(admin, "in", "proxy_protocol", cases.size()) == cases.size());
}

TEST_CASE("a peer outside proxy_trusted is closed even with a valid header") {
    OwnedBackend backend;
    Ringlb lb = start_ringlb(config("proxy_trusted = [\"10.0.0.0/8\"]", "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t admin = admin_port(lb);

    UniqueFd client = connect_to(lb.port_of("in"));
    send_all(client.get(), "PROXY TCP4 10.1.2.3 198.51.100.1 4242 443\r\ndata", deadline_in(2s));
    expect_closed(client.get());
    expect_backend_saw_only_probe(lb, backend);
    CHECK(rejected(admin, "in", "proxy_protocol", 1) == 1u);
}

TEST_CASE("a client that sends no header, or half of one, is closed after proxy_timeout_ms") {
    OwnedBackend backend;
    constexpr auto kTimeout = 300ms;
    Ringlb lb = start_ringlb(
        config(std::string(kTrusted) + "\nproxy_timeout_ms = 300", "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const std::uint16_t admin = admin_port(lb);

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"nothing", ""},
        {"half a v1 header", "PROXY TCP4 192.0.2.7 198."},
        {"half a v2 header", kV2Signature + "\x21\x11"},
    };
    for (const auto& [name, bytes] : cases) {
        INFO("case: " << name);
        const auto start = Clock::now();
        UniqueFd client = connect_to(lb.port_of("in"));
        if (!bytes.empty()) {
            send_all(client.get(), bytes, deadline_in(2s));
        }
        const ReadResult result = read_until_close(client.get(), deadline_in(3s));
        const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
        INFO("closed after " << elapsed.count() << " ms");
        CHECK(result.closed());
        CHECK(result.data.empty());
        CHECK(elapsed >= kTimeout - 50ms);
        CHECK(elapsed < kTimeout + 1500ms);
    }
    expect_backend_saw_only_probe(lb, backend);
    CHECK(rejected(admin, "in", "proxy_protocol", cases.size()) == cases.size());
}
