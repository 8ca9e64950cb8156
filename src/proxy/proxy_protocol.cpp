// SPDX-License-Identifier: MIT
// PROXY protocol v1/v2 encoding and parsing, written from HAProxy's doc/proxy-protocol.txt.
#include "ringlb/proxy/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <initializer_list>
#include <string_view>

namespace ringlb {

namespace {

// One end of a proxied connection as both versions carry it: raw address bytes and a port.
struct Endpoint final {
    int family = AF_UNSPEC;                  // AF_INET, AF_INET6, or AF_UNSPEC for anything else
    std::array<std::uint8_t, 16> address{};  // network order; IPv4 in [0..4)
    std::uint16_t port = 0;                  // host order
};

Endpoint endpoint_of(const SocketAddress& address) noexcept {
    Endpoint result;
    if (address.family() == AF_INET && address.length() >= sizeof(sockaddr_in)) {
        sockaddr_in in4{};
        std::memcpy(&in4, address.data(), sizeof(in4));
        result.family = AF_INET;
        std::memcpy(result.address.data(), &in4.sin_addr, 4);
        result.port = ntohs(in4.sin_port);
    } else if (address.family() == AF_INET6 && address.length() >= sizeof(sockaddr_in6)) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, address.data(), sizeof(in6));
        result.family = AF_INET6;
        std::memcpy(result.address.data(), &in6.sin6_addr, 16);
        result.port = ntohs(in6.sin6_port);
    }
    return result;
}

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

bool is_v4_mapped(const Endpoint& endpoint) noexcept {
    return endpoint.family == AF_INET6 &&
           std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), endpoint.address.begin());
}

void unmap(Endpoint& endpoint) noexcept {
    std::memmove(endpoint.address.data(), endpoint.address.data() + kV4MappedPrefix.size(), 4);
    std::fill(endpoint.address.begin() + 4, endpoint.address.end(), 0);
    endpoint.family = AF_INET;
}

// The family both endpoints are written in, or AF_UNSPEC. A dual-stack socket reports an IPv4
// peer as ::ffff:a.b.c.d, so an IPv4 address paired with a mapped one is really IPv4 twice.
int common_family(Endpoint& source, Endpoint& destination) noexcept {
    if (source.family == AF_INET && is_v4_mapped(destination)) {
        unmap(destination);
    } else if (destination.family == AF_INET && is_v4_mapped(source)) {
        unmap(source);
    }
    return source.family == destination.family ? source.family : AF_UNSPEC;
}

