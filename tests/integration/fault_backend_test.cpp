// SPDX-License-Identifier: MIT
// Backend faults: a backend that dies, resets or stops reading mid-stream costs one connection,
// never a hung client, a leaked descriptor or unbounded memory in ringlb.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "harness.hpp"
#include "owned_listener.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

// Pipe ends ringlb may keep beyond its baseline: each of the 2 shards may pool one more pipe
// pair than it started with.
constexpr std::size_t kPipeAllowance = 8;

// Waits for `events` on `fd` until the deadline; false when it passed first.
bool wait_ready(int fd, short events, Deadline deadline) {
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::clamp<long long>(left, 0, 60'000)));
        if (n > 0) {
            return true;
        }
        if (Clock::now() >= deadline) {
            return false;
        }
    }
}

// How a client's stream ended while it kept sending: by EOF, by an error (reset, EPIPE) or
// not at all before the deadline.
struct Ending final {
    bool eof = false;
    int error = 0;
    bool timed_out = false;
    std::uint64_t sent = 0;
};

// Keeps sending stream `seed` and reading (discarding) until the stream ends or the deadline.
Ending send_until_closed(int fd, std::uint64_t seed, std::uint64_t offset, Deadline deadline) {
    Ending ending;
    std::string chunk(64 * 1024, '\0');
    char incoming[64 * 1024];
    for (;;) {
        if (!wait_ready(fd, POLLIN | POLLOUT, deadline)) {
            ending.timed_out = true;
            return ending;
        }
        const ssize_t r = ::recv(fd, incoming, sizeof incoming, 0);
        if (r == 0) {
            ending.eof = true;
            return ending;
        }
        if (r < 0 && errno != EAGAIN && errno != EINTR) {
            ending.error = errno;
            return ending;
        }
        chunk = stream_slice(seed, offset + ending.sent, chunk.size());
        const ssize_t w = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (w > 0) {
            ending.sent += static_cast<std::uint64_t>(w);
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            ending.error = errno;
            return ending;
        }
    }
}

std::string describe(const ReadResult& result) {
    std::ostringstream text;
    text << result.data.size() << " bytes, eof " << result.eof << ", error "
         << (result.error != 0 ? std::strerror(result.error) : "none") << ", timed out "
         << result.timed_out;
    return text.str();
}

}  // namespace

TEST_CASE(
    "a backend killed during a large download ends the client's stream within 2 s, "
    "and ringlb serves on with its fds back at baseline") {
    constexpr std::uint64_t kSeed = 21;
    constexpr std::uint64_t kHuge = 8ULL << 30;  // far more than is read before the kill
    constexpr std::uint64_t kSmall = 4 << 20;
    BackendOptions options;
    options.mode = "source";
    options.bytes = kHuge;
    options.seed = kSeed;
    Backend source = start_backend(options);
    const std::uint16_t backend_port = source.port;
    Ringlb lb = start_ringlb(SimpleConfig({source.address()}).pool("retries = 0").text());
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);

    ringlb::UniqueFd client = connect_to(lb.port);
    constexpr std::size_t kBeforeKill = 8 << 20;
    const std::string head = read_exact(client.get(), kBeforeKill, deadline_in(10s));
    REQUIRE(head == stream_slice(kSeed, 0, kBeforeKill));

    source.process->kill();
    const auto killed_at = Clock::now();
    const ReadResult rest = read_until_close(client.get(), deadline_in(2s));
    const auto ended_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now() - killed_at).count();
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("after the kill: " << describe(rest) << " in " << ended_ms << " ms");
    REQUIRE(rest.closed());
    CHECK(rest.data == stream_slice(kSeed, kBeforeKill, rest.data.size()));
    client.reset();

    REQUIRE(lb.process->running());
    // The next connection is served by a backend restarted on the same port.
    options.port = backend_port;
    options.bytes = kSmall;
    Backend restarted = start_backend(options);
    ringlb::UniqueFd next = connect_to(lb.port);
    const DuplexResult served = drain_hashing(next.get(), deadline_in(10s));
    CHECK(served.received == kSmall);
    CHECK(served.received_hash == stream_hash(kSeed, kSmall));
    next.reset();

    const std::string unsettled = wait_fds_settled(pid, fds_before, kPipeAllowance, 5s);
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}

