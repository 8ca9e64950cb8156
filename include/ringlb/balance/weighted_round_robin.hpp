// SPDX-License-Identifier: MIT
// WeightedRoundRobin: smooth weighted round robin (the nginx algorithm) over the live set.
#pragma once

#include <atomic>
#include <cstdint>

#include "ringlb/balance/balancer.hpp"

namespace ringlb {

// prepare() lays out one full cycle of the smooth weighted round-robin sequence in
// `set.table` (its length is the sum of the weights divided by their greatest common
// divisor), so that a pick is one shared fetch_add and an index: with weights 5:3:2 every
// 10 consecutive picks give 5, 3 and 2 connections, interleaved (A B C A A B A C B A ...)
// rather than in bursts. An entry without room is passed over for the next one in the
// sequence.
class WeightedRoundRobin final : public Balancer {
  public:
    // Cost O(L * N) for a sequence of length L over N entries; control plane only.
    void prepare(LiveSet& set) const override;
    [[nodiscard]] std::uint32_t pick(const LiveSet& set,
                                     const PickContext& context) noexcept override;

  private:
    // The only state shared by shards on the data path: one counter on its own cache line.
    alignas(64) std::atomic<std::uint64_t> next_{0};
};

}  // namespace ringlb
