// SPDX-License-Identifier: MIT
// IPv6: listeners on [::1] and backends on [::1] relay bytes both ways intact, also across
// families.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;
using ringlb::UniqueFd;

namespace {

// ringlb-testbackend on [::1] (the harness's start_backend listens on 127.0.0.1 only).
Backend start_v6_backend(const std::string& mode, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {backend_binary(), "--mode", mode, "--listen", "[::1]:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Backend backend;
    backend.process = std::make_unique<Process>("backend6(" + mode + ")", argv);
    const auto match =
        backend.process->wait_for_line(R"(^listening \[::1\]:(\d+)$)", milliseconds(5000));
    backend.port = static_cast<std::uint16_t>(std::stoul(match.groups[1]));
    return backend;
}

std::string v6_address(const Backend& backend) {
    return fmt::format("[::1]:{}", backend.port);
}

}  // namespace

TEST_CASE("the test backend listens on [::1]") {
    Backend echo = start_v6_backend("echo");
    UniqueFd client = connect_ip("::1", echo.port);
    send_all(client.get(), "direct", deadline_in(2s));
    CHECK(read_exact(client.get(), 6, deadline_in(2s)) == "direct");
}

TEST_CASE("a [::1] listener relays to a [::1] backend, bytes intact both ways") {
    Backend echo = start_v6_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({v6_address(echo)}).bind("[::1]:0").text());
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(lb.process->find_lines(R"(listening listener=in address=\[::1\]:\d+)").size() == 1);

    // Several connections, so that both workers' listeners serve at least some of them.
    for (std::uint64_t seed = 1; seed <= 4; ++seed) {
        UniqueFd client = connect_ip("::1", lb.port);
        const std::uint64_t bytes = (1 << 20) + seed * 4099;
        const DuplexResult result = duplex_transfer(client.get(), seed, bytes, deadline_in(10s));
        CHECK(result.sent == bytes);
        CHECK(result.received == bytes);
        CHECK(result.received_hash == stream_hash(seed, bytes));
    }
}

TEST_CASE("over IPv6, a backend's stream reaches the client and the client's reaches the backend") {
    constexpr std::uint64_t kBytes = 3 << 20;
    constexpr std::uint64_t kSeed = 42;

    SECTION("backend to client: source mode, then the backend's FIN") {
        Backend source = start_v6_backend(
            "source", {"--bytes", std::to_string(kBytes), "--seed", std::to_string(kSeed)});
        Ringlb lb = start_ringlb(SimpleConfig({v6_address(source)}).bind("[::1]:0").text());
        INFO("ringlb output:\n" << lb.process->tail());
        UniqueFd client = connect_ip("::1", lb.port);
        const DuplexResult result = drain_hashing(client.get(), deadline_in(10s));
        CHECK(result.received == kBytes);
        CHECK(result.received_hash == stream_hash(kSeed, kBytes));
    }
    SECTION("client to backend: sink mode counts and hashes what arrived") {
        Backend sink = start_v6_backend("sink");
        Ringlb lb = start_ringlb(SimpleConfig({v6_address(sink)}).bind("[::1]:0").text());
        INFO("ringlb output:\n" << lb.process->tail());
        UniqueFd client = connect_ip("::1", lb.port);
        const Deadline deadline = deadline_in(10s);
        // The sink answers only after our EOF, so sending all first cannot deadlock.
        const DuplexResult result = duplex_transfer(client.get(), kSeed, kBytes, deadline);
        CHECK(result.received > 0);
        // duplex_transfer hashed the reply line; recompute it from what was sent instead.
        const std::string expected =
            fmt::format("{} {:016x}\n", kBytes, stream_hash(kSeed, kBytes));
        CHECK(result.received == expected.size());
        CHECK(result.received_hash == fnv1a64(expected));
    }
}

TEST_CASE("families may differ between the listener and the backend") {
    Backend v4 = start_reply_backend("from-v4-backend");
    Backend v6 = start_v6_backend("reply", {"--reply", "from-v6-backend"});

    SECTION("IPv4 listener, IPv6 backend") {
        Ringlb lb = start_ringlb(SimpleConfig({v6_address(v6)}).text());
        INFO("ringlb output:\n" << lb.process->tail());
        CHECK(fetch(lb.port) == "from-v6-backend\n");
    }
    SECTION("IPv6 listener, IPv4 backend") {
        Ringlb lb = start_ringlb(SimpleConfig({v4.address()}).bind("[::1]:0").text());
        INFO("ringlb output:\n" << lb.process->tail());
        UniqueFd client = connect_ip("::1", lb.port);
        CHECK(read_until_eof(client.get(), deadline_in(5s)) == "from-v4-backend\n");
    }
    SECTION("a mixed pool serves from both, and a long-form IPv6 address is the same backend") {
        Ringlb lb = start_ringlb(
            SimpleConfig({v4.address(), fmt::format("[0:0:0:0:0:0:0:1]:{}", v6.port)}).text());
        INFO("ringlb output:\n" << lb.process->tail());
        std::map<std::string, int> replies = fetch_counts(lb.port, 4);
        CHECK(replies["from-v4-backend\n"] == 2);
        CHECK(replies["from-v6-backend\n"] == 2);
    }
}
