// SPDX-License-Identifier: MIT
// SocketAddress: an IPv4 or IPv6 address and port, parsed from "host:port" / "[v6]:port".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace ringlb {

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
    // 127.0.0.0/8, ::1, or an IPv4-mapped 127.0.0.0/8: reachable from this host only.
    [[nodiscard]] bool is_loopback() const noexcept;

    friend bool operator==(const SocketAddress& a, const SocketAddress& b) noexcept;

  private:
    sockaddr_storage storage_{};
    socklen_t length_ = 0;
};

}  // namespace ringlb
