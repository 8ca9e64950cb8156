// SPDX-License-Identifier: MIT
// What a protocol health check sends (send_expect's `send`, an HTTP GET) and how the reply it
// reads is judged; no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ringlb/config/config.hpp"

namespace ringlb {

// A probe reads at most this much of a reply.
inline constexpr std::size_t kMaxCheckReply = 16384;

// The bytes a probe writes after the connect (before them, a PROXY header when one is sent):
// `send` for send_expect, "GET http_path HTTP/1.1" with Host (http_host, else `address_text`)
// and "Connection: close" for http, nothing for connect.
[[nodiscard]] std::string check_request(const config::HealthConfig& health,
                                        std::string_view address_text);

// A judgment on the reply bytes read so far.
enum class ReplyVerdict {
    need_more,   // read on
    passed,      // the check passed
    unexpected,  // send_expect: `expect` is not there; http: no HTTP status line
    bad_status,  // http: a status outside expect_status
};

struct ReplyJudgment final {
    ReplyVerdict verdict = ReplyVerdict::need_more;
    unsigned status = 0;  // http: the status code read, once there is one
};

// Judges `received`, the first bytes of the reply (at most kMaxCheckReply). `complete`: no
// more will come (the backend closed, or kMaxCheckReply bytes are read), so what is not there
// yet never will be. For connect checks every reply passes.
[[nodiscard]] ReplyJudgment judge_reply(const config::HealthConfig& health,
                                        std::string_view received, bool complete) noexcept;

}  // namespace ringlb
