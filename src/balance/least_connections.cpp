// SPDX-License-Identifier: MIT
// Least connections relative to weight, one scan of the live set per pick.
#include "ringlb/balance/least_connections.hpp"

namespace ringlb {

std::uint32_t LeastConnections::pick(const LiveSet& set, const PickContext& /*context*/) noexcept {
    const std::size_t count = set.entries.size();
    if (count == 0) {
        return kNoPick;
    }
    const std::size_t first =
        static_cast<std::size_t>(start_.fetch_add(1, std::memory_order_relaxed) % count);
    std::uint32_t best = kNoPick;
    std::uint64_t best_active = 0;
    std::uint64_t best_weight = 1;
    for (std::size_t step = 0; step < count; ++step) {
        const std::size_t position = (first + step) % count;
        const LiveEntry& entry = set.entries[position];
        const Backend& backend = *entry.state;
        if (!backend.has_room()) {
            continue;
        }
        const std::uint64_t active = backend.active.load(std::memory_order_relaxed);
        const std::uint64_t weight = entry.weight == 0 ? 1 : entry.weight;
        // Strictly fewer relative to weight: on a tie the earlier entry from `first` stays.
        if (best == kNoPick || active * best_weight < best_active * weight) {
            best = static_cast<std::uint32_t>(position);
            best_active = active;
            best_weight = weight;
            if (active == 0) {
                break;  // nothing beats an idle backend, and the rest would only tie
            }
        }
    }
    return best;
}

}  // namespace ringlb
