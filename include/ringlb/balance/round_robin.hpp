// SPDX-License-Identifier: MIT
// RoundRobin: each new connection goes to the next live backend, across all shards.
#pragma once

#include <atomic>
#include <cstdint>

#include "ringlb/balance/balancer.hpp"

namespace ringlb {

class RoundRobin final : public Balancer {
  public:
    [[nodiscard]] std::size_t pick(const LiveSet& live) noexcept override;

  private:
    // The only state shared by shards on the data path: one counter on its own cache line,
    // so that its traffic does not slow neighbouring fields.
    alignas(64) std::atomic<std::uint64_t> next_{0};
    char padding_[64 - sizeof(std::atomic<std::uint64_t>)] = {};
};

}  // namespace ringlb
