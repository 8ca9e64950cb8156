// SPDX-License-Identifier: MIT
// The PROXY protocol v1/v2 header parser, strict and incremental, written from HAProxy's
// doc/proxy-protocol.txt.
#include "ringlb/proxy/proxy_parser.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace ringlb {

namespace {

SocketAddress address_of(int family, const std::uint8_t* address, unsigned port) noexcept {
    if (family == AF_INET) {
        sockaddr_in in4{};
        in4.sin_family = AF_INET;
        in4.sin_port = htons(static_cast<std::uint16_t>(port));
        std::memcpy(&in4.sin_addr, address, 4);
        return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&in4), sizeof(in4));
    }
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(static_cast<std::uint16_t>(port));
    std::memcpy(&in6.sin6_addr, address, 16);
    return SocketAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&in6), sizeof(in6));
}

// ---- v1 parsing ----

enum class Step { ok, more, bad };

// Reads the v1 line byte by byte. `limit` is how far the current field may reach and still
// leave room for the shortest possible rest of the line within kProxyV1MaxLength, so that a
// prefix which can no longer complete is refused at once rather than waited on.
struct LineCursor final {
    std::span<const std::uint8_t> bytes;
    std::size_t position = 0;
    std::size_t limit = kProxyV1MaxLength;

    // `rest` counts the bytes that must still follow the field about to be read (its
    // terminator included).
    void reserve(std::size_t rest) noexcept { limit = kProxyV1MaxLength + 1 - rest; }

    Step peek(char& out) const noexcept {
        if (position >= limit) {
            return Step::bad;
        }
        if (position >= bytes.size()) {
            return Step::more;
        }
        out = static_cast<char>(bytes[position]);
        return Step::ok;
    }
    Step expect(char wanted) noexcept {
        char c = 0;
        if (Step step = peek(c); step != Step::ok) {
            return step;
        }
        if (c != wanted) {
            return Step::bad;
        }
        ++position;
        return Step::ok;
    }
    Step expect(std::string_view literal) noexcept {
        for (char wanted : literal) {
            if (Step step = expect(wanted); step != Step::ok) {
                return step;
            }
        }
        return Step::ok;
    }
};

bool is_decimal(char c) noexcept {
    return c >= '0' && c <= '9';
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// A decimal number 0..max without leading zeros (the specification forbids them so that
// nobody reads octal); stops before the first non-digit, which must be there to be seen.
Step parse_decimal(LineCursor& cursor, unsigned max, unsigned& out) noexcept {
    unsigned value = 0;
    int digits = 0;
    for (;;) {
        char c = 0;
        if (Step step = cursor.peek(c); step != Step::ok) {
            return step;
        }
        if (!is_decimal(c)) {
            break;
        }
        if (digits > 0 && value == 0) {
            return Step::bad;
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
        if (value > max) {
            return Step::bad;
        }
        ++digits;
        ++cursor.position;
    }
    if (digits == 0) {
        return Step::bad;
    }
    out = value;
    return Step::ok;
}

// Dotted quad, stopping before whatever follows the last number.
Step parse_ipv4(LineCursor& cursor, std::uint8_t* out) noexcept {
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (Step step = cursor.expect('.'); step != Step::ok) {
                return step;
            }
        }
        unsigned octet = 0;
        if (Step step = parse_decimal(cursor, 255, octet); step != Step::ok) {
            return step;
        }
        out[i] = static_cast<std::uint8_t>(octet);
    }
    return Step::ok;
}

