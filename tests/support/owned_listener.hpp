// SPDX-License-Identifier: MIT
// A backend listening socket the test holds itself, to see each connection ringlb makes to
// it, or that none came.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "harness.hpp"

namespace ringlb::test {

// Listens on 127.0.0.1 (ephemeral port) and accepts only when the test asks; a connection
// nobody accepted waits in the queue, where idle() sees it.
class OwnedListener final {
  public:
    explicit OwnedListener(int backlog = 64)
        : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (!fd_ ||
            ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) < 0 ||
            ::listen(fd_.get(), backlog) < 0) {
            throw HarnessError(std::string("owned listener: ") + std::strerror(errno));
        }
        port_ = local_port(fd_.get());
    }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

    // Accepts the next connection, waiting for it until the deadline; throws HarnessError
    // when none arrives.
    [[nodiscard]] UniqueFd accept(Deadline deadline) {
        for (;;) {
            UniqueFd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (accepted) {
                return accepted;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                throw HarnessError(std::string("owned listener: accept: ") + std::strerror(errno));
            }
            const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
            pollfd poll_fd{fd_.get(), POLLIN, 0};
            if (left.count() <= 0 ||
                ::poll(&poll_fd, 1, static_cast<int>(std::min<long long>(left.count(), 60'000))) ==
                    0) {
                throw HarnessError("owned listener: no connection arrived");
            }
        }
    }

    // Accepts the next connection and returns its first `n` bytes; throws HarnessError on
    // timeout. The connection stays open (held by the listener).
    std::string accept_and_read(std::size_t n, Deadline deadline) {
        UniqueFd accepted = accept(deadline);
        std::string data = read_exact(accepted.get(), n, deadline);
        held_.push_back(std::move(accepted));
        return data;
    }

    // True when no connection is waiting to be accepted (one that is, is accepted and held).
    [[nodiscard]] bool idle() {
        UniqueFd accepted(::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!accepted) {
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        held_.push_back(std::move(accepted));
        return false;
    }

    // Stops listening: connections still queued are reset, new ones refused.
    void close() noexcept { fd_.reset(); }

    // Closes the connections accepted so far. A test calls it when it is done with them, so
    // that ringlb's connections end before ringlb is stopped (held ones would keep it waiting
    // for its shutdown grace period).
    void close_held() noexcept { held_.clear(); }

  private:
    UniqueFd fd_;
    std::uint16_t port_ = 0;
    std::vector<UniqueFd> held_;
};

}  // namespace ringlb::test
