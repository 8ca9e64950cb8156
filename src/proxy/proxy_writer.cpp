// SPDX-License-Identifier: MIT
// PROXY protocol v1/v2 headers written for a backend, from HAProxy's doc/proxy-protocol.txt.
#include "ringlb/proxy/proxy_writer.hpp"

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
    p[12] = 0x20 | kProxyV2CommandProxy;
    p[13] = family == AF_INET    ? kProxyV2TcpOverIpv4
            : family == AF_INET6 ? kProxyV2TcpOverIpv6
                                 : 0x00;
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

}  // namespace ringlb
