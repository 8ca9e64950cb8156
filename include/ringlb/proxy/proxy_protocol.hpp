// SPDX-License-Identifier: MIT
// The HAProxy PROXY protocol, v1 (text) and v2 (binary): header encoder and incremental parser.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// Longest v1 line the specification allows, CRLF included ("PROXY UNKNOWN" with two full
// IPv6 addresses and ports); a buffer this long always holds what write_proxy_v1 writes.
inline constexpr std::size_t kProxyV1MaxLength = 107;

// The 12 bytes every v2 header starts with; the NUL in the middle makes it no C string.
inline constexpr std::array<std::uint8_t, 12> kProxyV2Signature = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// Signature, version/command, family/protocol and the 16-bit length of what follows.
inline constexpr std::size_t kProxyV2FixedLength = 16;
// Whole v2 headers as write_proxy_v2 writes them (no TLVs).
inline constexpr std::size_t kProxyV2Ipv4Length = kProxyV2FixedLength + 2 * 4 + 2 * 2;
inline constexpr std::size_t kProxyV2Ipv6Length = kProxyV2FixedLength + 2 * 16 + 2 * 2;
inline constexpr std::size_t kProxyV2UnspecLength = kProxyV2FixedLength;
// A buffer this long always holds what write_proxy_v2 writes.
inline constexpr std::size_t kProxyV2MaxWriteLength = kProxyV2Ipv6Length;

// Largest header parse_proxy_header accepts, v2 TLVs included: a longer v2 header is invalid.
inline constexpr std::size_t kProxyHeaderMax = 1024;

// Writes "PROXY TCP4|TCP6 src dst sport dport\r\n" into `out`. `source` is the original client,
// `destination` the address it connected to. An IPv4 address paired with an IPv4-mapped IPv6
// one is written as two IPv4 addresses; families that still differ (or are not IP) give
// "PROXY UNKNOWN\r\n". IPv6 text is lower-case hex groups with "::" (RFC 5952), never a
// dotted tail. Returns the bytes written, or 0 if `out` is too small (nothing written then).
// Data path: no allocation, no lock.
[[nodiscard]] std::size_t write_proxy_v1(const SocketAddress& source,
                                         const SocketAddress& destination,
                                         std::span<char> out) noexcept;

// Writes a v2 header, command PROXY, TCP over AF_INET or AF_INET6, no TLVs; the same family
// rules as write_proxy_v1, with AF_UNSPEC (no addresses) where v1 writes UNKNOWN. Returns the
// bytes written (kProxyV2Ipv4Length, kProxyV2Ipv6Length or kProxyV2UnspecLength), or 0 if `out`
// is too small. Data path: no allocation, no lock.
[[nodiscard]] std::size_t write_proxy_v2(const SocketAddress& source,
                                         const SocketAddress& destination,
                                         std::span<std::uint8_t> out) noexcept;

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
