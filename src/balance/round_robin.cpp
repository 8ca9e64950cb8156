// SPDX-License-Identifier: MIT
// Round robin over the live set with one shared atomic counter.
#include "ringlb/balance/round_robin.hpp"

namespace ringlb {

std::uint32_t RoundRobin::pick(const LiveSet& set, const PickContext& /*context*/) noexcept {
    const std::size_t count = set.entries.size();
    if (count == 0) {
        return kNoPick;
    }
    // Relaxed is enough: the counter orders nothing else, it only has to hand out each value
    // once. When the live set changes size the sequence shifts, which is fine.
    const std::uint64_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    return first_with_room(set, static_cast<std::size_t>(ticket % count));
}

}  // namespace ringlb
