// SPDX-License-Identifier: MIT
// Bearer-token checks for the admin endpoint: token rules, constant-time comparison, roles,
// and what a request without the right token is answered.
#include "ringlb/admin/http_auth.hpp"

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string_view>

#include "admin_log.hpp"
#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {

// Constant time in the content of `given` for a fixed `expected`: the loop always runs over
// the whole secret and never exits early, so response timing does not reveal a prefix match.
bool constant_time_equals(std::string_view given, std::string_view expected) noexcept {
    unsigned difference = given.size() == expected.size() ? 0U : 1U;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        unsigned char offered = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
        difference |= offered ^ static_cast<unsigned char>(expected[i]);
    }
    return difference == 0;
}

// "Bearer <token>" (RFC 6750 2.1; the scheme is case-insensitive, RFC 9110 11.1).
bool bearer_matches(std::string_view authorization, std::string_view token) noexcept {
    std::size_t space = authorization.find(' ');
    if (space == std::string_view::npos ||
        !http_iequals(authorization.substr(0, space), "Bearer")) {
        return false;
    }
    std::string_view credentials = authorization.substr(space);
    while (!credentials.empty() && credentials.front() == ' ') {
        credentials.remove_prefix(1);
    }
    return constant_time_equals(credentials, token);
}

}  // namespace

void check_bearer_tokens(const HttpAuth& auth) {
    for (const std::optional<std::string>* token : {&auth.token, &auth.read_token}) {
        if (!*token) {
            continue;
        }
        // An empty token would accept "Bearer " alone; spaces or controls could never match.
        bool visible =
            !(*token)->empty() && std::all_of((*token)->begin(), (*token)->end(),
                                              [](char c) { return c > 0x20 && c < 0x7f; });
        if (!visible) {
            throw std::invalid_argument(
                "admin HTTP server: a bearer token must be non-empty visible ASCII");
        }
    }
}

HttpAuthorizer::HttpAuthorizer(const HttpAuth& auth, unsigned failures_per_s,
                               std::uint64_t delay_ms, std::atomic<std::uint64_t>& failures)
    : auth_(auth),
      failures_per_s_(failures_per_s),
      guard_(failures_per_s, delay_ms),
      failures_(failures) {}

std::optional<HttpResponse> HttpAuthorizer::refusal(const SocketAddress& peer,
                                                    const HttpRequest& request,
                                                    std::uint64_t now_ms) {
    if (!auth_.token && !auth_.read_token) {
        return std::nullopt;
    }
    // The stats page's shell (GET / only) is public: it is static text that holds no data,
    // and asks the user for the token its own requests (/status, the actions) then carry.
    if (request.path == "/" && (request.method == "GET" || request.method == "HEAD")) {
        return std::nullopt;
    }
    // Both comparisons run whatever the first found, so timing does not tell which matched.
    const bool full = auth_.token && bearer_matches(request.authorization, *auth_.token);
    const bool read = auth_.read_token && bearer_matches(request.authorization, *auth_.read_token);
    if (full) {
        return std::nullopt;
    }
    if (read) {
        if (request.method == "GET" || request.method == "HEAD") {
            return std::nullopt;
        }
        HttpResponse response = http_text_response(403, "the read token allows only GET and HEAD");
        return response;
    }
    failures_.fetch_add(1, std::memory_order_relaxed);
    const AuthGuard::Verdict verdict = guard_.record_failure(peer, now_ms);
    const std::string address = peer_name(peer);
    if (verdict.log) {
        log_warn(
            "admin: authentication failed client={} request=\"{} {}\" reason={} "
            "({} more from this address since the last such line)",
            address.substr(0, address.rfind(':')), request.method, request.path,
            request.authorization.empty() ? "no-token" : "wrong-token", verdict.suppressed);
    }
    if (verdict.started_holding) {
        log_warn(
            "admin: client={} failed authentication more than {} times in a second: its "
            "requests are answered {} ms late until it stops",
            address.substr(0, address.rfind(':')), failures_per_s_, guard_.delay_ms());
    }
    HttpResponse response = http_text_response(401, "a bearer token is required");
    response.headers.emplace_back("WWW-Authenticate",
                                  request.authorization.empty()
                                      ? R"(Bearer realm="ringlb")"
                                      : R"(Bearer realm="ringlb", error="invalid_token")");
    return response;
}

}  // namespace ringlb
