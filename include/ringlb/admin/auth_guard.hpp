// SPDX-License-Identifier: MIT
// AuthGuard: failed admin authentications per client address — when to log them, and when
// to hold that address's requests back. Admin thread only; no allocation after construction.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

class AuthGuard final {
  public:
    // An address with more than `failures_per_s` failures within one second is held back
    // from then until `delay_ms` after its last failure. At most `capacity` addresses are
    // tracked; a new one replaces the one seen longest ago.
    AuthGuard(unsigned failures_per_s, std::uint64_t delay_ms, std::size_t capacity = 1024);

    struct Verdict final {
        bool log = false;              // log this failure (at most once a second per address)
        std::uint64_t suppressed = 0;  // failures of the address not logged since the last line
        bool started_holding = false;  // this failure put the address in the held-back state
    };
    // Records a failure of `peer` (its port ignored; IPv4-mapped IPv6 is IPv4) at `now_ms`.
    [[nodiscard]] Verdict record_failure(const SocketAddress& peer, std::uint64_t now_ms) noexcept;
    // Whether requests from `peer` are held back at `now_ms`.
    [[nodiscard]] bool held(const SocketAddress& peer, std::uint64_t now_ms) const noexcept;
    [[nodiscard]] std::uint64_t delay_ms() const noexcept { return delay_ms_; }

  private:
    struct Entry final {
        IpBytes key;  // the address without its port
        bool used = false;
        std::uint64_t window_start_ms = 0;  // the one-second window the count belongs to
        unsigned window_failures = 0;
        std::uint64_t held_until_ms = 0;
        std::uint64_t last_log_ms = 0;
        bool logged = false;
        std::uint64_t suppressed = 0;
        std::uint64_t last_seen_ms = 0;
    };
    [[nodiscard]] const Entry* find(const IpBytes& key) const noexcept;

    unsigned failures_per_s_;
    std::uint64_t delay_ms_;
    std::vector<Entry> entries_;
};

}  // namespace ringlb
