// SPDX-License-Identifier: MIT
// Load: 5,000 concurrent echo streams through two shards, each half-closed at a seeded random
// moment, come back byte-exact with none lost or hung.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kConnections = 5000;
constexpr std::uint64_t kSeed = 0x10ad;
constexpr std::size_t kMinPayload = 1024;
constexpr std::size_t kMaxPayload = 8 * 1024;

// One client stream: it sends `payload` in random-sized pieces and shuts its write side once
// everything is sent and `shut_after` echoed bytes are back (a random moment between "before
// any echo" and "after all of it"), then reads until EOF.
struct Stream final {
    ringlb::UniqueFd fd;
    std::string payload;
    std::uint64_t expected_hash = 0;
    std::size_t shut_after = 0;
    std::uint64_t piece_seed = 0;
    std::size_t sent = 0;
    std::size_t received = 0;
    Fnv1a64 hash;
    bool connected = false;
    bool shut = false;
    bool writing = true;  // EPOLLOUT is in the interest set
    enum class End { open, eof, error } end = End::open;
    int error = 0;
};

// A deterministic random number for (stream, purpose).
std::uint64_t random_for(std::size_t stream, std::uint64_t purpose) {
    return splitmix64(kSeed ^ splitmix64(stream * 16 + purpose));
}

ringlb::UniqueFd start_connect(std::uint16_t port) {
    ringlb::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw HarnessError(std::string("socket: ") + std::strerror(errno));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 &&
        errno != EINPROGRESS) {
        throw HarnessError(std::string("connect: ") + std::strerror(errno));
    }
    return fd;
}

void set_interest(int epoll, Stream& stream, std::size_t index, bool writing) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | (writing ? EPOLLOUT : 0U);
    event.data.u64 = index;
    ::epoll_ctl(epoll, EPOLL_CTL_MOD, stream.fd.get(), &event);
    stream.writing = writing;
}

// Moves what can move now for one stream. Returns true when the stream has ended.
bool advance(int epoll, Stream& stream, std::size_t index) {
    if (!stream.connected) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(stream.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            stream.end = Stream::End::error;
            stream.error = error;
            return true;
        }
        stream.connected = true;
    }
    while (stream.sent < stream.payload.size()) {
        const std::size_t piece = std::min<std::size_t>(
            256 + splitmix64(stream.piece_seed++) % 1792, stream.payload.size() - stream.sent);
        const ssize_t n =
            ::send(stream.fd.get(), stream.payload.data() + stream.sent, piece, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            stream.end = Stream::End::error;
            stream.error = errno;
            return true;
        }
        stream.sent += static_cast<std::size_t>(n);
    }
    char buffer[16 * 1024];
    for (;;) {
        const ssize_t n = ::recv(stream.fd.get(), buffer, sizeof buffer, 0);
        if (n > 0) {
            stream.hash.update(std::string_view(buffer, static_cast<std::size_t>(n)));
            stream.received += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) {
            stream.end = Stream::End::eof;
            return true;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN) {
            stream.end = Stream::End::error;
            stream.error = errno;
            return true;
        }
        break;
    }
    if (!stream.shut && stream.sent == stream.payload.size() &&
        stream.received >= stream.shut_after) {
        ::shutdown(stream.fd.get(), SHUT_WR);
        stream.shut = true;
    }
    const bool want_write = stream.sent < stream.payload.size();
    if (want_write != stream.writing) {
        set_interest(epoll, stream, index, want_write);
    }
    return false;
}

}  // namespace

