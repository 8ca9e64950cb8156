// SPDX-License-Identifier: MIT
// The request a protocol check writes and the judgment of the reply it reads.
#include "ringlb/health/check_protocol.hpp"

#include <algorithm>

namespace ringlb {

namespace {

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// "HTTP/1.x NNN" at the start of `received` (RFC 9112 status-line; any HTTP/ version is read).
ReplyJudgment judge_http(const config::HealthConfig& health, std::string_view received,
                         bool complete) noexcept {
    constexpr std::string_view kPrefix = "HTTP/";
    // "HTTP/" DIGIT "." DIGIT SP 3DIGIT: 12 bytes, then SP or the line's end.
    constexpr std::size_t kStatusEnd = 12;
    const std::size_t have = std::min(received.size(), kStatusEnd);
    auto prefix_fits = [&] {
        for (std::size_t i = 0; i < have; ++i) {
            const char c = received[i];
            const bool fits = i < kPrefix.size() ? c == kPrefix[i]
                              : i == 5 || i == 7 ? is_digit(c)
                              : i == 6           ? c == '.'
                              : i == 8           ? c == ' '
                                                 : is_digit(c);
            if (!fits) {
                return false;
            }
        }
        return true;
    };
    if (!prefix_fits()) {
        return {ReplyVerdict::unexpected, 0};
    }
    if (received.size() < kStatusEnd + 1) {
        // The byte after the code tells "200 OK" from "2000"; an ended reply never says more.
        if (complete) {
            return {ReplyVerdict::unexpected, 0};
        }
        return {ReplyVerdict::need_more, 0};
    }
    const char after = received[kStatusEnd];
    if (after != ' ' && after != '\r' && after != '\n') {
        return {ReplyVerdict::unexpected, 0};
    }
    const unsigned status = static_cast<unsigned>((received[9] - '0') * 100 +
                                                  (received[10] - '0') * 10 + (received[11] - '0'));
    return {config::status_in(health.expect_status, status) ? ReplyVerdict::passed
                                                            : ReplyVerdict::bad_status,
            status};
}

}  // namespace

std::string check_request(const config::HealthConfig& health, std::string_view address_text) {
    switch (health.type) {
        case config::HealthCheckType::connect:
            return {};
        case config::HealthCheckType::send_expect:
            return health.send;
        case config::HealthCheckType::http: {
            std::string request = "GET " + health.http_path + " HTTP/1.1\r\nHost: ";
            request += health.http_host.empty() ? address_text : health.http_host;
            request += "\r\nConnection: close\r\nUser-Agent: ringlb-health\r\n\r\n";
            return request;
        }
    }
    return {};
}

ReplyJudgment judge_reply(const config::HealthConfig& health, std::string_view received,
                          bool complete) noexcept {
    switch (health.type) {
        case config::HealthCheckType::connect:
            return {ReplyVerdict::passed, 0};
        case config::HealthCheckType::send_expect:
            if (received.find(health.expect) != std::string_view::npos) {
                return {ReplyVerdict::passed, 0};
            }
            return {complete ? ReplyVerdict::unexpected : ReplyVerdict::need_more, 0};
        case config::HealthCheckType::http:
            return judge_http(health, received, complete);
    }
    return {ReplyVerdict::unexpected, 0};
}

}  // namespace ringlb
