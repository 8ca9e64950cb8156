// SPDX-License-Identifier: MIT
// Bandwidth limits per connection (listener.upload_bytes_per_s, download_bytes_per_s): a
// transfer through a limited direction takes its size over the rate (less the bucket's depth,
// 100 ms of the rate, which the first read may take at once), every byte arrives, and a
// reload applies a new rate to the connections after it.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kKiB = 1024;

std::string config(const std::string& backend, std::uint64_t upload, std::uint64_t download) {
    return "[global]\nworkers = 2\n" +
           listener_table("in", "p",
                          "upload_bytes_per_s = " + std::to_string(upload) +
                              "\ndownload_bytes_per_s = " + std::to_string(download)) +
           pool_table("p", {backend});
}

// The time a limited transfer of `bytes` must take: all but the bucket's depth at the rate.
double expected_s(std::uint64_t bytes, std::uint64_t rate) {
    return static_cast<double>(bytes - rate / 10) / static_cast<double>(rate);
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

// Margins: the limit cannot let bytes through early, so the lower bound holds under any load.
// The upper bound (+5 %) is 150 ms of a 3 s transfer at 256 KiB/s: ringlb's work for it is
// about 50 wake-ups a second, and the test's own side is a loopback read; a machine that
// stalls ringlb for 150 ms in 3 s would break far more than this test.
TEST_CASE("a download limited to 256 KiB/s takes size/rate within 5 % and loses no byte") {
    constexpr std::uint64_t kRate = 256 * kKiB;
    constexpr std::uint64_t kBytes = 768 * kKiB;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kBytes;
    options.seed = 7;
    Backend source = start_backend(options);
    Ringlb lb = start_ringlb(config(source.address(), 0, kRate));

    const auto start = Clock::now();
    ringlb::UniqueFd fd = connect_to(lb.port);
    const DuplexResult result = drain_hashing(fd.get(), deadline_in(30s));
    const double took = seconds_since(start);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("took " << took << " s, expected " << expected_s(kBytes, kRate) << " s");
    CHECK(result.received == kBytes);
    CHECK(took >= 0.95 * expected_s(kBytes, kRate));
    CHECK(took <= 1.05 * expected_s(kBytes, kRate));
}

TEST_CASE("an upload limited to 256 KiB/s takes size/rate within 5 %; a reload changes it") {
    constexpr std::uint64_t kRate = 256 * kKiB;
    constexpr std::uint64_t kBytes = 768 * kKiB;
    BackendOptions options;
    options.mode = "sink";
    options.report = true;
    Backend sink = start_backend(options);
    Ringlb lb = start_ringlb(config(sink.address(), kRate, 0));

    // Written in 1,000-byte pieces so that the relay also meets small reads (copy mode with
    // global.splice = "auto"): the limit holds on both paths.
    const std::string piece(1000, 'u');
    const auto start = Clock::now();
    ringlb::UniqueFd fd = connect_to(lb.port);
    std::uint64_t sent = 0;
    while (sent < kBytes) {
        const std::size_t n =
            static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), kBytes - sent));
        send_all(fd.get(), std::string_view(piece).substr(0, n), deadline_in(30s));
        sent += n;
    }
    shutdown_write(fd.get());
    const LineMatch closed = sink.process->wait_for_line(R"(closed sent=\d+ received=(\d+))", 30s);
    const double took = seconds_since(start);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("took " << took << " s, expected " << expected_s(kBytes, kRate) << " s");
    CHECK(std::stoull(closed.groups[1]) == kBytes);
    CHECK(took >= 0.95 * expected_s(kBytes, kRate));
    CHECK(took <= 1.05 * expected_s(kBytes, kRate));
    fd.reset();

    // A reload doubles the rate: the next upload takes half as long.
    reload_ringlb(lb, config(sink.address(), 2 * kRate, 0));
    const std::size_t from = sink.process->line_count();
    const auto again = Clock::now();
    ringlb::UniqueFd second = connect_to(lb.port);
    send_all(second.get(), std::string(kBytes, 'v'), deadline_in(30s));
    shutdown_write(second.get());
    const LineMatch done =
        sink.process->wait_for_line(R"(closed sent=\d+ received=(\d+))", 30s, from);
    const double faster = seconds_since(again);
    INFO("after the reload: took " << faster << " s, expected " << expected_s(kBytes, 2 * kRate));
    CHECK(std::stoull(done.groups[1]) == kBytes);
    CHECK(faster >= 0.95 * expected_s(kBytes, 2 * kRate));
    CHECK(faster <= 1.05 * expected_s(kBytes, 2 * kRate));
}
