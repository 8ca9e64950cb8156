// SPDX-License-Identifier: MIT
// ProbeSocket: connect, write the request in full, read the reply until a subclass judges it.
#include "probe_socket.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace ringlb {

ProbeOutcome connect_failure(int error) noexcept {
    if (error == ECONNREFUSED) {
        return {CheckResult::refused, 0, {}};
    }
    if (error == ETIMEDOUT) {
        return {CheckResult::connect_timeout, 0, {}};
    }
    return {CheckResult::error, static_cast<std::uint32_t>(error), {}};
}

short ProbeSocket::events() const noexcept {
    return phase_ == Phase::reading ? POLLIN : POLLOUT;
}

std::optional<ProbeOutcome> ProbeSocket::begin(UniqueFd socket, const SocketAddress& address) {
    fd_ = std::move(socket);
    phase_ = Phase::connecting;
    written_ = 0;
    received_ = 0;
    if (::connect(fd_.get(), address.data(), address.length()) == 0) {
        return connected(0, true);
    }
    return connected(errno == EINPROGRESS ? 0 : errno, false);
}

std::optional<ProbeOutcome> ProbeSocket::advance(short revents) {
    if (phase_ == Phase::connecting) {
        int error = 0;
        socklen_t length = sizeof(error);
        if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) {
            error = errno;
        }
        return connected(error, (revents & POLLOUT) != 0);
    }
    if (phase_ == Phase::writing) {
        return write_some();
    }
    return read_some();
}

// `error`: the connect's errno (0: none yet); `ready`: it has completed.
std::optional<ProbeOutcome> ProbeSocket::connected(int error, bool ready) {
    if (error != 0) {
        return end(connect_failure(error));
    }
    if (!ready) {
        return std::nullopt;  // poll says when
    }
    phase_ = Phase::writing;
    return write_some();
}

std::optional<ProbeOutcome> ProbeSocket::write_some() {
    bool peer_gone = false;
    int error = 0;
    while (written_ < request_.size() && !peer_gone) {
        const ssize_t n = ::send(fd_.get(), request_.data() + written_, request_.size() - written_,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            written_ += static_cast<std::size_t>(n);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return std::nullopt;  // poll says when there is room
        } else if (errno == EPIPE || errno == ECONNRESET) {
            peer_gone = true;
            error = errno;
        } else if (errno != EINTR) {
            return end({CheckResult::error, static_cast<std::uint32_t>(errno), {}});
        }
    }
    if (auto outcome = written(peer_gone, error)) {
        return end(*outcome);
    }
    phase_ = Phase::reading;
    return read_some();
}

std::optional<ProbeOutcome> ProbeSocket::read_some() {
    for (;;) {
        bool complete = received_ == capacity_;
        if (!complete) {
            const ssize_t n =
                ::recv(fd_.get(), reply_.get() + received_, capacity_ - received_, MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    return std::nullopt;
                }
                if (errno != ECONNRESET) {
                    return end({CheckResult::error, static_cast<std::uint32_t>(errno), {}});
                }
                complete = true;  // a reset ends the reply like a close
            } else if (n == 0) {
                complete = true;
            } else {
                received_ += static_cast<std::size_t>(n);
                complete = received_ == capacity_;
            }
        }
        if (auto outcome = judge(std::string_view(reply_.get(), received_), complete)) {
            return end(*outcome);
        }
        if (complete) {
            return end({CheckResult::closed, 0, {}});
        }
    }
}

ProbeOutcome ProbeSocket::expire() noexcept {
    return end(
        {phase_ == Phase::connecting ? CheckResult::connect_timeout : CheckResult::reply_timeout,
         0,
         {}});
}

ProbeOutcome ProbeSocket::end(ProbeOutcome outcome) noexcept {
    fd_.reset();
    return outcome;
}

}  // namespace ringlb