TEST_CASE(
    "5,000 concurrent echo streams through 2 workers, half-closed at random moments, "
    "come back byte-exact with none lost or hung") {
    raise_fd_limit(kConnections * 2 + 1024);
    Backend echo_a = start_backend("echo");
    Backend echo_b = start_backend("echo");
    Ringlb lb = start_ringlb(SimpleConfig({echo_a.address(), echo_b.address()}).workers(2).text());
    const pid_t pid = lb.process->pid();
    const FdTable fds_before = fd_table(pid);

    ringlb::UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
    REQUIRE(epoll);
    std::vector<Stream> streams(kConnections);
    for (std::size_t i = 0; i < kConnections; ++i) {
        Stream& stream = streams[i];
        const std::size_t size = kMinPayload + random_for(i, 0) % (kMaxPayload - kMinPayload + 1);
        stream.payload = stream_slice(kSeed + i, 0, size);
        stream.expected_hash = fnv1a64(stream.payload);
        stream.shut_after = random_for(i, 1) % (size + 1);
        stream.piece_seed = random_for(i, 2);
    }

    // Phase 1: all 5,000 connections open at once before any byte is sent.
    const auto started = Clock::now();
    for (std::size_t i = 0; i < kConnections; ++i) {
        streams[i].fd = start_connect(lb.port);
        epoll_event event{};
        event.events = EPOLLOUT;
        event.data.u64 = i;
        REQUIRE(::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, streams[i].fd.get(), &event) == 0);
    }
    std::vector<epoll_event> events(1024);
    {
        std::size_t connected = 0;
        std::size_t failed = 0;
        std::string first_error;
        const Deadline deadline = deadline_in(10s);
        while (connected + failed < kConnections && Clock::now() < deadline) {
            const int n =
                ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), 100);
            for (int k = 0; k < n; ++k) {
                Stream& stream = streams[events[k].data.u64];
                int error = 0;
                socklen_t length = sizeof error;
                ::getsockopt(stream.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
                if (error != 0) {
                    ++failed;
                    if (first_error.empty()) {
                        first_error = std::strerror(error);
                    }
                } else {
                    stream.connected = true;
                    ++connected;
                }
                // Parked until phase 2.
                epoll_event parked{};
                parked.data.u64 = events[k].data.u64;
                ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, stream.fd.get(), &parked);
            }
        }
        INFO("ringlb output:\n" << lb.process->tail());
        INFO("connected " << connected << ", failed " << failed << " (first error: " << first_error
                          << ")");
        REQUIRE(connected == kConnections);
    }
    const auto connected_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();

    // Phase 2: every stream sends, echoes and half-closes, driven by one epoll loop.
    for (std::size_t i = 0; i < kConnections; ++i) {
        set_interest(epoll.get(), streams[i], i, true);
    }
    std::size_t ended = 0;
    const Deadline deadline = deadline_in(30s);
    while (ended < kConnections && Clock::now() < deadline) {
        const int n =
            ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), 100);
        for (int k = 0; k < n; ++k) {
            const std::size_t index = events[k].data.u64;
            Stream& stream = streams[index];
            if (stream.end != Stream::End::open) {
                continue;
            }
            if (advance(epoll.get(), stream, index)) {
                ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, stream.fd.get(), nullptr);
                ++ended;
            }
        }
    }
    const auto finished_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now() - started).count();

    std::size_t intact = 0;
    std::size_t corrupted = 0;
    std::size_t lost = 0;
    std::size_t hung = 0;
    std::ostringstream examples;
    int shown = 0;
    for (std::size_t i = 0; i < kConnections; ++i) {
        const Stream& stream = streams[i];
        const bool complete = stream.end == Stream::End::eof &&
                              stream.received == stream.payload.size() && stream.shut;
        const char* verdict = nullptr;
        if (complete && stream.hash.value() == stream.expected_hash) {
            ++intact;
            continue;
        }
        if (stream.end == Stream::End::open) {
            ++hung;
            verdict = "hung";
        } else if (stream.received > stream.payload.size() ||
                   (stream.received == stream.payload.size() &&
                    stream.hash.value() != stream.expected_hash)) {
            ++corrupted;
            verdict = "corrupted";
        } else {
            ++lost;
            verdict = "lost";
        }
        if (shown++ < 8) {
            examples << "  #" << i << " " << verdict << ": sent " << stream.sent << " of "
                     << stream.payload.size() << ", received " << stream.received << ", shut "
                     << stream.shut << " (after " << stream.shut_after << "), ended by "
                     << (stream.end == Stream::End::eof     ? "EOF"
                         : stream.end == Stream::End::error ? std::strerror(stream.error)
                                                            : "nothing")
                     << "\n";
        }
    }
    INFO("ringlb output:\n" << lb.process->tail());
    INFO("all connected after " << connected_ms << " ms, all ended after " << finished_ms
                                << " ms: intact " << intact << ", corrupted " << corrupted
                                << ", lost " << lost << ", hung " << hung << "\n"
                                << examples.str());
    CHECK(corrupted == 0);
    CHECK(lost == 0);
    CHECK(hung == 0);
    CHECK(intact == kConnections);
    REQUIRE(lb.process->running());

    // Every socket comes back; the pipe pool may keep what it grew to under the load.
    streams.clear();
    const std::string unsettled = wait_fds_settled(pid, fds_before, kConnections * 4, 10s);
    INFO("sockets not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
}
