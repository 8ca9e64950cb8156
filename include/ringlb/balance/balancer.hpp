// SPDX-License-Identifier: MIT
// Balancer: the interface every balancing algorithm implements, and its factory.
#pragma once

#include <cstddef>
#include <memory>

#include "ringlb/config/config.hpp"
#include "ringlb/pool/live_set.hpp"

namespace ringlb {

class Balancer {
  public:
    virtual ~Balancer() = default;

    // Returns a position in `live.backends` for the next connection; `live` is never empty.
    // Called by every shard concurrently: must be lock-free and must not allocate.
    [[nodiscard]] virtual std::size_t pick(const LiveSet& live) noexcept = 0;
};

// The algorithm a pool's config names. Throws std::invalid_argument for an unknown one
// (the config loader has already rejected those).
[[nodiscard]] std::unique_ptr<Balancer> make_balancer(const config::PoolConfig& pool);

}  // namespace ringlb
