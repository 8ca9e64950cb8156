// SPDX-License-Identifier: MIT
// Parsing and printing of numeric IPv4/IPv6 socket addresses.
#include "ringlb/base/socket_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace ringlb {

namespace {
std::optional<unsigned> parse_port(std::string_view text) noexcept {
    if (text.empty() || text.size() > 5) {
        return std::nullopt;
    }
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value > 65535) {
        return std::nullopt;
    }
    return value;
}
}  // namespace

std::optional<SocketAddress> SocketAddress::parse(std::string_view text) noexcept {
    SocketAddress result;
    std::string_view host;
    std::string_view port_text;
    bool v6 = false;
    if (!text.empty() && text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
            return std::nullopt;
        }
        host = text.substr(1, close - 1);
        port_text = text.substr(close + 2);
        v6 = true;
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) {
            return std::nullopt;
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
    }
    auto port = parse_port(port_text);
    if (!port || host.empty() || host.size() >= INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    char host_z[INET6_ADDRSTRLEN] = {};
    std::memcpy(host_z, host.data(), host.size());
    if (v6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&result.storage_);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(static_cast<uint16_t>(*port));
        if (inet_pton(AF_INET6, host_z, &in6->sin6_addr) != 1) {
            return std::nullopt;
        }
        result.length_ = sizeof(sockaddr_in6);
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&result.storage_);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(static_cast<uint16_t>(*port));
        if (inet_pton(AF_INET, host_z, &in4->sin_addr) != 1) {
            return std::nullopt;
        }
        result.length_ = sizeof(sockaddr_in);
    }
    return result;
}

SocketAddress SocketAddress::from_sockaddr(const sockaddr* address, socklen_t length) noexcept {
    SocketAddress result;
    length = std::min<socklen_t>(length, sizeof(result.storage_));
    std::memcpy(&result.storage_, address, length);
    result.length_ = length;
    return result;
}

unsigned SocketAddress::port() const noexcept {
    if (family() == AF_INET) {
        return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    }
    if (family() == AF_INET6) {
        return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    }
    return 0;
}

IpBytes ip_bytes_of(const sockaddr* address) noexcept {
    IpBytes ip;
    if (address == nullptr) {
        return ip;
    }
    if (address->sa_family == AF_INET) {
        sockaddr_in v4{};
        std::memcpy(&v4, address, sizeof v4);
        std::memcpy(ip.bytes.data(), &v4.sin_addr, 4);
        ip.size = 4;
    } else if (address->sa_family == AF_INET6) {
        sockaddr_in6 v6{};
        std::memcpy(&v6, address, sizeof v6);
        const std::uint8_t* bytes = v6.sin6_addr.s6_addr;
        if (std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), bytes)) {
            std::memcpy(ip.bytes.data(), bytes + kV4MappedPrefix.size(), 4);
            ip.size = 4;
        } else {
            std::memcpy(ip.bytes.data(), bytes, 16);
            ip.size = 16;
        }
    }
    return ip;
}

bool SocketAddress::is_loopback() const noexcept {
    static constexpr std::array<std::uint8_t, 16> kV6Loopback{0, 0, 0, 0, 0, 0, 0, 0,
                                                              0, 0, 0, 0, 0, 0, 0, 1};
    const IpBytes ip = ip_bytes();
    return (ip.size == 4 && ip.bytes[0] == 127) || (ip.size == 16 && ip.bytes == kV6Loopback);
}

std::string SocketAddress::to_string() const {
    char host[INET6_ADDRSTRLEN] = {};
    if (family() == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, host,
                  sizeof(host));
        return fmt::format("{}:{}", host, port());
    }
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, host,
                  sizeof(host));
        return fmt::format("[{}]:{}", host, port());
    }
    return "(none)";
}

bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept {
    return a.length_ == b.length_ && std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

}  // namespace ringlb