// Hex groups of 1-4 digits with at most one "::" and an optional dotted IPv4 tail for the
// last 32 bits (what inet_ntop writes for mapped addresses), stopping before `terminator`.
// Every byte is judged as it arrives so a wrong address is refused before its end.
Step parse_ipv6(LineCursor& cursor, char terminator, std::uint8_t* out) noexcept {
    std::uint16_t groups[8] = {};
    int count = 0;
    int gap_at = -1;  // index in groups where "::" stands, -1 if none
    char c = 0;
    if (Step step = cursor.peek(c); step != Step::ok) {
        return step;
    }
    if (c == ':') {
        if (Step step = cursor.expect("::"); step != Step::ok) {
            return step;
        }
        gap_at = 0;
        if (Step step = cursor.peek(c); step != Step::ok) {
            return step;
        }
    }
    if (!(gap_at == 0 && c == terminator)) {
        for (;;) {
            const std::size_t group_start = cursor.position;
            unsigned value = 0;
            int digits = 0;
            for (;;) {
                if (Step step = cursor.peek(c); step != Step::ok) {
                    return step;
                }
                int digit = hex_value(c);
                if (digit < 0) {
                    break;
                }
                if (digits == 4) {
                    return Step::bad;
                }
                value = value * 16 + static_cast<unsigned>(digit);
                ++digits;
                ++cursor.position;
            }
            if (digits == 0) {
                return Step::bad;
            }
            if (c == '.') {
                // The dotted tail fills the last two groups exactly; parse_ipv4 refuses a group
                // that was not decimal.
                if (gap_at < 0 ? count != 6 : count > 5) {
                    return Step::bad;
                }
                cursor.position = group_start;
                std::uint8_t tail[4];
                if (Step step = parse_ipv4(cursor, tail); step != Step::ok) {
                    return step;
                }
                groups[count++] = static_cast<std::uint16_t>(tail[0] << 8 | tail[1]);
                groups[count++] = static_cast<std::uint16_t>(tail[2] << 8 | tail[3]);
                break;
            }
            groups[count++] = static_cast<std::uint16_t>(value);
            if (c == terminator) {
                break;
            }
            if (c != ':') {
                return Step::bad;
            }
            ++cursor.position;
            // What may follow the colon, "::" or another group, must still fit in 8 groups.
            if (count >= (gap_at >= 0 ? 7 : 8)) {
                return Step::bad;
            }
            if (Step step = cursor.peek(c); step != Step::ok) {
                return step;
            }
            if (c == ':') {
                // "::" stands for at least one zero group.
                if (gap_at >= 0) {
                    return Step::bad;
                }
                gap_at = count;
                ++cursor.position;
                if (Step step = cursor.peek(c); step != Step::ok) {
                    return step;
                }
                if (c == terminator) {
                    break;
                }
            }
            if (count >= (gap_at >= 0 ? 7 : 8)) {
                return Step::bad;
            }
        }
    }
    if (gap_at < 0 ? count != 8 : count > 7) {
        return Step::bad;
    }
    std::uint16_t expanded[8] = {};
    if (gap_at < 0) {
        std::copy(groups, groups + 8, expanded);
    } else {
        std::copy(groups, groups + gap_at, expanded);
        std::copy(groups + gap_at, groups + count, expanded + 8 - (count - gap_at));
    }
    for (int i = 0; i < 8; ++i) {
        out[2 * i] = static_cast<std::uint8_t>(expanded[i] >> 8);
        out[2 * i + 1] = static_cast<std::uint8_t>(expanded[i] & 0xff);
    }
    return Step::ok;
}

ProxyParse to_result(Step step) noexcept {
    return step == Step::more ? ProxyParse::incomplete : ProxyParse::invalid;
}

// "PROXY UNKNOWN" then CRLF, or a space and anything up to the CRLF (ignored, per the spec).
ProxyParse parse_v1_unknown(LineCursor& cursor, ProxyHeader& header) noexcept {
    cursor.reserve(2);
    char c = 0;
    if (Step step = cursor.peek(c); step != Step::ok) {
        return to_result(step);
    }
    if (c == ' ') {
        for (;;) {
            ++cursor.position;
            if (Step step = cursor.peek(c); step != Step::ok) {
                return to_result(step);
            }
            if (c == '\r') {
                break;
            }
            if (c == '\n') {
                return ProxyParse::invalid;  // a lone LF never ends the line
            }
        }
    }
    cursor.reserve(1);
    if (Step step = cursor.expect("\r\n"); step != Step::ok) {
        return to_result(step);
    }
    header = ProxyHeader{};
    header.length = cursor.position;
    header.local = true;
    header.version = 1;
    return ProxyParse::complete;
}

ProxyParse parse_v1(std::span<const std::uint8_t> bytes, ProxyHeader& header) noexcept {
    LineCursor cursor{bytes};
    if (Step step = cursor.expect("PROXY "); step != Step::ok) {
        return to_result(step);
    }
    char c = 0;
    if (Step step = cursor.peek(c); step != Step::ok) {
        return to_result(step);
    }
    if (c == 'U') {
        if (Step step = cursor.expect("UNKNOWN"); step != Step::ok) {
            return to_result(step);
        }
        return parse_v1_unknown(cursor, header);
    }
    if (Step step = cursor.expect("TCP"); step != Step::ok) {
        return to_result(step);
    }
    if (Step step = cursor.peek(c); step != Step::ok) {
        return to_result(step);
    }
    if (c != '4' && c != '6') {
        return ProxyParse::invalid;
    }
    const int family = c == '4' ? AF_INET : AF_INET6;
    ++cursor.position;
    if (Step step = cursor.expect(' '); step != Step::ok) {
        return to_result(step);
    }

    // Shortest rest of the line after each field: " 0 0\r\n" after the destination, and a
    // space plus the shortest destination ("0.0.0.0" or "::") before that.
    std::uint8_t addresses[2][16] = {};
    for (int i = 0; i < 2; ++i) {
        std::size_t rest = 6;
        if (i == 0) {
            rest += family == AF_INET ? 8 : 3;
        }
        cursor.reserve(rest);
        Step step = family == AF_INET ? parse_ipv4(cursor, addresses[i])
                                      : parse_ipv6(cursor, ' ', addresses[i]);
        if (step == Step::ok) {
            step = cursor.expect(' ');
        }
        if (step != Step::ok) {
            return to_result(step);
        }
    }
    unsigned ports[2] = {};
    cursor.reserve(4);
    if (Step step = parse_decimal(cursor, 65535, ports[0]); step != Step::ok) {
        return to_result(step);
    }
    if (Step step = cursor.expect(' '); step != Step::ok) {
        return to_result(step);
    }
    cursor.reserve(2);
    if (Step step = parse_decimal(cursor, 65535, ports[1]); step != Step::ok) {
        return to_result(step);
    }
    if (Step step = cursor.expect('\r'); step != Step::ok) {
        return to_result(step);
    }
    cursor.reserve(1);
    if (Step step = cursor.expect('\n'); step != Step::ok) {
        return to_result(step);
    }
    header = ProxyHeader{};
    header.length = cursor.position;
    header.version = 1;
    header.source = address_of(family, addresses[0], ports[0]);
    header.destination = address_of(family, addresses[1], ports[1]);
    return ProxyParse::complete;
}

