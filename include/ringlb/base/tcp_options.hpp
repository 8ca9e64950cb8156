// SPDX-License-Identifier: MIT
// TcpOptions: the TCP socket options of one side (clients on a listener, backends of a pool) as
// plain values, shared by the config and the socket helpers.
#pragma once

#include <cstdint>

namespace ringlb {

// What ringlb sets on a socket (issue 12). 0 = not set: the kernel's default (the
// net.ipv4.tcp_keepalive_* sysctls, no mark).
struct TcpOptions final {
    unsigned keepalive_idle_s = 0;      // TCP_KEEPIDLE (1..32767)
    unsigned keepalive_interval_s = 0;  // TCP_KEEPINTVL (1..32767)
    unsigned keepalive_count = 0;       // TCP_KEEPCNT (1..127)
    bool nodelay = true;                // TCP_NODELAY: spliced bytes never wait for Nagle
    std::uint32_t mark = 0;             // SO_MARK for policy routing (needs CAP_NET_ADMIN)

    // SO_KEEPALIVE is on when any of the three keepalive values is set.
    [[nodiscard]] bool keepalive() const noexcept {
        return keepalive_idle_s != 0 || keepalive_interval_s != 0 || keepalive_count != 0;
    }
    bool operator==(const TcpOptions&) const = default;
};

}  // namespace ringlb
