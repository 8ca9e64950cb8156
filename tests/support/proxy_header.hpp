// SPDX-License-Identifier: MIT
// PROXY protocol v2 headers laid out by hand from the specification, independently of
// ringlb's own encoder.
#pragma once

#include <arpa/inet.h>
#include <fmt/format.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "harness.hpp"

namespace ringlb::test {

// The 12-byte signature that opens every v2 header (specification, section 2.2).
inline const std::string kProxyV2Signature("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", 12);

namespace detail {

inline void append_be16(std::string& out, std::uint16_t value) {
    out += static_cast<char>(value >> 8);
    out += static_cast<char>(value & 0xFF);
}

inline void append_ip(std::string& out, const std::string& ip) {
    unsigned char raw[16];
    const bool v6 = ip.find(':') != std::string::npos;
    if (::inet_pton(v6 ? AF_INET6 : AF_INET, ip.c_str(), raw) != 1) {
        throw HarnessError("proxy_v2: not an IP address: \"" + ip + "\"");
    }
    out.append(reinterpret_cast<const char*>(raw), v6 ? 16 : 4);
}

}  // namespace detail

// A v2 PROXY header for TCP: signature, version 2 | PROXY, AF_INET or AF_INET6 | STREAM, the
// 16-bit length of what follows, source and destination addresses, source and destination
// ports, then `tlvs` as given (counted in the length). The family follows `source_ip`.
[[nodiscard]] inline std::string proxy_v2(const std::string& source_ip, std::uint16_t source_port,
                                          const std::string& destination_ip,
                                          std::uint16_t destination_port,
                                          const std::string& tlvs = "") {
    const bool v6 = source_ip.find(':') != std::string::npos;
    std::string header = kProxyV2Signature;
    header += '\x21';                // version 2, command PROXY
    header += v6 ? '\x21' : '\x11';  // AF_INET6 or AF_INET, over STREAM
    detail::append_be16(header, static_cast<std::uint16_t>((v6 ? 36 : 12) + tlvs.size()));
    detail::append_ip(header, source_ip);
    detail::append_ip(header, destination_ip);
    detail::append_be16(header, source_port);
    detail::append_be16(header, destination_port);
    return header + tlvs;
}

// A v2 LOCAL header (a health check from the proxy itself): no addresses.
[[nodiscard]] inline std::string proxy_v2_local() {
    return kProxyV2Signature + std::string("\x20\x00\x00\x00", 4);
}

// Bytes as spaced hex ("0d 0a ..."), so that a binary header mismatch shows where it differs.
[[nodiscard]] inline std::string hex(std::string_view bytes) {
    std::string text;
    for (const char c : bytes) {
        text += fmt::format("{:02x} ", static_cast<unsigned char>(c));
    }
    return text;
}

}  // namespace ringlb::test
