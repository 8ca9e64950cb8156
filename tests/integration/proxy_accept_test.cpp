// SPDX-License-Identifier: MIT
// listener.accept_proxy: a trusted peer's PROXY header sets the client address ringlb uses.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "admin_client.hpp"
#include "harness.hpp"
#include "owned_listener.hpp"
#include "proxy_header.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using namespace std::string_literals;
using ringlb::UniqueFd;

namespace {

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

// The client must be closed by ringlb, without a byte, within `within`.
void expect_closed(int fd, milliseconds within = 2000ms) {
    const ReadResult result = read_until_close(fd, deadline_in(within));
    CHECK(result.closed());
    CHECK_FALSE(result.timed_out);
    CHECK(result.data.empty());
}

// A connection through the plain "probe" listener reaches the owned backend, and nothing
// else came before it or is waiting behind it.
void expect_backend_saw_only_probe(Ringlb& lb, OwnedListener& backend) {
    UniqueFd probe = connect_to(lb.port_of("probe"));
    send_all(probe.get(), "probe!", deadline_in(2s));
    CHECK(backend.accept_and_read(6, deadline_in(3s)) == "probe!");
    CHECK(backend.idle());
    backend.close_held();
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
    OwnedListener backend;
    Ringlb lb = start_ringlb(
        config(std::string(kTrusted) + "\nallow = [\"192.0.2.0/24\"]\ndeny = [\"192.0.2.7/32\"]",
               "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin(admin_port(*lb.process));
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
    CHECK(wait_for_rejected(admin, "in", "denied", 2) == 2);
    CHECK(wait_for_rejected(admin, "in", "proxy_protocol", 0) == 0);
}

TEST_CASE("max_connections_per_client counts the claimed address") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(config(std::string(kTrusted) + "\nmax_connections_per_client = 1",
                                    "send_proxy = \"v1\"", echo.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin(admin_port(*lb.process));
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
    CHECK(wait_for_rejected(admin, "in", "client_limit", 1) == 1);
}

TEST_CASE("malformed headers are closed at once and nothing reaches the backend") {
    OwnedListener backend;
    // A long timeout: a close within 2 s is the parser's verdict, not the timeout.
    Ringlb lb = start_ringlb(
        config(std::string(kTrusted) + "\nproxy_timeout_ms = 10000", "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin(admin_port(*lb.process));

    std::string v2_version_1 = proxy_v2("192.0.2.7", 4242, "198.51.100.1", 443);
    v2_version_1[12] = '\x11';
    std::string v2_short_length = kProxyV2Signature + std::string("\x21\x11\x00\x04", 4) + "abcd";
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
    CHECK(wait_for_rejected(admin, "in", "proxy_protocol", cases.size()) == cases.size());
}

TEST_CASE("a peer outside proxy_trusted is closed even with a valid header") {
    OwnedListener backend;
    Ringlb lb = start_ringlb(config("proxy_trusted = [\"10.0.0.0/8\"]", "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin(admin_port(*lb.process));

    UniqueFd client = connect_to(lb.port_of("in"));
    send_all(client.get(), "PROXY TCP4 10.1.2.3 198.51.100.1 4242 443\r\ndata", deadline_in(2s));
    expect_closed(client.get());
    expect_backend_saw_only_probe(lb, backend);
    CHECK(wait_for_rejected(admin, "in", "proxy_protocol", 1) == 1);
}

TEST_CASE("a client that sends no header, or half of one, is closed after proxy_timeout_ms") {
    OwnedListener backend;
    constexpr auto kTimeout = 300ms;
    Ringlb lb = start_ringlb(
        config(std::string(kTrusted) + "\nproxy_timeout_ms = 300", "", backend.address()));
    INFO("ringlb output:\n" << lb.process->tail());
    const AdminClient admin(admin_port(*lb.process));

    const std::vector<std::pair<std::string, std::string>> cases = {
        {"nothing", ""},
        {"half a v1 header", "PROXY TCP4 192.0.2.7 198."},
        {"half a v2 header", kProxyV2Signature + "\x21\x11"},
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
    CHECK(wait_for_rejected(admin, "in", "proxy_protocol", cases.size()) == cases.size());
}