// ---- v2 parsing ----

// Bytes of addresses a family/protocol byte needs, or -1 for a value the spec does not define.
int address_block_length(std::uint8_t family_protocol) noexcept {
    switch (family_protocol) {
        case 0x00:  // UNSPEC
            return 0;
        case 0x11:  // TCP over IPv4
        case 0x12:  // UDP over IPv4
            return 2 * 4 + 2 * 2;
        case 0x21:  // TCP over IPv6
        case 0x22:  // UDP over IPv6
            return 2 * 16 + 2 * 2;
        case 0x31:  // UNIX stream
        case 0x32:  // UNIX datagram
            return 2 * 108;
        default:
            return -1;
    }
}

ProxyParse parse_v2(std::span<const std::uint8_t> bytes, ProxyHeader& header) noexcept {
    const std::size_t signature_seen = std::min(bytes.size(), kProxyV2Signature.size());
    if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(signature_seen),
                    kProxyV2Signature.begin())) {
        return ProxyParse::invalid;
    }
    if (bytes.size() < 13) {
        return ProxyParse::incomplete;
    }
    const std::uint8_t version = bytes[12] >> 4;
    const std::uint8_t command = bytes[12] & 0x0f;
    if (version != 2 || (command != kProxyV2CommandLocal && command != kProxyV2CommandProxy)) {
        return ProxyParse::invalid;
    }
    if (bytes.size() < 14) {
        return ProxyParse::incomplete;
    }
    const std::uint8_t family_protocol = bytes[13];
    const int needed = address_block_length(family_protocol);
    if (needed < 0) {
        return ProxyParse::invalid;
    }
    if (bytes.size() < 15) {
        return ProxyParse::incomplete;
    }
    if (kProxyV2FixedLength + (std::size_t{bytes[14]} << 8) > kProxyHeaderMax) {
        return ProxyParse::invalid;
    }
    if (bytes.size() < kProxyV2FixedLength) {
        return ProxyParse::incomplete;
    }
    const std::size_t block_length = std::size_t{bytes[14]} << 8 | bytes[15];
    const std::size_t total = kProxyV2FixedLength + block_length;
    if (total > kProxyHeaderMax) {
        return ProxyParse::invalid;
    }
    // LOCAL ignores the address block, whatever its length (the spec says not to assume 0).
    if (command == kProxyV2CommandProxy && block_length < static_cast<std::size_t>(needed)) {
        return ProxyParse::invalid;
    }
    if (bytes.size() < total) {
        return ProxyParse::incomplete;
    }

    header = ProxyHeader{};
    header.length = total;
    header.version = 2;
    const std::uint8_t* block = bytes.data() + kProxyV2FixedLength;
    if (command == kProxyV2CommandProxy && family_protocol == kProxyV2TcpOverIpv4) {
        header.source = address_of(AF_INET, block, block[8] << 8 | block[9]);
        header.destination = address_of(AF_INET, block + 4, block[10] << 8 | block[11]);
    } else if (command == kProxyV2CommandProxy && family_protocol == kProxyV2TcpOverIpv6) {
        header.source = address_of(AF_INET6, block, block[32] << 8 | block[33]);
        header.destination = address_of(AF_INET6, block + 16, block[34] << 8 | block[35]);
    } else {
        // LOCAL, or a family a TCP balancer cannot proxy: the spec lets the receiver fall back
        // to the connection's own addresses (UNSPEC).
        header.local = true;
    }
    return ProxyParse::complete;
}

}  // namespace

ProxyParse parse_proxy_header(std::span<const std::uint8_t> bytes, ProxyHeader& header) noexcept {
    if (bytes.empty()) {
        return ProxyParse::incomplete;
    }
    if (bytes[0] == 'P') {
        return parse_v1(bytes, header);
    }
    if (bytes[0] == kProxyV2Signature[0]) {
        return parse_v2(bytes, header);
    }
    return ProxyParse::invalid;
}

}  // namespace ringlb
