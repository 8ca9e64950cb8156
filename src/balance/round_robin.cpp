// SPDX-License-Identifier: MIT
// Round robin over the live set with one shared atomic counter.
#include "ringlb/balance/round_robin.hpp"

namespace ringlb {

std::size_t RoundRobin::pick(const LiveSet& live) noexcept {
    // Relaxed is enough: the counter orders nothing else, it only has to hand out each value
    // once. When the live set changes size the sequence shifts, which is fine.
    std::uint64_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    return static_cast<std::size_t>(ticket % live.backends.size());
}

}  // namespace ringlb
