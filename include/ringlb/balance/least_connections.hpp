// SPDX-License-Identifier: MIT
// LeastConnections: each new connection goes to the backend with the fewest active
// connections relative to its weight.
#pragma once

#include <atomic>
#include <cstdint>

#include "ringlb/balance/balancer.hpp"

namespace ringlb {

// Compares active / weight without dividing (active_a * weight_b < active_b * weight_a), so a
// backend of weight 2 holds twice the connections of one of weight 1 at steady state. Ties
// go to the first tied entry from a start that rotates with every pick, so that an idle pool
// spreads its connections instead of sending all of them to the first backend. The counts
// are read without locks: two shards picking at the same moment may both see the same
// emptiest backend, which evens out on the next picks.
class LeastConnections final : public Balancer {
  public:
    [[nodiscard]] std::uint32_t pick(const LiveSet& set,
                                     const PickContext& context) noexcept override;

  private:
    // Where the scan starts: the only state shared by shards, on its own cache line.
    alignas(64) std::atomic<std::uint64_t> start_{0};
};

}  // namespace ringlb
