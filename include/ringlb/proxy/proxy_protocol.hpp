// SPDX-License-Identifier: MIT
// The HAProxy PROXY protocol's wire format, v1 (text) and v2 (binary), as its writer and its
// parser share it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace ringlb {

// Longest v1 line the specification allows, CRLF included ("PROXY UNKNOWN" with two full
// IPv6 addresses and ports); a buffer this long always holds what write_proxy_v1 writes.
inline constexpr std::size_t kProxyV1MaxLength = 107;

// The 12 bytes every v2 header starts with; the NUL in the middle makes it no C string.
inline constexpr std::array<std::uint8_t, 12> kProxyV2Signature = {
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
// Signature, version/command, family/protocol and the 16-bit length of what follows.
inline constexpr std::size_t kProxyV2FixedLength = 16;
// The v2 command (low nibble of byte 12, after the version) and the family/protocol byte 13
// for TCP over IPv4 and over IPv6.
inline constexpr std::uint8_t kProxyV2CommandLocal = 0x0;
inline constexpr std::uint8_t kProxyV2CommandProxy = 0x1;
inline constexpr std::uint8_t kProxyV2TcpOverIpv4 = 0x11;
inline constexpr std::uint8_t kProxyV2TcpOverIpv6 = 0x21;

}  // namespace ringlb
