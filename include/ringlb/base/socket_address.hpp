// SPDX-License-Identifier: MIT
// SocketAddress: an IPv4 or IPv6 address and port, parsed from "host:port" / "[v6]:port".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace ringlb {

// "::ffff:" — the 12-byte prefix of an IPv4-mapped IPv6 address (RFC 4291, 2.5.5.2): how a
// dual-stack socket reports an IPv4 peer.
inline constexpr std::array<std::uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0,    0,
                                                              0, 0, 0, 0, 0xff, 0xff};

// An IP address without its port, as bytes: 4 for IPv4 and for an IPv4-mapped IPv6 address
// (the same client, whichever socket it reached), 16 for any other IPv6 address, none for
// anything else. What a client is known by: hashing, limits, rules, failure accounting.
struct IpBytes final {
    std::array<std::uint8_t, 16> bytes{};
    std::uint8_t size = 0;  // 0, 4 or 16

    [[nodiscard]] std::span<const std::uint8_t> view() const noexcept {
        return {bytes.data(), size};
    }
    friend bool operator==(const IpBytes&, const IpBytes&) noexcept = default;
};

// The IpBytes of a kernel address (AF_INET or AF_INET6 sockaddr; empty for others or nullptr).
// No allocation: the data path calls it.
[[nodiscard]] IpBytes ip_bytes_of(const sockaddr* address) noexcept;

class SocketAddress final {
  public:
    SocketAddress() noexcept = default;

    // Parses a numeric "a.b.c.d:port" or "[v6]:port"; port 0..65535. Returns nullopt on
    // anything else (host names are not resolved here).
    [[nodiscard]] static std::optional<SocketAddress> parse(std::string_view text) noexcept;
    // Wraps an address returned by the kernel (getsockname, accept).
    [[nodiscard]] static SocketAddress from_sockaddr(const sockaddr* address,
                                                     socklen_t length) noexcept;

    [[nodiscard]] const sockaddr* data() const noexcept {
        return reinterpret_cast<const sockaddr*>(&storage_);
    }
    [[nodiscard]] socklen_t length() const noexcept { return length_; }
    [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
    [[nodiscard]] unsigned port() const noexcept;
    // "127.0.0.1:8080" or "[::1]:8080".
    [[nodiscard]] std::string to_string() const;
    [[nodiscard]] IpBytes ip_bytes() const noexcept { return ip_bytes_of(data()); }
    // 127.0.0.0/8, ::1, or an IPv4-mapped 127.0.0.0/8: reachable from this host only.
    [[nodiscard]] bool is_loopback() const noexcept;

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

  private:
    sockaddr_storage storage_{};
    socklen_t length_ = 0;
};

}  // namespace ringlb
