// SPDX-License-Identifier: MIT
// Power of two random choices with a per-thread splitmix64 generator.
#include "ringlb/balance/random_two.hpp"

#include <chrono>

#include "ringlb/base/hash.hpp"

namespace ringlb {

namespace {

// Trivially initialised, so that a thread's first pick needs no TLS constructor (which
// could allocate): seeded on first use instead.
thread_local std::uint64_t random_state = 0;
thread_local bool random_seeded = false;

// splitmix64: one add and a mix per number, good enough to choose backends.
std::uint64_t next_random() noexcept {
    if (!random_seeded) {
        // The state's address differs between threads alive at the same time; the clock
        // differs between runs.
        const auto now =
            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        random_state = mix64(now) ^ mix64(reinterpret_cast<std::uintptr_t>(&random_state));
        random_seeded = true;
    }
    random_state += 0x9e3779b97f4a7c15ull;
    return mix64(random_state);
}

// A number in [0, bound) from 32 random bits, without a division.
std::size_t below(std::uint64_t random32, std::size_t bound) noexcept {
    return static_cast<std::size_t>((random32 * bound) >> 32);
}

}  // namespace

std::uint32_t RandomTwo::pick(const LiveSet& set, const PickContext& /*context*/) noexcept {
    const std::size_t count = set.entries.size();
    if (count == 0) {
        return kNoPick;
    }
    if (count == 1) {
        return set.entries[0].state->has_room() ? 0 : kNoPick;
    }
    const std::uint64_t random = next_random();
    const std::size_t first = below(random & 0xffffffffu, count);
    std::size_t second = below(random >> 32, count - 1);
    if (second >= first) {
        ++second;  // distinct from `first`, still uniform over the others
    }
    const LiveEntry& a = set.entries[first];
    const LiveEntry& b = set.entries[second];
    const bool a_has_room = a.state->has_room();
    const bool b_has_room = b.state->has_room();
    if (a_has_room && b_has_room) {
        const std::uint64_t a_active = a.state->active.load(std::memory_order_relaxed);
        const std::uint64_t b_active = b.state->active.load(std::memory_order_relaxed);
        const std::uint64_t a_weight = a.weight == 0 ? 1 : a.weight;
        const std::uint64_t b_weight = b.weight == 0 ? 1 : b.weight;
        // b_active / b_weight < a_active / a_weight, without dividing; a tie keeps `first`,
        // which is as random as `second`.
        return static_cast<std::uint32_t>(b_active * a_weight < a_active * b_weight ? second
                                                                                    : first);
    }
    if (a_has_room) {
        return static_cast<std::uint32_t>(first);
    }
    if (b_has_room) {
        return static_cast<std::uint32_t>(second);
    }
    return first_with_room(set, first + 1);
}

}  // namespace ringlb
