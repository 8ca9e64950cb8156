// SPDX-License-Identifier: MIT
// BackendPool: a pool's backends and the live set it publishes for the shards.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ringlb/base/epoch.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend.hpp"
#include "ringlb/pool/live_set.hpp"

namespace ringlb {

// What the pool's balancing algorithm precomputes into a live set before it is published
// (Balancer::prepare): the pool knows this hook, not the algorithm. Control plane only.
using PrepareLiveSet = std::function<void(LiveSet&)>;

class BackendPool final {
  public:
    static constexpr std::uint32_t kNone = UINT32_MAX;

    // `backends` are the pool's backends in config order (new, or carried over from the
    // previous configuration by a reload). Publishes a first live set at once, prepared by
    // `prepare`, which must outlive the pool.
    BackendPool(const config::PoolConfig& config, std::vector<std::shared_ptr<Backend>> backends,
                PrepareLiveSet prepare, std::uint64_t now_ms);
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

    // Control plane (control thread, admin API, reload; never a shard): rebuilds the live set
    // from the backends' health, state and weight, applying slow start at `now_ms`, and
    // publishes it when it differs. Returns whether a slow start is still ramping (call
    // again soon). Serialised by a mutex that shards never take.
    bool refresh(std::uint64_t now_ms, EpochDomain& epochs);

  private:
    [[nodiscard]] std::unique_ptr<LiveSet> build(std::uint64_t now_ms, bool& ramping) const;

    config::PoolConfig config_;
    std::vector<std::shared_ptr<Backend>> backends_;
    PrepareLiveSet prepare_;
    std::atomic<const LiveSet*> live_;
    std::atomic<std::size_t> live_count_{0};  // entries of live_, for non-shard readers
    std::mutex control_;                      // control plane only
};

}  // namespace ringlb
