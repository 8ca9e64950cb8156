// SPDX-License-Identifier: MIT
// PROXY protocol headers, v1 (text) and v2 (binary), written for a backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/proxy/proxy_protocol.hpp"

namespace ringlb {

// Whole v2 headers as write_proxy_v2 writes them (no TLVs).
inline constexpr std::size_t kProxyV2Ipv4Length = kProxyV2FixedLength + 2 * 4 + 2 * 2;
inline constexpr std::size_t kProxyV2Ipv6Length = kProxyV2FixedLength + 2 * 16 + 2 * 2;
inline constexpr std::size_t kProxyV2UnspecLength = kProxyV2FixedLength;
// A buffer this long always holds what write_proxy_v2 writes.
inline constexpr std::size_t kProxyV2MaxWriteLength = kProxyV2Ipv6Length;

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

}  // namespace ringlb
