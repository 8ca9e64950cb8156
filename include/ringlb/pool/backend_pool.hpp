// SPDX-License-Identifier: MIT
// BackendPool: a pool's backends, its published live set and its balancer, shared by shards.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ringlb/balance/balancer.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/epoch.hpp"
#include "ringlb/pool/live_set.hpp"

namespace ringlb {

struct Backend final {
    SocketAddress address;
    std::string name;  // the address as written in the config, for logs
    unsigned weight = 1;
};

class BackendPool final {
  public:
    static constexpr std::uint32_t kNone = UINT32_MAX;

    // Starts with every backend live: without health checks they stay so, with them the
    // health thread takes out the ones that fail (HAProxy also starts servers up).
    explicit BackendPool(const config::PoolConfig& config);
    BackendPool(const BackendPool&) = delete;
    BackendPool& operator=(const BackendPool&) = delete;
    ~BackendPool();

    [[nodiscard]] const config::PoolConfig& config() const noexcept { return config_; }
    [[nodiscard]] const std::string& name() const noexcept { return config_.name; }
    [[nodiscard]] std::span<const Backend> backends() const noexcept { return backends_; }

    // Shard threads: the current live set; valid until the caller's next EpochDomain::leave.
    [[nodiscard]] const LiveSet& live() const noexcept {
        return *live_.load(std::memory_order_seq_cst);
    }

    // Shard threads: the backend for a new connection, chosen by the pool's algorithm, or
    // kNone when none is live.
    [[nodiscard]] std::uint32_t choose() noexcept;
    // Shard threads: the backend to retry on after `failed` could not be reached — the live
    // backend that follows it — without consuming a pick of the algorithm, so that a dead
    // backend does not shift every later connection onto itself. Falls back to choose()
    // when `failed` is no longer live; may return `failed` itself when it is the only one.
    [[nodiscard]] std::uint32_t next_after(std::uint32_t failed) noexcept;

    // Health thread only: makes `backends` (indices, ascending) the live set and retires the
    // old one in `epochs`.
    void publish(std::vector<std::uint32_t> backends, EpochDomain& epochs);

  private:
    config::PoolConfig config_;
    std::vector<Backend> backends_;
    std::unique_ptr<Balancer> balancer_;
    std::atomic<const LiveSet*> live_;
};

}  // namespace ringlb
