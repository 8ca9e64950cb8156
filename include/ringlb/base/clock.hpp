// SPDX-License-Identifier: MIT
// Monotonic time, precise or coarse, for timers, timeouts and rate limits.
#pragma once

#include <ctime>

#include <cstdint>

namespace ringlb {

// Milliseconds of CLOCK_MONOTONIC (or CLOCK_MONOTONIC_COARSE: a few ms of resolution, no
// vDSO work beyond a load, good enough for idle timeouts). Never fails on Linux.
[[nodiscard]] inline std::uint64_t monotonic_ms(clockid_t clock = CLOCK_MONOTONIC) noexcept {
    timespec now{};
    clock_gettime(clock, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000 +
           static_cast<std::uint64_t>(now.tv_nsec) / 1000000;
}

// Nanoseconds of CLOCK_MONOTONIC, for rate limits.
[[nodiscard]] inline std::uint64_t monotonic_ns() noexcept {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000ull +
           static_cast<std::uint64_t>(now.tv_nsec);
}

}  // namespace ringlb
