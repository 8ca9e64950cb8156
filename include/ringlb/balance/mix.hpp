// SPDX-License-Identifier: MIT
// mix64: the splitmix64 finaliser, shared by the hashing and random algorithms.
#pragma once

#include <cstdint>

namespace ringlb {

// Spreads every input bit over the whole word (nearby inputs differ in every output bit,
// including the low ones a modulo keeps). Fixed constants: every process and run agrees.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t value) noexcept {
    value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
    value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

}  // namespace ringlb
