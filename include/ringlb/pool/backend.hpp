// SPDX-License-Identifier: MIT
// Backend: one backend's identity and the counters and settings every thread shares.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "ringlb/base/epoch.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend_shard_stats.hpp"
#include "ringlb/pool/check_result.hpp"

namespace ringlb {

// Where a backend came from: the config file's [[pool.backend]], or the pool's DNS SRV
// discovery ([pool.discovery]).
enum class BackendOrigin : std::uint8_t { config, dns_srv };

[[nodiscard]] std::string_view backend_origin_name(BackendOrigin origin) noexcept;

// Shared by every shard (which connect to it and count), the control thread (which probes
// it and marks it up or down) and the admin API (which changes its state and weight).
// A reload keeps the Backend object of a backend whose pool and address text are unchanged,
// so that its counters and open connections carry over, and so does DNS discovery for the
// backends its answer keeps. Every field is atomic: no lock.
//
// Lifetime: a shard reaches a Backend through a LiveSet entry and keeps the pointer while its
// connection holds a place there (`active`). The pools own it; one that leaves a pool at run
// time (DNS discovery) is freed only once no shard can still read a live set that listed it
// and no connection holds a place on it (BackendPool::release_departed).
struct Backend final {
    // `shards`: the process's shard threads, each of which gets its own row of statistics
    // (shard_stats), allocated here once.
    Backend(const config::BackendConfig& config, std::string pool_name, unsigned shards,
            BackendOrigin from = BackendOrigin::config);
    ~Backend();
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;

    // Identity (fixed for the object's life).
    const std::string pool;  // name of its pool
    const std::string name;  // the address as written in the config
    const std::string host;  // non-empty when `name` is a host name that is re-resolved
    const unsigned port;
    const BackendOrigin origin;

    // Where to connect. A shard may use the reference until its next EpochDomain::leave
    // (copy it for a request the kernel reads later); the control thread, the only writer,
    // as long as it likes. Other threads use address_snapshot.
    [[nodiscard]] const SocketAddress& address() const noexcept {
        return address_.load(std::memory_order_acquire)->value;
    }
    // Any thread: a copy of the current address.
    [[nodiscard]] SocketAddress address_snapshot() const;
    // Control thread only: installs a new address and retires the old one into `epochs`,
    // which frees it once no shard can still be reading it.
    void set_address(const SocketAddress& address, EpochDomain& epochs);

    // Hot: written by every shard for each connection to this backend.
    alignas(64) std::atomic<std::uint32_t> active{0};  // connections open now
    std::atomic<std::uint64_t> connections_total{0};   // connections established
    std::atomic<std::uint64_t> bytes_in{0};            // client -> backend
    std::atomic<std::uint64_t> bytes_out{0};           // backend -> client
    std::atomic<std::uint64_t> connect_refused{0};     // connect failures by reason
    std::atomic<std::uint64_t> connect_timeout{0};
    std::atomic<std::uint64_t> connect_error{0};
    // pool.source: no local port left for the source and this backend (EADDRNOTAVAIL), and
    // attempts with no usable source (none of the backend's family, or its bind failed).
    std::atomic<std::uint64_t> connect_no_port{0};
    std::atomic<std::uint64_t> connect_no_source{0};
    // pool.passive: failures in a row (connect failed or timed out, reset before the backend's
    // first byte), reset by a first byte. Written only by pools with passive ejection on.
    std::atomic<std::uint32_t> passive_failures{0};

    // Settings, written by the control plane (config, reload, admin API, control thread).
    alignas(64) std::atomic<std::uint32_t> max_connections{0};  // 0 = no limit
    std::atomic<std::uint32_t> weight{1};                       // 1..1000
    std::atomic<config::BackendState> state{config::BackendState::active};
    std::atomic<bool> healthy{true};            // false while health checks say down
    std::atomic<std::uint64_t> up_since_ms{0};  // when it last came up (slow start)
    std::atomic<std::uint32_t> priority{0};     // SRV priority tier (static backends: 0)
    std::atomic<std::uint32_t> srv_weight{0};   // its SRV record's weight (discovered only)
    std::atomic<bool> backup{false};  // serves only while no non-backup backend of its pool can
    std::atomic<std::uint64_t> last_check_ms{0};  // when the last health check ended (monotonic)

    // Passive ejection (pool.passive), written by the control thread only.
    std::atomic<bool> ejected{false};                  // out of the live set until ejected_until_ms
    std::atomic<std::uint64_t> ejected_until_ms{0};    // when it returns (monotonic ms)
    std::atomic<std::uint64_t> returned_ms{0};         // when it last returned from an ejection
    std::atomic<std::uint32_t> ejection_streak{0};     // ejections since it last served in peace
    std::atomic<std::uint64_t> ejections_total{0};     // for /metrics
    std::atomic<std::uint64_t> ejections_overflow{0};  // streaks max_ejected_percent kept in

    // Agent check (pool.health.agent_port), written by the control thread only: the agent's
    // last verdict, kept apart from the operator's `state` and `weight` (the more restrictive
    // wins when a live set is built). 100 %, ready and up while there is no agent or it has
    // not answered; a dead agent leaves it as it is.
    std::atomic<std::uint32_t> agent_weight_percent{
        100};  // share of `weight`; 0 = no new connections
    std::atomic<config::BackendState> agent_state{
        config::BackendState::active};                  // ready, drain, maint
    std::atomic<bool> agent_down{false};                // down, fail or stopped
    std::atomic<std::uint64_t> last_agent_check_ms{0};  // when the last agent probe ended
    std::atomic<std::uint64_t> agent_unknown_words{0};  // words of replies not understood

