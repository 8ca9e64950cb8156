// SPDX-License-Identifier: MIT
// An agent probe's state machine: connect to the agent's port, write agent_send, read one line
// (health/agent_reply.cpp finds it) until it comes, the agent closes, or the deadline ends it.
#include "agent_probe.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "ringlb/health/agent_reply.hpp"

namespace ringlb {

bool AgentProbe::configure(const std::string& send) {
    if (configured_ && send == send_) {
        return false;
    }
    configured_ = true;
    send_ = send;
    if (!reply_) {
        reply_ = std::make_unique<char[]>(kMaxAgentReply);
    }
    return true;
}

short AgentProbe::events() const noexcept {
    return phase_ == Phase::reading ? POLLIN : POLLOUT;
}

std::optional<AgentOutcome> AgentProbe::begin(UniqueFd socket, const SocketAddress& address) {
    fd_ = std::move(socket);
    phase_ = Phase::connecting;
    written_ = 0;
    received_ = 0;
    if (::connect(fd_.get(), address.data(), address.length()) == 0) {
        phase_ = Phase::writing;
        return write_some();
    }
    if (errno == EINPROGRESS) {
        return std::nullopt;
    }
    return end(connect_failure(errno));
}

std::optional<AgentOutcome> AgentProbe::advance(short revents) {
    if (phase_ == Phase::connecting) {
        int error = 0;
        socklen_t length = sizeof(error);
        if (getsockopt(fd_.get(), SOL_SOCKET, SO_ERROR, &error, &length) < 0) {
            error = errno;
        }
        if (error != 0) {
            return end(connect_failure(error));
        }
        if ((revents & POLLOUT) == 0) {
            return std::nullopt;
        }
        phase_ = Phase::writing;
        return write_some();
    }
    if (phase_ == Phase::writing) {
        return write_some();
    }
    return read_some();
}

std::optional<AgentOutcome> AgentProbe::write_some() {
    while (written_ < send_.size()) {
        const ssize_t n = ::send(fd_.get(), send_.data() + written_, send_.size() - written_,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return std::nullopt;
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                break;  // an agent that answers without listening still has its say
            }
            return end({CheckResult::error, static_cast<std::uint32_t>(errno)});
        }
        written_ += static_cast<std::size_t>(n);
    }
    phase_ = Phase::reading;
    return read_some();
}

std::optional<AgentOutcome> AgentProbe::read_some() {
    for (;;) {
        bool closed = false;
        const ssize_t n =
            ::recv(fd_.get(), reply_.get() + received_, kMaxAgentReply - received_, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return std::nullopt;
            }
            if (errno != ECONNRESET) {
                return end({CheckResult::error, static_cast<std::uint32_t>(errno)});
            }
            closed = true;  // a reset ends the reply like a close
        } else if (n == 0) {
            closed = true;
        } else {
            received_ += static_cast<std::size_t>(n);
        }
        const std::string_view received(reply_.get(), received_);
        const auto line = agent_line(received, closed);
        if (!line) {
            continue;  // read on: the loop ends in EAGAIN, a close or a full buffer
        }
        if (received_ == 0) {
            return end({CheckResult::closed, 0});  // closed without a word: a dead agent
        }
        if (received_ == kMaxAgentReply && received.find('\n') == std::string_view::npos) {
            return end({CheckResult::unexpected_reply, 0});  // no line end within the cap
        }
        return end({CheckResult::passed, 0}, *line);
    }
}

AgentOutcome AgentProbe::expire() noexcept {
    return end(
        {phase_ == Phase::connecting ? CheckResult::connect_timeout : CheckResult::reply_timeout,
         0});
}

AgentOutcome AgentProbe::end(ProbeOutcome outcome, std::string_view line) noexcept {
    fd_.reset();
    return AgentOutcome{outcome, line};
}

}  // namespace ringlb