TEST_CASE("a backend that resets mid-stream gives the client a reset or close, never a hang") {
    OwnedListener listener(128);
    Ringlb lb = start_ringlb(SimpleConfig({listener.address()}).pool("retries = 0").text());
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);
    constexpr std::uint64_t kSeed = 22;

    SECTION("while the backend is sending") {
        ringlb::UniqueFd client = connect_to(lb.port);
        ringlb::UniqueFd backend = listener.accept(deadline_in(5s));
        // More than the buffers between us hold, so bytes are in flight at the reset.
        const std::string data = stream_slice(kSeed, 0, 1 << 20);
        ::send(backend.get(), data.data(), data.size(), MSG_NOSIGNAL);
        (void)read_exact(client.get(), 64 * 1024, deadline_in(5s));
        reset_close(backend);
        const auto reset_at = Clock::now();
        const ReadResult rest = read_until_close(client.get(), deadline_in(2s));
        const auto ended_ms =
            std::chrono::duration_cast<milliseconds>(Clock::now() - reset_at).count();
        INFO("ringlb output:\n" << lb.process->tail());
        INFO("after the reset: " << describe(rest) << " in " << ended_ms << " ms");
        CHECK(rest.closed());
        CHECK(rest.data == stream_slice(kSeed, 64 * 1024, rest.data.size()));
    }
    SECTION("while the client is sending") {
        ringlb::UniqueFd client = connect_to(lb.port);
        ringlb::UniqueFd backend = listener.accept(deadline_in(5s));
        send_all(client.get(), stream_slice(kSeed, 0, 256 * 1024), deadline_in(5s));
        const std::string head = read_exact(backend.get(), 64 * 1024, deadline_in(5s));
        REQUIRE(head == stream_slice(kSeed, 0, head.size()));
        reset_close(backend);
        const auto reset_at = Clock::now();
        const Ending ending = send_until_closed(client.get(), kSeed, 256 * 1024, deadline_in(2s));
        const auto ended_ms =
            std::chrono::duration_cast<milliseconds>(Clock::now() - reset_at).count();
        INFO("ringlb output:\n" << lb.process->tail());
        INFO("after the reset: eof " << ending.eof << ", error "
                                     << (ending.error ? std::strerror(ending.error) : "none")
                                     << ", sent " << ending.sent << ", in " << ended_ms << " ms");
        CHECK((ending.eof || ending.error != 0));
        CHECK_FALSE(ending.timed_out);
    }

    // ringlb lives on: the next connection is relayed, and nothing leaked.
    {
        ringlb::UniqueFd client = connect_to(lb.port);
        ringlb::UniqueFd backend = listener.accept(deadline_in(5s));
        send_all(backend.get(), "next\n", deadline_in(5s));
        CHECK(read_line(client.get(), deadline_in(5s)) == "next\n");
    }
    const std::string unsettled = wait_fds_settled(pid, fds_before, kPipeAllowance, 5s);
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}

TEST_CASE("a backend that never reads bounds what a client can push and ringlb's memory") {
    // Connections wait in the accept queue and are never accepted, so never read.
    OwnedListener listener(16);
    Ringlb lb = start_ringlb(SimpleConfig({listener.address()}).pool("retries = 0").text());
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);
    const std::size_t rss_before = vm_rss_kib(pid);

    constexpr std::uint64_t kBound = 64ULL << 20;
    constexpr auto kStall = 2s;
    ringlb::UniqueFd client = connect_to(lb.port);
    std::string chunk = stream_slice(23, 0, 256 * 1024);
    std::uint64_t accepted = 0;
    std::size_t rss_peak = rss_before;
    auto last_progress = Clock::now();
    auto next_sample = Clock::now();
    const Deadline give_up = deadline_in(30s);
    while (Clock::now() - last_progress < kStall && accepted < kBound && Clock::now() < give_up) {
        const ssize_t w = ::send(client.get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (w > 0) {
            accepted += static_cast<std::uint64_t>(w);
            last_progress = Clock::now();
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
            FAIL("send: " << std::strerror(errno) << " after " << accepted << " bytes");
        } else {
            (void)wait_ready(client.get(), POLLOUT, deadline_in(100ms));
        }
        if (Clock::now() >= next_sample) {
            rss_peak = std::max(rss_peak, vm_rss_kib(pid));
            next_sample = Clock::now() + 100ms;
        }
    }
    rss_peak = std::max(rss_peak, vm_rss_kib(pid));

    INFO("ringlb output:\n" << lb.process->tail());
    INFO("client pushed " << accepted << " bytes before a " << kStall.count()
                          << " s stall; ringlb VmRSS " << rss_before << " KiB -> peak " << rss_peak
                          << " KiB");
    CHECK(accepted < kBound);
    CHECK(rss_peak - rss_before < 8 * 1024);
    REQUIRE(lb.process->running());

    // Tearing the stuck connection down returns everything.
    reset_close(client);
    listener.close();
    const std::string unsettled = wait_fds_settled(pid, fds_before, kPipeAllowance, 5s);
    INFO("descriptors not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    CHECK(lb.process->running());
}