// Builds the v1 line in a buffer that the longest line fits in.
class LineWriter final {
  public:
    void append(std::string_view text) noexcept {
        if (text.size() > line_.size() - size_) {
            overflow_ = true;
            return;
        }
        std::memcpy(line_.data() + size_, text.data(), text.size());
        size_ += text.size();
    }
    void append_decimal(unsigned value) noexcept {
        char digits[10];
        auto result = std::to_chars(std::begin(digits), std::end(digits), value);
        append(std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
    }
    void append_hex(unsigned value) noexcept {
        char digits[8];
        auto result = std::to_chars(std::begin(digits), std::end(digits), value, 16);
        append(std::string_view(digits, static_cast<std::size_t>(result.ptr - digits)));
    }
    void append_ipv4(const std::uint8_t* address) noexcept {
        for (int i = 0; i < 4; ++i) {
            if (i > 0) {
                append(".");
            }
            append_decimal(address[i]);
        }
    }
    // RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::".
    void append_ipv6(const std::uint8_t* address) noexcept {
        unsigned groups[8];
        for (int i = 0; i < 8; ++i) {
            groups[i] = static_cast<unsigned>(address[2 * i] << 8 | address[2 * i + 1]);
        }
        int best_start = -1;
        int best_length = 1;
        for (int i = 0; i < 8;) {
            int run = 0;
            while (i + run < 8 && groups[i + run] == 0) {
                ++run;
            }
            if (run > best_length) {
                best_start = i;
                best_length = run;
            }
            i += run > 0 ? run : 1;
        }
        for (int i = 0; i < 8;) {
            if (i == best_start) {
                append("::");
                i += best_length;
                continue;
            }
            if (i > 0 && i != best_start + best_length) {
                append(":");
            }
            append_hex(groups[i]);
            ++i;
        }
    }
    [[nodiscard]] std::span<const char> line() const noexcept {
        return overflow_ ? std::span<const char>() : std::span<const char>(line_.data(), size_);
    }

  private:
    std::array<char, kProxyV1MaxLength> line_{};
    std::size_t size_ = 0;
    bool overflow_ = false;
};

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

constexpr std::uint8_t kCommandLocal = 0x0;
constexpr std::uint8_t kCommandProxy = 0x1;
constexpr std::uint8_t kTcpOverIpv4 = 0x11;
constexpr std::uint8_t kTcpOverIpv6 = 0x21;

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
    if (version != 2 || (command != kCommandLocal && command != kCommandProxy)) {
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
    if (command == kCommandProxy && block_length < static_cast<std::size_t>(needed)) {
        return ProxyParse::invalid;
    }
    if (bytes.size() < total) {
        return ProxyParse::incomplete;
    }

    header = ProxyHeader{};
    header.length = total;
    header.version = 2;
    const std::uint8_t* block = bytes.data() + kProxyV2FixedLength;
    if (command == kCommandProxy && family_protocol == kTcpOverIpv4) {
        header.source = address_of(AF_INET, block, block[8] << 8 | block[9]);
        header.destination = address_of(AF_INET, block + 4, block[10] << 8 | block[11]);
    } else if (command == kCommandProxy && family_protocol == kTcpOverIpv6) {
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

std::size_t write_proxy_v1(const SocketAddress& source, const SocketAddress& destination,
                           std::span<char> out) noexcept {
    Endpoint from = endpoint_of(source);
    Endpoint to = endpoint_of(destination);
    const int family = common_family(from, to);
    LineWriter writer;
    if (family == AF_INET || family == AF_INET6) {
        writer.append(family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ");
        for (const Endpoint* endpoint : {&from, &to}) {
            if (family == AF_INET) {
                writer.append_ipv4(endpoint->address.data());
            } else {
                writer.append_ipv6(endpoint->address.data());
            }
            writer.append(" ");
        }
        writer.append_decimal(from.port);
        writer.append(" ");
        writer.append_decimal(to.port);
        writer.append("\r\n");
    } else {
        writer.append("PROXY UNKNOWN\r\n");
    }
    std::span<const char> line = writer.line();
    if (line.empty() || line.size() > out.size()) {
        return 0;
    }
    std::memcpy(out.data(), line.data(), line.size());
    return line.size();
}

std::size_t write_proxy_v2(const SocketAddress& source, const SocketAddress& destination,
                           std::span<std::uint8_t> out) noexcept {
    Endpoint from = endpoint_of(source);
    Endpoint to = endpoint_of(destination);
    const int family = common_family(from, to);
    const std::size_t address_length = family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
    const std::size_t block_length = address_length == 0 ? 0 : 2 * address_length + 2 * 2;
    const std::size_t total = kProxyV2FixedLength + block_length;
    if (out.size() < total) {
        return 0;
    }
    std::uint8_t* p = out.data();
    std::memcpy(p, kProxyV2Signature.data(), kProxyV2Signature.size());
    p[12] = 0x20 | kCommandProxy;
    p[13] = family == AF_INET ? kTcpOverIpv4 : family == AF_INET6 ? kTcpOverIpv6 : 0x00;
    p[14] = static_cast<std::uint8_t>(block_length >> 8);
    p[15] = static_cast<std::uint8_t>(block_length & 0xff);
    if (block_length > 0) {
        std::uint8_t* block = p + kProxyV2FixedLength;
        std::memcpy(block, from.address.data(), address_length);
        std::memcpy(block + address_length, to.address.data(), address_length);
        std::uint8_t* ports = block + 2 * address_length;
        ports[0] = static_cast<std::uint8_t>(from.port >> 8);
        ports[1] = static_cast<std::uint8_t>(from.port & 0xff);
        ports[2] = static_cast<std::uint8_t>(to.port >> 8);
        ports[3] = static_cast<std::uint8_t>(to.port & 0xff);
    }
    return total;
}

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
