// SPDX-License-Identifier: MIT
// Cidr: an IPv4 or IPv6 address block, parsed from config text and matched against clients.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// An address block "a.b.c.d/n" or "v6/n"; a bare address means /32 or /128.
struct Cidr final {
    int family = AF_INET;                  // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> bytes{};  // network address, host bits zero; IPv4 in [0..4)
    unsigned prefix = 0;                   // 0..32 or 0..128
    std::string text;                      // as written, for logs and /status
};

// Parses "10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1". Rejects host bits set beyond
// the prefix ("10.0.0.1/8"), out-of-range prefixes and anything else: nullopt.
[[nodiscard]] std::optional<Cidr> parse_cidr(std::string_view text) noexcept;

// Whether `address` (AF_INET or AF_INET6 sockaddr) lies inside `block`. An IPv4-mapped IPv6
// address (::ffff:a.b.c.d) matches IPv4 blocks as its IPv4 address, and an IPv4 address matches
// IPv6 blocks as its mapped form, so that a client matches the same blocks whether it reached a
// dual-stack or an IPv4 socket. Any other family, or nullptr, matches nothing. Data path:
// no allocation, no lock.
[[nodiscard]] bool cidr_contains(const Cidr& block, const sockaddr* address) noexcept;
// Whether any block of `blocks` contains `address`.
[[nodiscard]] bool any_contains(const std::vector<Cidr>& blocks, const sockaddr* address) noexcept;

}  // namespace ringlb
