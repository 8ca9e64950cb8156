// SPDX-License-Identifier: MIT
// An agent check's reply (HAProxy's agent-check): finding its one line and turning its words
// into the agent's verdict on a backend; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ringlb/config/config.hpp"

namespace ringlb {

// An agent probe reads at most this much; a reply without a line end within it is refused.
inline constexpr std::size_t kMaxAgentReply = 1024;
// The largest share an agent may ask for: weight 1 at 100000 % is the maximum weight, 1000.
inline constexpr std::uint32_t kMaxAgentPercent = 100000;

// What the agent says about its backend, kept apart from the operator's admin state: each
// part holds until a later reply changes that part.
struct AgentVerdict final {
    std::uint32_t weight_percent = 100;                         // "NN%"
    config::BackendState state = config::BackendState::active;  // ready, drain, maint (disabled)
    bool down = false;                                          // up; down, fail, stopped

    bool operator==(const AgentVerdict&) const = default;
};

struct AgentReply final {
    AgentVerdict verdict;
    unsigned unknown_words = 0;  // words ignored
    std::string_view first_unknown;
};

// The line in `received` (the bytes read so far): up to the first "\n" (a "\r" before it
// dropped), or all of it once `closed`. Empty optional while a line may still come; an empty
// line when the agent closed without one, or when kMaxAgentReply bytes hold no line end.
[[nodiscard]] std::optional<std::string_view> agent_line(std::string_view received,
                                                         bool closed) noexcept;

// `before` changed by the words of `line`, separated by spaces, tabs or commas and read
// case-insensitively: "NN%" (0 to kMaxAgentPercent; more counts as that), "ready", "drain",
// "maint", "up", "down", "fail", "stopped". A "#" ends the words (what follows is a
// description, as in HAProxy). Unknown words are counted and otherwise ignored.
[[nodiscard]] AgentReply parse_agent_reply(std::string_view line, AgentVerdict before) noexcept;

// For logs: "75% drain down", in the agent's words ("ready" for no drain or maint).
[[nodiscard]] std::string describe_agent(const AgentVerdict& verdict);

}  // namespace ringlb
