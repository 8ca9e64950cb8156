// SPDX-License-Identifier: MIT
// The incremental parser of the PROXY protocol header, v1 (text) or v2 (binary), a client sends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/proxy/proxy_protocol.hpp"

namespace ringlb {

// Largest header parse_proxy_header accepts, v2 TLVs included: a longer v2 header is invalid.
inline constexpr std::size_t kProxyHeaderMax = 1024;

// What a complete header announced.
struct ProxyHeader final {
    std::size_t length = 0;     // bytes of the header; client data starts at this offset
    bool local = false;         // LOCAL, UNKNOWN or a family we do not proxy: use the
                                // connection's own addresses (source/destination are empty)
    SocketAddress source;       // original client (AF_INET or AF_INET6) unless local
    SocketAddress destination;  // address the client connected to, unless local
    int version = 0;            // 1 or 2
};

enum class ProxyParse {
    complete,    // `header` is filled in
    incomplete,  // a valid beginning of a header: wait for more bytes
    invalid,     // not a PROXY header: drop the connection
};

// Parses the header at the start of `bytes`, everything received so far (client data may
// follow it). Returns incomplete only for a proper prefix of some valid header, checked as far
// as it goes (the v1 line token by token, the v2 fixed part byte by byte), so a connection that
// does not speak the protocol is refused at its first wrong byte. v1: TCP4/TCP6 with canonical
// addresses and ports (no leading zeros; IPv6 may end in a dotted IPv4), or UNKNOWN (local).
// v2: version 2, LOCAL (local) or PROXY; TCP over IPv4/IPv6 gives addresses, other valid
// families fall back to local; the length must cover the family's addresses and keep the header
// within kProxyHeaderMax; TLVs are skipped unread. `header` is written only on complete.
// Data path: no allocation, no lock; never reads past `bytes`.
[[nodiscard]] ProxyParse parse_proxy_header(std::span<const std::uint8_t> bytes,
                                            ProxyHeader& header) noexcept;

}  // namespace ringlb
