// SPDX-License-Identifier: MIT
// HttpAuth: the admin endpoint's bearer tokens and their roles; HttpAuthorizer: the verdict on
// each request, with failed attempts counted, logged and held back per client address.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "ringlb/admin/auth_guard.hpp"
#include "ringlb/admin/http_request.hpp"
#include "ringlb/admin/http_response.hpp"
#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// Who may do what. Without either token every request is served. With one, a request must
// carry "Authorization: Bearer <token>": `token` allows every request, `read_token` only GET
// and HEAD (anything else is 403). A missing or wrong token is 401. GET and HEAD of "/" (the
// stats page, static and without data) are served to anyone.
struct HttpAuth final {
    std::optional<std::string> token;
    std::optional<std::string> read_token;
};

// Throws std::invalid_argument when a token is set but empty or not visible ASCII.
void check_bearer_tokens(const HttpAuth& auth);

// Decides whether a well-formed request may reach the handler. Admin thread only.
class HttpAuthorizer final {
  public:
    // `auth` (checked by check_bearer_tokens) and `failures` (counts the 401s) must outlive
    // it. An address with more than `failures_per_s` failures within a second is held back
    // until `delay_ms` after its last one (see AuthGuard).
    HttpAuthorizer(const HttpAuth& auth, unsigned failures_per_s, std::uint64_t delay_ms,
                   std::atomic<std::uint64_t>& failures);

    // The response for a request from `peer` when tokens are set and it carries none that
    // allows it (401, or 403 for the read token on another method); nullopt when it may go to
    // the handler. A 401 is counted, logged at a rate limit and recorded against `peer`.
    [[nodiscard]] std::optional<HttpResponse> refusal(const SocketAddress& peer,
                                                      const HttpRequest& request,
                                                      std::uint64_t now_ms);
    // Whether requests from `peer` are answered only delay_ms() after they arrive.
    [[nodiscard]] bool held(const SocketAddress& peer, std::uint64_t now_ms) const noexcept {
        return guard_.held(peer, now_ms);
    }
    [[nodiscard]] std::uint64_t delay_ms() const noexcept { return guard_.delay_ms(); }

  private:
    const HttpAuth& auth_;
    unsigned failures_per_s_;  // for the log line that starts holding an address back
    AuthGuard guard_;
    std::atomic<std::uint64_t>& failures_;
};

}  // namespace ringlb
