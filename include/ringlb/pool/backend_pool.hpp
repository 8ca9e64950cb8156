// SPDX-License-Identifier: MIT
// BackendPool: a pool's backends, its published live set and its balancer, shared by shards.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ringlb/balance/balancer.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend.hpp"
#include "ringlb/pool/epoch.hpp"
#include "ringlb/pool/live_set.hpp"

namespace ringlb {

class BackendPool final {
  public:
    static constexpr std::uint32_t kNone = UINT32_MAX;

    // `backends` are the pool's backends in config order (new, or carried over from the
    // previous configuration by a reload). Publishes a first live set at once.
    BackendPool(const config::PoolConfig& config, std::vector<std::shared_ptr<Backend>> backends,
                std::uint64_t now_ms);
    BackendPool(const BackendPool&) = delete;
    BackendPool& operator=(const BackendPool&) = delete;
    ~BackendPool();

    [[nodiscard]] const config::PoolConfig& config() const noexcept { return config_; }
    [[nodiscard]] const std::string& name() const noexcept { return config_.name; }
    [[nodiscard]] std::size_t size() const noexcept { return backends_.size(); }
    [[nodiscard]] Backend& backend(std::uint32_t index) const noexcept { return *backends_[index]; }
    [[nodiscard]] const std::vector<std::shared_ptr<Backend>>& backends() const noexcept {
        return backends_;
    }
    // The index of the backend whose address text is `name`, or kNone.
    [[nodiscard]] std::uint32_t find(std::string_view name) const noexcept;

    // Shard threads: the current live set; valid until the caller's next EpochDomain::leave.
    [[nodiscard]] const LiveSet& live() const noexcept {
        return *live_.load(std::memory_order_seq_cst);
    }

    // Control plane: how many backends may take new connections now.
    [[nodiscard]] std::size_t live_count() const noexcept {
        return live_count_.load(std::memory_order_relaxed);
    }

    // Shard threads: chooses the backend for a new connection with the pool's algorithm and
    // takes a connection place on it (Backend::try_acquire); kNone when no live backend has
    // room. The caller gives the place back with Backend::release.
    [[nodiscard]] std::uint32_t acquire(const PickContext& context) noexcept;
    // Shard threads: the same for a retry after `failed` could not be reached: the next
    // live backend with room after it, without consuming a pick of the algorithm (so that a
    // dead backend does not shift every later connection onto itself). May return `failed`
    // itself when it is the only one.
    [[nodiscard]] std::uint32_t acquire_after(std::uint32_t failed,
                                              const PickContext& context) noexcept;

    // Control plane (health thread, admin API, reload; never a shard): rebuilds the live set
    // from the backends' health, state and weight, applying slow start at `now_ms`, and
    // publishes it when it differs. Returns whether a slow start is still ramping (call
    // again soon). Serialised by a mutex that shards never take.
    bool refresh(std::uint64_t now_ms, EpochDomain& epochs);

  private:
    [[nodiscard]] std::unique_ptr<LiveSet> build(std::uint64_t now_ms, bool& ramping) const;

    config::PoolConfig config_;
    std::vector<std::shared_ptr<Backend>> backends_;
    std::unique_ptr<Balancer> balancer_;
    std::atomic<const LiveSet*> live_;
    std::atomic<std::size_t> live_count_{0};  // entries of live_, for non-shard readers
    std::mutex control_;                      // control plane only
};

}  // namespace ringlb
