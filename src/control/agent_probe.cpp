// SPDX-License-Identifier: MIT
// An agent probe's state machine: connect to the agent's port, write agent_send, read one line
// (health/agent_reply.cpp finds it) until it comes, the agent closes, or the deadline ends it.
#include "agent_probe.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "probe_socket.hpp"
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
    return connected(start_connect(fd_.get(), address));
}

std::optional<AgentOutcome> AgentProbe::advance(short revents) {
    if (phase_ == Phase::connecting) {
        return connected(finish_connect(fd_.get(), revents));
    }
    if (phase_ == Phase::writing) {
        return write_some();
    }
    return read_some();
}

std::optional<AgentOutcome> AgentProbe::connected(ProbeStep step) {
    if (step.result == ProbeStep::Result::wait) {
        return std::nullopt;
    }
    if (step.result != ProbeStep::Result::done) {
        return end(connect_failure(step.error));
    }
    phase_ = Phase::writing;
    return write_some();
}

std::optional<AgentOutcome> AgentProbe::write_some() {
    const ProbeStep step = write_rest(fd_.get(), send_, written_);
    if (step.result == ProbeStep::Result::wait) {
        return std::nullopt;
    }
    if (step.result == ProbeStep::Result::failed) {
        return end({CheckResult::error, static_cast<std::uint32_t>(step.error)});
    }
    // Written, or the agent went away first: an agent that answers without listening still
    // has its say.
    phase_ = Phase::reading;
    return read_some();
}

std::optional<AgentOutcome> AgentProbe::read_some() {
    for (;;) {
        const ProbeStep step = read_once(fd_.get(), reply_.get(), kMaxAgentReply, received_);
        if (step.result == ProbeStep::Result::wait) {
            return std::nullopt;
        }
        if (step.result == ProbeStep::Result::failed) {
            return end({CheckResult::error, static_cast<std::uint32_t>(step.error)});
        }
        const bool closed = step.result == ProbeStep::Result::peer_gone;
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
