// SPDX-License-Identifier: MIT
// Client faults: a client that resets mid-transfer costs one connection and no descriptor, and
// a client that reads slowly gets every byte while ringlb's memory stays flat.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// Pipe ends ringlb may keep beyond its baseline: each of the 2 shards may pool one more pipe
// pair than it started with.
constexpr std::size_t kPipeAllowance = 8;
constexpr int kResets = 12;

// The line a sink backend answers with after `bytes` bytes of stream `seed`.
std::string sink_line(std::uint64_t seed, std::uint64_t bytes) {
    char line[64];
    std::snprintf(line, sizeof line, "%" PRIu64 " %016" PRIx64 "\n", bytes,
                  stream_hash(seed, bytes));
    return line;
}

}  // namespace

TEST_CASE("clients that reset during a download leave ringlb serving with its fds at baseline") {
    constexpr std::uint64_t kSeed = 31;
    constexpr std::uint64_t kBytes = 32ULL << 20;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kBytes;
    options.seed = kSeed;
    Backend source = start_backend(options);
    Ringlb lb = start_ringlb(SimpleConfig({source.address()}).text());
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);

    for (int i = 0; i < kResets; ++i) {
        // A different cut each time: within the first pipe, or megabytes in.
        const std::size_t cut = 1000 + static_cast<std::size_t>(i) * 700 * 1024;
        ringlb::UniqueFd client = connect_to(lb.port);
        const std::string head = read_exact(client.get(), cut, deadline_in(10s));
        REQUIRE(head == stream_slice(kSeed, 0, cut));
        reset_close(client);
    }
    REQUIRE(lb.process->running());

    ringlb::UniqueFd next = connect_to(lb.port);
    const DuplexResult served = drain_hashing(next.get(), deadline_in(20s));
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(served.received == kBytes);
    CHECK(served.received_hash == stream_hash(kSeed, kBytes));
    next.reset();

    const std::string unsettled = wait_fds_settled(pid, fds_before, kPipeAllowance, 5s);
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}

TEST_CASE("clients that reset during an upload leave ringlb serving with its fds at baseline") {
    constexpr std::uint64_t kSeed = 32;
    constexpr std::uint64_t kBytes = 8ULL << 20;
    Backend sink = start_backend("sink");
    Ringlb lb = start_ringlb(SimpleConfig({sink.address()}).text());
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);

    for (int i = 0; i < kResets; ++i) {
        const std::size_t cut = 1000 + static_cast<std::size_t>(i) * 500 * 1024;
        ringlb::UniqueFd client = connect_to(lb.port);
        send_all(client.get(), stream_slice(kSeed, 0, cut), deadline_in(10s));
        reset_close(client);
    }
    REQUIRE(lb.process->running());

    ringlb::UniqueFd next = connect_to(lb.port);
    const Deadline deadline = deadline_in(20s);
    send_all(next.get(), stream_slice(kSeed, 0, kBytes), deadline);
    shutdown_write(next.get());
    const std::string answer = read_until_eof(next.get(), deadline);
    INFO("ringlb output:\n" << lb.process->tail());
    CHECK(answer == sink_line(kSeed, kBytes));
    next.reset();

    const std::string unsettled = wait_fds_settled(pid, fds_before, kPipeAllowance, 5s);
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}

TEST_CASE("a slow reader gets 256 MiB intact while ringlb's memory grows by < 32 MiB") {
    constexpr std::uint64_t kSeed = 33;
    constexpr std::uint64_t kBytes = 256ULL << 20;
    // 64 KiB per 2 ms = 32 MiB/s: far slower than the source, so ringlb must hold it back;
    // 256 MiB take about 8 s.
    constexpr std::size_t kStep = 64 * 1024;
    constexpr auto kStepInterval = 2ms;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kBytes;
    options.seed = kSeed;
    Backend source = start_backend(options);
    Ringlb lb = start_ringlb(SimpleConfig({source.address()}).text());
    const pid_t pid = lb.process->pid();
    const std::size_t rss_before = vm_rss_kib(pid);

    ringlb::UniqueFd client = connect_to(lb.port);
    Fnv1a64 hash;
    std::uint64_t received = 0;
    bool eof = false;
    std::size_t rss_peak = rss_before;
    std::string buffer(kStep, '\0');
    const auto started = Clock::now();
    auto next_read = started;
    auto next_sample = started;
    const Deadline deadline = deadline_in(40s);
    while (!eof && Clock::now() < deadline) {
        // Pacing, not synchronisation: the client reads at a fixed rate.
        std::this_thread::sleep_until(next_read);
        next_read += kStepInterval;
        pollfd p{client.get(), POLLIN, 0};
        if (::poll(&p, 1, 1000) <= 0) {
            continue;
        }
        const ssize_t n = ::recv(client.get(), buffer.data(), buffer.size(), 0);
        if (n == 0) {
            eof = true;
        } else if (n > 0) {
            hash.update(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
            received += static_cast<std::uint64_t>(n);
        } else if (errno != EAGAIN && errno != EINTR) {
            FAIL("recv: " << std::strerror(errno) << " after " << received << " bytes");
        }
        if (Clock::now() >= next_sample) {
            rss_peak = std::max(rss_peak, vm_rss_kib(pid));
            next_sample = Clock::now() + 100ms;
        }
    }
    const auto seconds = std::chrono::duration<double>(Clock::now() - started).count();

    INFO("ringlb output:\n" << lb.process->tail());
    INFO("received " << received << " of " << kBytes << " bytes in " << seconds << " s, eof " << eof
                     << "; ringlb VmRSS " << rss_before << " KiB -> peak " << rss_peak << " KiB");
    CHECK(eof);
    CHECK(received == kBytes);
    CHECK(hash.value() == stream_hash(kSeed, kBytes));
    CHECK(rss_peak - rss_before < 32 * 1024);
    CHECK(lb.process->running());
}
