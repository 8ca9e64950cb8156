// SPDX-License-Identifier: MIT
// Fixed hashes shared by the hashing and random algorithms: FNV-1a and the splitmix64 finaliser.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ringlb {

// Spreads every input bit over the whole word (nearby inputs differ in every output bit,
// including the low ones a modulo keeps). Fixed constants: every process and run agrees.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t value) noexcept {
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

// FNV-1a over bytes: fixed constants, so every process and run agrees (unlike std::hash).
[[nodiscard]] constexpr std::uint64_t fnv1a64(std::span<const std::uint8_t> bytes) noexcept {
    std::uint64_t hash = 14695981039346656037ull;
    for (const std::uint8_t byte : bytes) {
        hash = (hash ^ byte) * 1099511628211ull;
    }
    return hash;
}
[[nodiscard]] inline std::uint64_t fnv1a64(std::string_view text) noexcept {
    return fnv1a64(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                                 text.size()));
}

}  // namespace ringlb
