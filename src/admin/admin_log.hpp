// SPDX-License-Identifier: MIT
// Log helpers private to src/admin/: a client's name that never throws, and the admin
// thread's rate-limited warnings about what clients or the kernel can cause at any rate.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// For log lines: never throws (a short fallback fits in std::string's inline buffer).
[[nodiscard]] inline std::string peer_name(const SocketAddress& peer) noexcept {
    try {
        return peer.to_string();
    } catch (...) {
        return "?";
    }
}

// One warning a second at most, whatever its text, with the count of those held back.
// Admin thread only.
class AdminWarnings final {
  public:
    // True when a warning may go out now; `suppressed` then holds how many were held back.
    [[nodiscard]] bool allow(std::uint64_t& suppressed) noexcept {
        return limiter_.allow(monotonic_ns(), suppressed);
    }
    // "admin: WHAT: strerror(error) (N similar messages suppressed)", when allowed.
    void system_error(std::string_view what, int error) noexcept {
        std::uint64_t suppressed = 0;
        if (allow(suppressed)) {
            log_warn("admin: {}: {} ({} similar messages suppressed)", what, std::strerror(error),
                     suppressed);
        }
    }

  private:
    RateLimiter limiter_{1000};
};

}  // namespace ringlb
