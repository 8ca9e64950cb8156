// SPDX-License-Identifier: MIT
// RoundRobin: each new connection goes to the next live backend with room, across all
// shards; weights are ignored (weighted_round_robin honours them).
#pragma once

#include <atomic>
#include <cstdint>

#include "ringlb/balance/balancer.hpp"

namespace ringlb {

class RoundRobin final : public Balancer {
  public:
    [[nodiscard]] std::uint32_t pick(const LiveSet& set,
                                     const PickContext& context) noexcept override;

  private:
    // The only state shared by shards on the data path: one counter on its own cache line,
    // so that its traffic does not slow neighbouring fields.
    alignas(64) std::atomic<std::uint64_t> next_{0};
};

}  // namespace ringlb
