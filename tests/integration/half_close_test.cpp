// SPDX-License-Identifier: MIT
// Half-close: an EOF in one direction is passed on without cutting the other direction short.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

TEST_CASE("after the client shuts its write side it still gets every echoed byte, then EOF") {
    Backend echo = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo.address()}).text());

    // Small enough to sit in socket buffers, so the client can send it all and half-close
    // before it reads a single byte of the echo.
    constexpr std::size_t kBytes = 256 * 1024;
    const std::string sent = stream_slice(11, 0, kBytes);
    ringlb::UniqueFd fd = connect_to(lb.port);
    const Deadline deadline = deadline_in(10s);
    send_all(fd.get(), sent, deadline);
    shutdown_write(fd.get());
    const ReadResult result = read_until_close(fd.get(), deadline);

    INFO("ringlb output:\n" << lb.process->tail());
    INFO("received " << result.data.size() << " of " << kBytes << " bytes, eof " << result.eof
                     << ", error " << result.error << ", timed out " << result.timed_out);
    CHECK(result.eof);
    CHECK(result.data.size() == kBytes);
    CHECK(result.data == sent);
}

TEST_CASE("after the backend finishes and closes, the client can still send to it") {
    constexpr std::uint64_t kDownBytes = 1024 * 1024;
    constexpr std::size_t kUpBytes = 64 * 1024;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kDownBytes;
    options.report = true;
    options.drain_ms = 10000;  // keep reading our upload long after it sent its FIN
    Backend source = start_backend(options);
    Ringlb lb = start_ringlb(SimpleConfig({source.address()}).text());

    ringlb::UniqueFd fd = connect_to(lb.port);
    const Deadline deadline = deadline_in(10s);
    // The backend's whole stream, then its EOF, while our write side is still open.
    const DuplexResult down = drain_hashing(fd.get(), deadline);
    INFO("ringlb output:\n" << lb.process->tail());
    REQUIRE(down.received == kDownBytes);
    REQUIRE(down.received_hash == stream_hash(0, kDownBytes));

    // Now the other direction: everything we send must still reach the backend.
    const std::string up = stream_slice(12, 0, kUpBytes);
    send_all(fd.get(), up, deadline);
    shutdown_write(fd.get());
    const auto report =
        source.process->wait_for_line(R"(^closed sent=(\d+) received=(\d+) hash=(\w+))", 10s);
    CHECK(report.groups[1] == std::to_string(kDownBytes));
    CHECK(report.groups[2] == std::to_string(kUpBytes));
    char expected_hash[32];
    std::snprintf(expected_hash, sizeof expected_hash, "%016llx",
                  static_cast<unsigned long long>(fnv1a64(up)));
    CHECK(report.groups[3] == expected_hash);

    // Both directions are done: ringlb closes the connection (no RST on the way).
    const ReadResult rest = read_until_close(fd.get(), deadline_in(5s));
    CHECK(rest.data.empty());
    CHECK(rest.eof);
}
