// SPDX-License-Identifier: MIT
// Descriptor exhaustion: under a 256-fd limit, a flood of 1,000 clients is served or turned
// away promptly, the warning is rate-limited, and ringlb serves normally once the flood is gone.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "harness.hpp"

using namespace ringlb::test;
using namespace std::chrono_literals;

namespace {

constexpr int kClients = 1000;
constexpr int kFdLimit = 256;
// "Closed or refused, not hung beyond a few seconds."
constexpr auto kVerdictWithin = 5s;
constexpr std::size_t kMaxWarnings = 5;

enum class State { connecting, waiting, served, closed };

struct Client final {
    ringlb::UniqueFd fd;
    State state = State::connecting;
    std::string message;
    std::string received;
    int error = 0;  // how a closed client ended: errno, or 0 for EOF
};

// Starts a non-blocking connect to 127.0.0.1:port; a refusal is reported at once or by poll.
Client start_client(std::uint16_t port, int id) {
    Client client;
    client.message = "client " + std::to_string(id) + "\n";
    client.fd = ringlb::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!client.fd) {
        throw HarnessError(std::string("socket: ") + std::strerror(errno));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(client.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0 &&
        errno != EINPROGRESS) {
        client.state = State::closed;
        client.error = errno;
    }
    return client;
}

// Advances one client after poll reported `revents`.
void step(Client& client, short revents) {
    if (client.state == State::connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        ::getsockopt(client.fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            client.state = State::closed;
            client.error = error;
            return;
        }
        if ((revents & POLLOUT) == 0) {
            return;
        }
        // A dozen bytes always fit in an empty send buffer.
        if (::send(client.fd.get(), client.message.data(), client.message.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(client.message.size())) {
            client.state = State::closed;
            client.error = errno;
            return;
        }
        client.state = State::waiting;
        return;
    }
    char buffer[256];
    const ssize_t n = ::recv(client.fd.get(), buffer, sizeof buffer, 0);
    if (n > 0) {
        client.received.append(buffer, static_cast<std::size_t>(n));
        if (client.received.size() >= client.message.size()) {
            client.state = State::served;
        }
    } else if (n == 0) {
        client.state = State::closed;
    } else if (errno != EAGAIN && errno != EINTR) {
        client.state = State::closed;
        client.error = errno;
    }
}

}  // namespace

TEST_CASE(
    "under a 256-fd limit, 1,000 clients at once are each served or turned away within "
    "5 s, the warning is rate-limited, and ringlb serves normally afterwards") {
    const std::string prlimit = require_command("prlimit", "util-linux");
    raise_fd_limit(kClients * 2 + 256);
    Backend echo = start_backend("echo");
    // prlimit execs ringlb, so the pid is ringlb's own.
    const std::string limit = std::to_string(kFdLimit);
    Ringlb lb = start_ringlb_under({prlimit, "--nofile=" + limit + ":" + limit, "--"},
                                   SimpleConfig({echo.address()}).text());
    const pid_t pid = lb.process->pid();
    lb.process->wait_for_line("fd_limit=" + std::to_string(kFdLimit) + "\\b", 1s);
    const FdTable fds_before = fd_table(pid);
    const std::size_t log_start = lb.process->line_count();

    std::vector<Client> clients;
    clients.reserve(kClients);
    for (int i = 0; i < kClients; ++i) {
        clients.push_back(start_client(lb.port, i));
    }
    const auto flood_started = Clock::now();
    const Deadline deadline = deadline_in(kVerdictWithin);
    std::vector<pollfd> polls;
    std::vector<std::size_t> owners;
    for (;;) {
        polls.clear();
        owners.clear();
        for (std::size_t i = 0; i < clients.size(); ++i) {
            const State state = clients[i].state;
            if (state == State::connecting || state == State::waiting) {
                polls.push_back({clients[i].fd.get(),
                                 static_cast<short>(state == State::connecting ? POLLOUT : POLLIN),
                                 0});
                owners.push_back(i);
            }
        }
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
        if (polls.empty() || left <= 0) {
            break;
        }
        const int n = ::poll(polls.data(), polls.size(), static_cast<int>(left));
        if (n < 0 && errno != EINTR) {
            FAIL("poll: " << std::strerror(errno));
        }
        for (std::size_t k = 0; k < polls.size() && n > 0; ++k) {
            if (polls[k].revents != 0) {
                step(clients[owners[k]], polls[k].revents);
            }
        }
    }
    const auto verdict_ms =
        std::chrono::duration_cast<milliseconds>(Clock::now() - flood_started).count();

    int served = 0;
    int closed = 0;
    int hung_connecting = 0;
    int hung_waiting = 0;
    int corrupted = 0;
    for (const Client& client : clients) {
        switch (client.state) {
            case State::served:
                ++served;
                corrupted += client.received != client.message ? 1 : 0;
                break;
            case State::closed:
                ++closed;
                break;
            case State::connecting:
                ++hung_connecting;
                break;
            case State::waiting:
                ++hung_waiting;
                break;
        }
    }
    const auto warnings = lb.process->find_lines(R"(\bwarn\b)", log_start);
    INFO("ringlb output:\n" << lb.process->tail(40));
    INFO("after " << verdict_ms << " ms: served " << served << ", closed or refused " << closed
                  << ", still connecting " << hung_connecting << ", connected but unanswered "
                  << hung_waiting << ", corrupted echoes " << corrupted << "; ringlb holds "
                  << fd_count(pid) << " fds; warnings logged " << warnings.size());
    REQUIRE(lb.process->running());
    CHECK(served > 0);
    CHECK(corrupted == 0);
    CHECK(hung_connecting == 0);
    CHECK(hung_waiting == 0);
    if (closed > 0 || hung_waiting > 0) {
        CHECK(!warnings.empty());
    }
    CHECK(warnings.size() <= kMaxWarnings);

    // The flood leaves; the sockets ringlb held for it must come back (its pipe pool may keep
    // what it grew to), and the next client is served normally.
    clients.clear();
    const std::string unsettled = wait_fds_settled(pid, fds_before, kFdLimit, 10s);
    INFO("sockets not back to the baseline: " << unsettled);
    CHECK(unsettled.empty());
    ringlb::UniqueFd next = connect_to(lb.port);
    const DuplexResult result = duplex_transfer(next.get(), 41, 64 * 1024, deadline_in(5s));
    CHECK(result.received == 64 * 1024);
    CHECK(result.received_hash == stream_hash(41, 64 * 1024));
    CHECK(lb.process->running());
}
