// SPDX-License-Identifier: MIT
// parse_http_request: a strict, bounded, allocation-free HTTP/1.0 and 1.1 request parser.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace ringlb {

// Limits of what the admin endpoint accepts; larger requests are refused, never buffered.
inline constexpr std::size_t kHttpMaxHeadBytes = 8 * 1024;  // request line, headers, blank line
inline constexpr std::size_t kHttpMaxBodyBytes = 4 * 1024;  // Content-Length at most this
inline constexpr std::size_t kHttpMaxHeaders = 64;

enum class HttpParse {
    complete,     // a whole request (head and body) is in the bytes
    incomplete,   // valid so far; wait for more bytes
    bad_request,  // malformed: answer 400 and close
    too_large,    // over a limit: answer reject_status (413, 414 or 431) and close
    unsupported,  // Transfer-Encoding (501) or an HTTP version other than 1.0 / 1.1 (505)
};

struct HttpHeader {
    std::string_view name;   // as sent; compare case-insensitively
    std::string_view value;  // leading and trailing spaces and tabs removed
};

// A parsed request. Every view points into the bytes given to parse_http_request: it stays
// valid while those bytes are neither changed nor freed.
struct HttpRequest {
    std::string_view method;         // case-sensitive token as sent ("GET", "POST", ...)
    std::string_view path;           // target up to '?' ("/metrics"), not percent-decoded
    std::string_view query;          // after the first '?', without it; empty when none
    std::string_view host;           // Host header; empty when absent (allowed for HTTP/1.0)
    std::string_view authorization;  // Authorization header; empty when absent
    std::string_view body;           // exactly Content-Length bytes; empty without one
    int version_minor = 1;           // HTTP/1.<version_minor>: 0 or 1
    bool keep_alive = false;         // the client is willing to send another request after
    bool expect_continue = false;    // "Expect: 100-continue": it waits before sending a body
    std::size_t head_size = 0;       // request line + headers + blank line; 0 until all seen
    std::size_t size = 0;            // head_size + body size: where a pipelined request starts
    std::array<HttpHeader, kHttpMaxHeaders> headers{};
    std::size_t header_count = 0;
    int reject_status = 0;           // when not complete/incomplete: the status to answer
    std::string_view reject_reason;  // and why, in a few words (static text, not input)

    // The first header with this name (case-insensitive), or nullopt.
    [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const noexcept;
};

// Parses the request at the start of `bytes` (everything received so far on a connection).
// Stateless: call it again on the grown buffer after each read. Returns:
//  - complete: `request` is filled; request.size bytes belong to it (any more are the next
//    pipelined request);
//  - incomplete: need more bytes. Once the head is whole (head_size != 0) the head fields
//    are filled and only the body is missing (look at expect_continue);
//  - bad_request / too_large / unsupported, with reject_status and reject_reason set. Errors
//    are reported as early as the bytes allow: a head over kHttpMaxHeadBytes is too_large as
//    soon as that many bytes arrive without its blank line, and a request line that cannot
//    start an HTTP request (e.g. a TLS handshake) is a bad_request at its first bytes.
// Strictness, chosen for a small admin endpoint and to leave no room for request smuggling:
//  - lines end in CRLF only; a bare LF or a bare CR anywhere in the head is a bad_request;
//  - empty lines before the request line are skipped (RFC 9112 2.2);
//  - targets: origin-form ("/path?query"), absolute-form with a path ("http://h/path"), or
//    "*" for OPTIONS; only visible ASCII, no '#';
//  - HTTP/1.1 needs exactly one Host header; Content-Length and Authorization at most once;
//    Content-Length is decimal digits only; obsolete line folding is refused;
//  - any Transfer-Encoding is unsupported (even with a Content-Length).
[[nodiscard]] HttpParse parse_http_request(std::string_view bytes, HttpRequest& request) noexcept;

// The value of `name` in an application/x-www-form-urlencoded style query ("a=1&b&c=x"):
// "1" for "a", "" for "b", nullopt for "d". First match wins; nothing is decoded. The view
// points into `query`.
[[nodiscard]] std::optional<std::string_view> query_param(std::string_view query,
                                                          std::string_view name) noexcept;

// ASCII case-insensitive equality, as header names and tokens compare.
[[nodiscard]] bool http_iequals(std::string_view a, std::string_view b) noexcept;
// A non-empty RFC 9110 token: what methods and header names are made of.
[[nodiscard]] bool http_is_token(std::string_view text) noexcept;
// Legal as a header field value: no control characters other than tab (so no CR or LF).
[[nodiscard]] bool http_is_field_value(std::string_view text) noexcept;

}  // namespace ringlb
