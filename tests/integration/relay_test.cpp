// SPDX-License-Identifier: MIT
// Relay: bytes pass through ringlb in both directions unchanged, in bulk and in parallel.
#include <catch2/catch.hpp>

#include <mutex>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;

// Runs `body(i)` on `count` threads at once; returns the failure messages (Catch2's
// assertions are not thread-safe, so the threads only collect).
template <typename Body>
std::vector<std::string> run_parallel(int count, Body body) {
    std::mutex mutex;
    std::vector<std::string> failures;
    std::vector<std::thread> threads;
    for (int i = 0; i < count; ++i) {
        threads.emplace_back([&, i] {
            try {
                body(i);
            } catch (const std::exception& error) {
                std::lock_guard lock(mutex);
                failures.push_back("connection " + std::to_string(i) + ": " + error.what());
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    return failures;
}

std::string join(const std::vector<std::string>& lines) {
    std::string text;
    for (const auto& line : lines) {
        text += line + "\n";
    }
    return text;
}

}  // namespace

TEST_CASE("16 parallel 4 MiB echo streams come back through ringlb byte-exact") {
    constexpr int kConnections = 16;
    constexpr std::uint64_t kBytes = 4 * kMiB;
    Backend echo1 = start_backend("echo");
    Backend echo2 = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo1.address(), echo2.address()}).text());
    const FdTable fds_before = fd_table(lb.process->pid());

    std::mutex mutex;
    std::vector<std::string> mismatches;
    const auto failures = run_parallel(kConnections, [&](int i) {
        const std::uint64_t seed = 1000 + static_cast<std::uint64_t>(i);
        ringlb::UniqueFd fd = connect_to(lb.port);
        const DuplexResult result = duplex_transfer(fd.get(), seed, kBytes, deadline_in(60s));
        if (result.received != kBytes || result.received_hash != stream_hash(seed, kBytes)) {
            std::lock_guard lock(mutex);
            mismatches.push_back("connection " + std::to_string(i) + ": received " +
                                 std::to_string(result.received) + " bytes, hash " +
                                 (result.received_hash == stream_hash(seed, result.received)
                                      ? "of a prefix of the stream"
                                      : "differs"));
        }
    });
    INFO("ringlb output:\n" << lb.process->tail());
    INFO(join(failures));
    REQUIRE(failures.empty());
    INFO(join(mismatches));
    REQUIRE(mismatches.empty());
    // Sockets come back exactly; the pipe pool may keep up to one pipe pair per relay that
    // ran at once (16 x 2 pipes x 2 ends).
    const std::string unsettled =
        wait_fds_settled(lb.process->pid(), fds_before, 2 * 2 * kConnections, 10s);
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}

TEST_CASE("a sink backend receives every byte of 4 parallel 8 MiB uploads through ringlb") {
    constexpr int kConnections = 4;
    constexpr std::uint64_t kBytes = 8 * kMiB;
    Backend sink = start_backend("sink");
    Ringlb lb = start_ringlb(SimpleConfig({sink.address()}).text());

    std::mutex mutex;
    std::vector<std::string> mismatches;
    const auto failures = run_parallel(kConnections, [&](int i) {
        const std::uint64_t seed = 2000 + static_cast<std::uint64_t>(i);
        ringlb::UniqueFd fd = connect_to(lb.port);
        const Deadline deadline = deadline_in(60s);
        // The sink reads everything before it answers, so sending first cannot deadlock.
        for (std::uint64_t offset = 0; offset < kBytes; offset += kMiB) {
            send_all(fd.get(), stream_slice(seed, offset, kMiB), deadline);
        }
        shutdown_write(fd.get());
        const std::string answer = read_until_eof(fd.get(), deadline);
        char expected[64];
        std::snprintf(expected, sizeof expected, "%llu %016llx\n",
                      static_cast<unsigned long long>(kBytes),
                      static_cast<unsigned long long>(stream_hash(seed, kBytes)));
        if (answer != expected) {
            std::lock_guard lock(mutex);
            mismatches.push_back("connection " + std::to_string(i) + ": sink answered \"" + answer +
                                 "\", expected \"" + expected + "\"");
        }
    });
    INFO("ringlb output:\n" << lb.process->tail());
    INFO(join(failures));
    REQUIRE(failures.empty());
    INFO(join(mismatches));
    REQUIRE(mismatches.empty());
}

TEST_CASE("a source backend's stream reaches parallel clients through ringlb byte-exact") {
    constexpr int kConnections = 4;
    constexpr std::uint64_t kBytes = 16 * kMiB;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kBytes;
    options.seed = 7;
    Backend source = start_backend(options);
    Ringlb lb = start_ringlb(SimpleConfig({source.address()}).text());

    std::mutex mutex;
    std::vector<std::string> mismatches;
    const auto failures = run_parallel(kConnections, [&](int i) {
        ringlb::UniqueFd fd = connect_to(lb.port);
        const DuplexResult result = drain_hashing(fd.get(), deadline_in(60s));
        if (result.received != kBytes || result.received_hash != stream_hash(7, kBytes)) {
            std::lock_guard lock(mutex);
            mismatches.push_back("connection " + std::to_string(i) + ": received " +
                                 std::to_string(result.received) + " bytes");
        }
    });
    INFO("ringlb output:\n" << lb.process->tail());
    INFO(join(failures));
    REQUIRE(failures.empty());
    INFO(join(mismatches));
    REQUIRE(mismatches.empty());
}
