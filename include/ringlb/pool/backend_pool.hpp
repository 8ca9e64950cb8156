// SPDX-License-Identifier: MIT
// BackendPool: a pool's backends (static and discovered) and the live set it publishes for the
// shards.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "ringlb/base/epoch.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend.hpp"
#include "ringlb/pool/live_set.hpp"
#include "ringlb/pool/pool_queue.hpp"

namespace ringlb {

// What the pool's balancing algorithm precomputes into a live set before it is published
// (Balancer::prepare): the pool knows this hook, not the algorithm. Control plane only.
using PrepareLiveSet = std::function<void(LiveSet&)>;
// Told the names of every member (live or not) whenever the membership changes, before the
// next prepare (Balancer::set_members). Control plane only.
using MembersChanged = std::function<void(const std::vector<std::string>&)>;

// One backend of a DNS SRV answer: where to connect, and its record's weight and priority.
struct DiscoveredBackend final {
    SocketAddress address;
    std::uint32_t weight = 1;    // 1..1000
    std::uint32_t priority = 0;  // lower serves first (RFC 2782)
};

// What BackendPool::set_discovered changed.
struct MembershipChange final {
    std::vector<std::shared_ptr<Backend>> added;
    std::vector<std::shared_ptr<Backend>> removed;
    std::size_t updated = 0;  // kept backends whose weight or priority changed
    [[nodiscard]] bool any() const noexcept {
        return !added.empty() || !removed.empty() || updated > 0;
    }
};

// The members of a pool are its static backends (config order) followed by the ones DNS
// discovery found (by address). Shards never see the membership: they see LiveSets, whose
// entries point at the backends, and keep a backend's pointer only while they hold a place on
// it. The membership itself is control-plane state under a mutex that shards never take.
class BackendPool final {
  public:
    // `backends` are the pool's members: its static backends in config order (new, or carried
    // over from the previous configuration by a reload), then any discovered ones carried over.
    // Publishes a first live set at once, prepared by `prepare`, which must outlive the pool
    // (as must `members_changed`, called first with the members' names).
    // `shards`: the process's shard threads, for the statistics rows of discovered backends.
    BackendPool(const config::PoolConfig& config, std::vector<std::shared_ptr<Backend>> backends,
                PrepareLiveSet prepare, std::uint64_t now_ms, unsigned shards,
                MembersChanged members_changed = {});
    BackendPool(const BackendPool&) = delete;
    BackendPool& operator=(const BackendPool&) = delete;
    ~BackendPool();

    [[nodiscard]] const config::PoolConfig& config() const noexcept { return config_; }
    [[nodiscard]] const std::string& name() const noexcept { return config_.name; }

    // Control plane (any thread but a shard): a copy of the members now, static ones first.
    [[nodiscard]] std::vector<std::shared_ptr<Backend>> members() const;
    // The discovered members only.
    [[nodiscard]] std::vector<std::shared_ptr<Backend>> discovered() const;
    [[nodiscard]] std::size_t size() const;
    // The member whose address text is `name`, or null.
    [[nodiscard]] std::shared_ptr<Backend> find(std::string_view name) const;

    // Shard threads: the current live set; valid until the caller's next EpochDomain::leave.
    [[nodiscard]] const LiveSet& live() const noexcept {
        return *live_.load(std::memory_order_seq_cst);
    }

    // Shard threads: the next of the pool's source addresses (pool.source) of `family`, in
    // turn across all shards (one relaxed fetch_add, and only with two or more of the
    // family, as round robin's pick); null when the pool has none of that family.
    [[nodiscard]] const SocketAddress* next_source(int family) noexcept;

    // Control thread: a member was marked down by health checks. Shards of a pool with
    // on_backend_down = "close" see the count change on their next tick and close that
    // member's connections (release: its `healthy` = false is visible with the count).
    void note_backend_down() noexcept { backend_downs_.fetch_add(1, std::memory_order_release); }
    // Shard threads: how many times a member went down; only a change matters.
    [[nodiscard]] std::uint64_t backend_downs() const noexcept {
        return backend_downs_.load(std::memory_order_acquire);
    }

    // Shard threads: the clients waiting for a place (pool.queue_timeout_ms); any thread reads
    // its length and counters.
    [[nodiscard]] PoolQueue& queue() noexcept { return queue_; }
    [[nodiscard]] const PoolQueue& queue() const noexcept { return queue_; }
    // Control plane: how many backends may take new connections now.
    [[nodiscard]] std::size_t live_count() const noexcept {
        return live_count_.load(std::memory_order_relaxed);
    }

    // Control plane (control thread, admin API, reload; never a shard): rebuilds the live set
    // from the backends' states (eligibility.hpp) and weights, applying slow start at `now_ms`,
    // and publishes it when it differs. Returns whether a slow start is still ramping (call
    // again soon). Serialised by a mutex that shards never take.
    bool refresh(std::uint64_t now_ms, EpochDomain& epochs);

    // Control thread: makes `backends` the discovered members (a static backend of the same
    // address wins; of two records for one address, the first counts) and publishes the live
    // set at once. A kept backend takes its new weight and priority; a new one is created with
    // `healthy` (false: it waits for its first probe) and `up_since_ms` = now (slow start); a
    // removed one takes no new connection from the published set on, and its open connections
    // finish (it is freed later by release_departed).
    MembershipChange set_discovered(std::span<const DiscoveredBackend> backends, bool healthy,
                                    std::uint64_t now_ms, EpochDomain& epochs);
    // Control plane: frees the backends that left the pool once no shard can still reach them
    // (every reader passed the epoch of their removal, and no connection holds a place on
    // them). Returns how many are still waiting.
    std::size_t release_departed(EpochDomain& epochs);

  private:
    struct Departed final {
        std::shared_ptr<Backend> backend;
        std::uint64_t fence;  // EpochDomain::fence() after the first set without it
    };
    [[nodiscard]] std::unique_ptr<LiveSet> build(std::uint64_t now_ms, bool& ramping) const;
    bool publish(std::uint64_t now_ms, EpochDomain& epochs, bool force);  // control_ held
    void announce_members();                                              // control_ held

    config::PoolConfig config_;
    unsigned shards_;  // rows of statistics for each backend it makes
    PrepareLiveSet prepare_;
    MembersChanged members_changed_;
    std::atomic<const LiveSet*> live_;
    std::atomic<std::size_t> live_count_{0};       // entries of live_, for non-shard readers
    std::atomic<std::uint64_t> backend_downs_{0};  // members marked down by health, ever
    std::vector<SocketAddress> sources_[2];        // pool.source: IPv4 ones, IPv6 ones
    alignas(64) std::atomic<std::uint32_t> source_turn_{0};
    PoolQueue queue_;
    mutable std::mutex control_;  // control plane only; guards what follows
    std::vector<std::shared_ptr<Backend>> members_;
    std::size_t static_count_ = 0;  // members_[0, static_count_) come from the config
    std::vector<Departed> departed_;
};

}  // namespace ringlb
