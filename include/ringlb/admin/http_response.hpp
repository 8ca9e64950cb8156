// SPDX-License-Identifier: MIT
// HttpResponse: what an admin handler answers, and how the server writes it on the wire.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ringlb {

struct HttpResponse {
    int status = 200;          // 200..599; anything else becomes a 500
    std::string content_type;  // empty: "text/plain; charset=utf-8"
    std::string body;
    // Extra header fields. The server writes Content-Length, Content-Type, Connection and
    // Date itself: a handler naming one of those (or Transfer-Encoding), or putting a
    // control character in a name or value, gets a 500 instead.
    std::vector<std::pair<std::string, std::string>> headers;
};

// The reason phrase for a status ("Not Found"), or a generic one for its class.
[[nodiscard]] std::string_view http_reason_phrase(int status) noexcept;

// A plain-text response whose body is "STATUS REASON: DETAIL\n" (no ": " when `detail` is
// empty), as the server answers errors itself.
[[nodiscard]] HttpResponse http_text_response(int status, std::string_view detail);

// Why a handler's response cannot be sent as it is (static text), or nullptr when it can.
[[nodiscard]] const char* http_response_problem(const HttpResponse& response) noexcept;

// Appends a whole response to `out`: status line, Date, Content-Type, Content-Length,
// Connection ("close" when `close`), the extra headers, then the body. 204 and 304 carry
// neither body nor Content-Length (RFC 9110 8.6, 15.4.5); `head_only` (HEAD) keeps the
// Content-Length and drops the body. The response must have passed http_response_problem.
void append_http_response(std::string& out, const HttpResponse& response, bool head_only,
                          bool close);

}  // namespace ringlb
