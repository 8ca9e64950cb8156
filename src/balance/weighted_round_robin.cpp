// SPDX-License-Identifier: MIT
// Smooth weighted round robin: the sequence is computed once per live set, picks index it.
#include "ringlb/balance/weighted_round_robin.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

namespace ringlb {

namespace {

// How far a pick follows the sequence past entries without room before it falls back to a
// plain scan of the entries: keeps a pick bounded when a heavy backend fills up.
constexpr std::size_t kMaxSequenceSteps = 64;

// Bound on sequence length times entries, the cost of prepare() (a few tens of milliseconds):
// 100 backends with any weights up to 1,000 stay exact; beyond that, weights are scaled down
// in proportion before the sequence is built.
constexpr std::uint64_t kMaxPrepareWork = std::uint64_t{1} << 25;

}  // namespace

void WeightedRoundRobin::prepare(LiveSet& set) const {
    set.table.clear();
    const std::size_t count = set.entries.size();
    if (count == 0) {
        return;
    }
    std::vector<std::uint64_t> weights(count);
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < count; ++i) {
        weights[i] = set.entries[i].weight == 0 ? 1 : set.entries[i].weight;
        total += weights[i];
    }
    if (total > kMaxPrepareWork / count) {
        // Only for far more backends or far larger weights than a config allows: shrink the
        // weights in proportion so that building the sequence stays cheap.
        const std::uint64_t target = std::max<std::uint64_t>(count, kMaxPrepareWork / count);
        for (std::uint64_t& weight : weights) {
            weight = std::max<std::uint64_t>(1, weight * target / total);
        }
    }
    std::uint64_t divisor = 0;
    for (const std::uint64_t weight : weights) {
        divisor = std::gcd(divisor, weight);
    }
    total = 0;
    for (std::uint64_t& weight : weights) {
        weight /= divisor;
        total += weight;
    }
    // nginx's smooth weighted round robin: every step each entry gains its weight, the
    // entry with the most is chosen (the first one on a tie) and pays back the total. Over
    // one cycle of `total` steps each entry is chosen exactly `weight` times, spread out.
    std::vector<std::int64_t> current(count, 0);
    set.table.reserve(total);
    for (std::uint64_t step = 0; step < total; ++step) {
        std::size_t best = 0;
        for (std::size_t i = 0; i < count; ++i) {
            current[i] += static_cast<std::int64_t>(weights[i]);
            if (current[i] > current[best]) {
                best = i;
            }
        }
        current[best] -= static_cast<std::int64_t>(total);
        set.table.push_back(static_cast<std::uint32_t>(best));
    }
}

std::uint32_t WeightedRoundRobin::pick(const LiveSet& set,
                                       const PickContext& /*context*/) noexcept {
    const std::size_t count = set.entries.size();
    const std::size_t length = set.table.size();
    if (count == 0 || length == 0) {
        return kNoPick;
    }
    // Relaxed is enough: the counter orders nothing else, it only hands out each value once.
    const std::uint64_t ticket = next_.fetch_add(1, std::memory_order_relaxed);
    return walk_table(set, static_cast<std::size_t>(ticket % length), kMaxSequenceSteps);
}

}  // namespace ringlb
