// SPDX-License-Identifier: MIT
// Finds an agent's reply line and reads its words into a verdict (HAProxy's agent-check words).
#include "ringlb/health/agent_reply.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace ringlb {

namespace {

bool is_separator(char c) noexcept {
    return c == ' ' || c == '\t' || c == ',' || c == '\r';
}

bool same_word(std::string_view word, std::string_view lower) noexcept {
    return word.size() == lower.size() &&
           std::equal(word.begin(), word.end(), lower.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) == b;
           });
}

// "NN%": the percentage, clamped to kMaxAgentPercent; empty optional for anything else.
std::optional<std::uint32_t> percent_of(std::string_view word) noexcept {
    if (word.size() < 2 || word.back() != '%') {
        return std::nullopt;
    }
    word.remove_suffix(1);
    std::uint64_t value = 0;
    for (char c : word) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value =
            std::min<std::uint64_t>(value * 10 + static_cast<unsigned>(c - '0'), kMaxAgentPercent);
    }
    return static_cast<std::uint32_t>(value);
}

}  // namespace

std::optional<std::string_view> agent_line(std::string_view received, bool closed) noexcept {
    if (const auto end = received.find('\n'); end != std::string_view::npos) {
        std::string_view line = received.substr(0, end);
        if (!line.empty() && line.back() == '\r') {
            line.remove_suffix(1);
        }
        return line;
    }
    if (received.size() >= kMaxAgentReply) {
        return std::string_view{};
    }
    if (closed) {
        return received;
    }
    return std::nullopt;
}

AgentReply parse_agent_reply(std::string_view line, AgentVerdict before) noexcept {
    AgentReply reply{before, 0, {}};
    AgentVerdict& verdict = reply.verdict;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) {
        line = line.substr(0, hash);
    }
    std::size_t at = 0;
    while (at < line.size()) {
        while (at < line.size() && is_separator(line[at])) {
            ++at;
        }
        std::size_t end = at;
        while (end < line.size() && !is_separator(line[end])) {
            ++end;
        }
        const std::string_view word = line.substr(at, end - at);
        at = end;
        if (word.empty()) {
            continue;
        }
        if (const auto percent = percent_of(word)) {
            verdict.weight_percent = *percent;
        } else if (same_word(word, "ready")) {
            verdict.state = config::BackendState::active;
        } else if (same_word(word, "drain")) {
            verdict.state = config::BackendState::drain;
        } else if (same_word(word, "maint")) {
            verdict.state = config::BackendState::disabled;
        } else if (same_word(word, "up")) {
            verdict.down = false;
        } else if (same_word(word, "down") || same_word(word, "fail") ||
                   same_word(word, "stopped")) {
            verdict.down = true;
        } else {
            if (reply.unknown_words++ == 0) {
                reply.first_unknown = word;
            }
        }
    }
    return reply;
}

std::string describe_agent(const AgentVerdict& verdict) {
    std::string_view state = "ready";
    if (verdict.state == config::BackendState::drain) {
        state = "drain";
    } else if (verdict.state == config::BackendState::disabled) {
        state = "maint";
    }
    return fmt::format("{}% {} {}", verdict.weight_percent, state, verdict.down ? "down" : "up");
}

}  // namespace ringlb
