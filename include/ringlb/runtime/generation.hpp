// SPDX-License-Identifier: MIT
// Generation: one loaded configuration in force — its pools with their balancers, backends and
// listener settings.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringlb/access/termination.hpp"
#include "ringlb/balance/balancer.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/runtime/discovery_stats.hpp"

namespace ringlb {

// Why a client connection was turned away, as the `reason` label of the metric.
enum class Rejection : std::uint8_t {
    no_fd,           // the process ran out of file descriptors
    no_slot,         // the shard's connection slab was full
    no_backend,      // no live backend with room, or every connect attempt failed
    denied,          // listener.allow / listener.deny
    client_limit,    // listener.max_connections_per_client
    rate_limited,    // listener.new_connections_per_client_per_s
    proxy_protocol,  // accept_proxy: untrusted peer, malformed or late header
    no_route,        // no [[listener.route]] took the client and the listener has no pool
    queue_timeout,   // waited pool.queue_timeout_ms on a full pool and got no place
    count_
};

[[nodiscard]] std::string_view rejection_name(Rejection reason) noexcept;

// A listener's counters, shared by every shard; kept across reloads while its bind is
// unchanged, so the metric does not restart.
struct ListenerStats final {
    // `shards`: the process's shard threads, each of which gets its own row of closed counts.
    ListenerStats(std::string listener_name, unsigned shards);
    const std::string name;
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> rejected[static_cast<std::size_t>(Rejection::count_)] = {};
    // Listeners with routes: clients a route took; clients sent to the listener's pool because
    // no route took them (no match, no server name, not TLS, malformed); and clients sent
    // there because their ClientHello was not whole within tls_inspect_timeout_ms.
    std::atomic<std::uint64_t> routed{0};
    std::atomic<std::uint64_t> unrouted{0};
    std::atomic<std::uint64_t> inspect_timeouts{0};

    void reject(Rejection reason) noexcept {
        rejected[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
    }
    // Shard `shard` only: one of its connections ended for `reason` (a relaxed load and
    // store on that shard's own row, no locked instruction, no line shared with a writer).
    void count_closed(unsigned shard, Termination reason) noexcept {
        std::atomic<std::uint64_t>& counter =
            closed_[shard].by_reason[static_cast<std::size_t>(reason)];
        counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
    // Any thread: connections ended for `reason`, summed over the shards.
    [[nodiscard]] std::uint64_t closed(Termination reason) const noexcept;

  private:
    struct alignas(64) ClosedRow {
        std::atomic<std::uint64_t> by_reason[kTerminationCount] = {};
    };
    unsigned shards_;
    std::unique_ptr<ClosedRow[]> closed_;
};

// Where a listener sends a connection: a pool and its algorithm.
struct PoolTarget final {
    BackendPool* pool = nullptr;   // null: none (a listener with routes but no default pool)
    Balancer* balancer = nullptr;  // the pool's algorithm

    // Shard threads: a backend of the pool for a new connection from `client` (nullptr when
    // its address is unknown), chosen by the pool's algorithm, with a connection place taken
    // on it (Backend::release gives it back); nullptr when no live backend has room.
    // acquire_after is the retry after `failed` could not be reached (see
    // ringlb::acquire_after). Lock-free; never allocate.
    [[nodiscard]] Backend* acquire(const SocketAddress* client) const noexcept;
    [[nodiscard]] Backend* acquire_after(const Backend* failed,
                                         const SocketAddress* client) const noexcept;
};

// A [[listener.route]] as shards see it.
struct RouteRuntime final {
    std::vector<std::string> exact;     // lower-case server names
    std::vector<std::string> suffixes;  // ".example.org" for "*.example.org"
    PoolTarget target;

    // Whether `name` (lower case) is one of `exact` or ends in one of `suffixes` after at
    // least one more character. No allocation.
    [[nodiscard]] bool matches(std::string_view name) const noexcept;
};

// A listener as shards see it in one generation.
struct ListenerRuntime final {
    config::ListenerConfig config;
    BackendPool* pool = nullptr;   // listener.pool; null when it has routes and no pool
    Balancer* balancer = nullptr;  // the pool's algorithm
    std::vector<RouteRuntime> routes;
    std::shared_ptr<ListenerStats> stats;
    int access_log = -1;             // destination index in the access log writer; -1 = off
    bool needs_peer = false;         // the connection must learn the client's address
    std::uint64_t client_scope = 0;  // its key in the ClientTable: a hash of its name

    // The listener's own pool, where every client goes that no route takes.
    [[nodiscard]] PoolTarget fallback() const noexcept { return PoolTarget{pool, balancer}; }
    // Shard threads: the first route that takes a TLS client that named `server_name` (lower
    // case), or null when none does (the client goes to fallback()). No allocation.
    [[nodiscard]] const RouteRuntime* match(std::string_view server_name) const noexcept;
};

// Built by the main thread from a validated config, then handed to the shards, the health
// thread and the admin API. Immutable after construction except for the shared atomics of
// its backends and listeners. A reload builds a new one from the old: a backend whose pool
// name and address text are unchanged keeps its Backend object (health, counters, open
// connections); a listener whose bind text is unchanged keeps its stats.
class Generation final {
  public:
    // `access_logs` are the access log destinations in writer order ("stderr" or paths);
    // `shards` the process's shard threads (the rows of per-shard statistics).
    Generation(const config::Config& config, const Generation* previous,
               const std::vector<std::string>& access_logs, std::uint64_t id, std::uint64_t now_ms,
               unsigned shards);
    Generation(const Generation&) = delete;
    Generation& operator=(const Generation&) = delete;

    const config::Config config;
    const std::uint64_t id;  // 1 for the first, +1 per successful reload
    // Each pool and the algorithm that picks from its live sets, by config index. A balancer
    // prepares its pool's live sets, so it is made before the pool and outlives it.
    std::vector<std::unique_ptr<Balancer>> balancers;
    std::vector<std::unique_ptr<BackendPool>> pools;
    std::vector<ListenerRuntime> listeners;  // config order
    // By pool index: what the pool's DNS discovery has done, or null without [pool.discovery].
    std::vector<std::shared_ptr<DiscoveryStats>> discovery;

    // Connections started under this generation that are still open. The generation may be
    // freed once no shard uses it any more and this is 0.
    alignas(64) std::atomic<std::uint64_t> connections{0};

    static constexpr std::size_t kNoPool = SIZE_MAX;
    [[nodiscard]] BackendPool* find_pool(std::string_view name) const noexcept;
    // The index of the pool named `name`, or kNoPool.
    [[nodiscard]] std::size_t pool_index(std::string_view name) const noexcept;
};

// The destinations named by the listeners' access_log settings, without duplicates, in
// first-use order ("off" excluded).
[[nodiscard]] std::vector<std::string> access_log_destinations(const config::Config& config);

}  // namespace ringlb
