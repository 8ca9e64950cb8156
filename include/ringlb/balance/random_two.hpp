// SPDX-License-Identifier: MIT
// RandomTwo: the power of two random choices: of two distinct random backends, the one with
// fewer active connections relative to its weight.
#pragma once

#include <cstdint>

#include "ringlb/balance/balancer.hpp"

namespace ringlb {

// Nearly as even as least connections, but a pick reads two counters instead of all of them
// and shares no state between shards at all: each thread draws from its own generator
// (splitmix64 seeded from the thread and the clock). A candidate without room gives way to
// the other; when neither has room, the first entry with room after the first candidate.
class RandomTwo final : public Balancer {
  public:
    [[nodiscard]] std::uint32_t pick(const LiveSet& set,
                                     const PickContext& context) noexcept override;
};

}  // namespace ringlb
