// SPDX-License-Identifier: MIT
// Parsing of CIDR address blocks and matching of client addresses against them.
#include "ringlb/base/cidr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace ringlb {

namespace {

constexpr std::size_t kV4Bytes = 4;
constexpr std::size_t kV6Bytes = 16;

// The prefix length after the '/', written in plain decimal without a sign or leading zero.
std::optional<unsigned> parse_prefix(std::string_view text, unsigned max) noexcept {
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text.front() == '0')) {
        return std::nullopt;
    }
    unsigned value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

// Whether the first `prefix` bits of `a` and `b` are equal.
bool same_prefix(const std::uint8_t* a, const std::uint8_t* b, unsigned prefix) noexcept {
    unsigned whole = prefix / 8;
    if (std::memcmp(a, b, whole) != 0) {
        return false;
    }
    unsigned rest = prefix % 8;
    if (rest == 0) {
        return true;
    }
    auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

// Whether any bit after the first `prefix` of the `size` bytes at `bytes` is set.
bool has_host_bits(const std::uint8_t* bytes, std::size_t size, unsigned prefix) noexcept {
    for (std::size_t bit = prefix; bit < size * 8; ++bit) {
        if ((bytes[bit / 8] >> (7 - bit % 8)) & 1U) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::optional<Cidr> parse_cidr(std::string_view text) noexcept {
    // inet_pton reads a C string: a NUL inside the text would silently cut it short.
    if (text.find('\0') != std::string_view::npos) {
        return std::nullopt;
    }
    auto slash = text.find('/');
    std::string_view address = text.substr(0, slash);
    // Long enough for any IPv6 text form, including the dotted IPv4 tail.
    if (address.empty() || address.size() >= INET6_ADDRSTRLEN) {
        return std::nullopt;
    }
    char address_z[INET6_ADDRSTRLEN] = {};
    std::memcpy(address_z, address.data(), address.size());

    Cidr block;
    std::size_t size = 0;
    if (inet_pton(AF_INET, address_z, block.bytes.data()) == 1) {
        block.family = AF_INET;
        size = kV4Bytes;
    } else if (inet_pton(AF_INET6, address_z, block.bytes.data()) == 1) {
        block.family = AF_INET6;
        size = kV6Bytes;
    } else {
        return std::nullopt;
    }
    auto max_prefix = static_cast<unsigned>(size * 8);
    block.prefix = max_prefix;
    if (slash != std::string_view::npos) {
        auto prefix = parse_prefix(text.substr(slash + 1), max_prefix);
        if (!prefix) {
            return std::nullopt;
        }
        block.prefix = *prefix;
    }
    // "10.0.0.1/8" is most likely a typo for a host or for "10.0.0.0/8": refuse to guess.
    if (has_host_bits(block.bytes.data(), size, block.prefix)) {
        return std::nullopt;
    }
    try {
        block.text = std::string(text);
    } catch (...) {
        return std::nullopt;
    }
    return block;
}

bool cidr_contains(const Cidr& block, const sockaddr* address) noexcept {
    // The client in both forms when it has both: an IPv4 client also is ::ffff:a.b.c.d, and an
    // IPv4-mapped IPv6 client (a dual-stack socket accepting IPv4) also is a.b.c.d.
    const IpBytes ip = ip_bytes_of(address);
    const bool has_v4 = ip.size == kV4Bytes;
    std::array<std::uint8_t, kV4Bytes> v4{};
    std::array<std::uint8_t, kV6Bytes> v6{};
    if (has_v4) {
        std::copy_n(ip.bytes.begin(), kV4Bytes, v4.begin());
        std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), v6.begin());
        std::copy_n(ip.bytes.begin(), kV4Bytes, v6.begin() + kV4MappedPrefix.size());
    } else if (ip.size == kV6Bytes) {
        v6 = ip.bytes;
    } else {
        return false;
    }
    if (block.family == AF_INET) {
        return has_v4 && block.prefix <= kV4Bytes * 8 &&
               same_prefix(block.bytes.data(), v4.data(), block.prefix);
    }
    if (block.family == AF_INET6) {
        return block.prefix <= kV6Bytes * 8 &&
               same_prefix(block.bytes.data(), v6.data(), block.prefix);
    }
    return false;
}

bool any_contains(const std::vector<Cidr>& blocks, const sockaddr* address) noexcept {
    for (const Cidr& block : blocks) {
        if (cidr_contains(block, address)) {
            return true;
        }
    }
    return false;
}

}  // namespace ringlb