    // Shards, pools with passive ejection on: one more failure in a row; a first byte from
    // the backend ends the streak (a load, and a store only when there was one).
    void note_passive_failure() noexcept {
        passive_failures.fetch_add(1, std::memory_order_relaxed);
    }
    void note_passive_success() noexcept {
        if (passive_failures.load(std::memory_order_relaxed) != 0) {
            passive_failures.store(0, std::memory_order_relaxed);
        }
    }

    // Health probes, written by the control thread only: the last result with its detail (one
    // word, so a reader never pairs one probe's result with another's detail), and a count of
    // each result.
    void record_check(CheckResult result, std::uint32_t detail) noexcept {
        last_check_.store(static_cast<std::uint64_t>(result) << 32 | detail,
                          std::memory_order_relaxed);
        checks_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
    }
    [[nodiscard]] CheckResult last_check() const noexcept {
        return static_cast<CheckResult>(last_check_.load(std::memory_order_relaxed) >> 32);
    }
    [[nodiscard]] std::string last_check_reason() const {
        const std::uint64_t word = last_check_.load(std::memory_order_relaxed);
        return describe_check(static_cast<CheckResult>(word >> 32),
                              static_cast<std::uint32_t>(word));
    }
    [[nodiscard]] std::uint64_t checks(CheckResult result) const noexcept {
        return checks_[static_cast<std::size_t>(result)].load(std::memory_order_relaxed);
    }

    // Agent probes, written by the control thread only: as record_check, for the agent.
    void record_agent_check(CheckResult result, std::uint32_t detail) noexcept {
        last_agent_check_.store(static_cast<std::uint64_t>(result) << 32 | detail,
                                std::memory_order_relaxed);
        agent_checks_[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
    }
    [[nodiscard]] CheckResult last_agent_check() const noexcept {
        return static_cast<CheckResult>(last_agent_check_.load(std::memory_order_relaxed) >> 32);
    }
    [[nodiscard]] std::string last_agent_check_reason() const {
        const std::uint64_t word = last_agent_check_.load(std::memory_order_relaxed);
        return describe_check(static_cast<CheckResult>(word >> 32),
                              static_cast<std::uint32_t>(word));
    }
    [[nodiscard]] std::uint64_t agent_checks(CheckResult result) const noexcept {
        return agent_checks_[static_cast<std::size_t>(result)].load(std::memory_order_relaxed);
    }
    // Control thread: forgets the agent's verdict (its agent was turned off).
    void clear_agent() noexcept {
        agent_weight_percent.store(100, std::memory_order_relaxed);
        agent_state.store(config::BackendState::active, std::memory_order_relaxed);
        agent_down.store(false, std::memory_order_relaxed);
    }

    // Takes one of its connection places: fails when max_connections are open. Exact across
    // shards (compare-and-swap), so a full backend is never exceeded.
    [[nodiscard]] bool try_acquire() noexcept {
        std::uint32_t limit = max_connections.load(std::memory_order_relaxed);
        std::uint32_t now = active.load(std::memory_order_relaxed);
        do {
            if (limit != 0 && now >= limit) {
                return false;
            }
        } while (!active.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
        return true;
    }
    // Release: whoever frees a departed backend after seeing `active` 0 (acquire) sees every
    // use the connection made of it before.
    void release() noexcept { active.fetch_sub(1, std::memory_order_release); }
    // A hint for balancers (the exact check is try_acquire).
    [[nodiscard]] bool has_room() const noexcept {
        std::uint32_t limit = max_connections.load(std::memory_order_relaxed);
        return limit == 0 || active.load(std::memory_order_relaxed) < limit;
    }

    // The row of shard `shard` (< shards()): only that shard writes it; anyone may read it.
    [[nodiscard]] BackendShardStats& shard_stats(unsigned shard) noexcept {
        return shard_stats_[shard];
    }
    [[nodiscard]] const BackendShardStats& shard_stats(unsigned shard) const noexcept {
        return shard_stats_[shard];
    }
    [[nodiscard]] unsigned shards() const noexcept { return shards_; }

  private:
    std::atomic<std::uint64_t> last_check_{0};  // CheckResult << 32 | detail
    std::array<std::atomic<std::uint64_t>, kCheckResults> checks_{};
    std::atomic<std::uint64_t> last_agent_check_{0};  // CheckResult << 32 | detail
    std::array<std::atomic<std::uint64_t>, kCheckResults> agent_checks_{};
    const unsigned shards_;
    std::unique_ptr<BackendShardStats[]> shard_stats_;
    // Owned; replaced as a whole when a host name re-resolves to something else, and the old
    // one freed through the EpochDomain once no shard can still read it.
    std::atomic<const Published<SocketAddress>*> address_;
    // Between set_address's swap and retire, and address_snapshot's load and copy: so that a
    // reader outside the epoch domain never copies a retired address. Never taken by shards.
    mutable std::mutex address_lock_;
};

}  // namespace ringlb
