// SPDX-License-Identifier: MIT
// An agent probe: what it writes (agent_send) and when its reply is complete: one line, found
// by health/agent_reply.cpp (the socket's steps are ProbeSocket's).
#include "agent_probe.hpp"

#include <memory>

#include "ringlb/health/agent_reply.hpp"

namespace ringlb {

bool AgentProbe::configure(const std::string& send) {
    if (configured_ && send == request_) {
        return false;
    }
    configured_ = true;
    request_ = send;
    if (!reply_) {
        reply_ = std::make_unique<char[]>(kMaxAgentReply);
        capacity_ = kMaxAgentReply;
    }
    return true;
}

std::optional<ProbeOutcome> AgentProbe::written(bool /*peer_gone*/, int /*error*/) {
    return std::nullopt;
}

std::optional<ProbeOutcome> AgentProbe::judge(std::string_view reply, bool complete) {
    const auto line = agent_line(reply, complete);
    if (!line) {
        return std::nullopt;  // read on: the loop ends in EAGAIN, a close or a full buffer
    }
    if (reply.empty()) {
        return ProbeOutcome{CheckResult::closed, 0, {}};  // closed without a word: a dead agent
    }
    if (reply.size() == capacity_ && reply.find('\n') == std::string_view::npos) {
        return ProbeOutcome{CheckResult::unexpected_reply, 0, {}};  // no line end within the cap
    }
    return ProbeOutcome{CheckResult::passed, 0, *line};
}

}  // namespace ringlb
