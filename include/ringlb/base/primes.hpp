// SPDX-License-Identifier: MIT
// Prime numbers for table sizes (Maglev): the test, and the next one up for a suggestion.
#pragma once

#include <cstdint>

namespace ringlb {

// Whether `value` is prime; trial division is plenty for table sizes up to a few million.
[[nodiscard]] constexpr bool is_prime(std::uint64_t value) noexcept {
    if (value < 2) {
        return false;
    }
    for (std::uint64_t divisor = 2; divisor <= value / divisor; ++divisor) {
        if (value % divisor == 0) {
            return false;
        }
    }
    return true;
}

// The smallest prime above `value`.
[[nodiscard]] constexpr std::uint64_t next_prime(std::uint64_t value) noexcept {
    std::uint64_t candidate = value + 1;
    while (!is_prime(candidate)) {
        ++candidate;
    }
    return candidate;
}

}  // namespace ringlb
