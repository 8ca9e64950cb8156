// SPDX-License-Identifier: MIT
// Balancer: the interface every balancing algorithm implements, and its factory.
#pragma once

#include <cstdint>
#include <memory>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/live_set.hpp"

namespace ringlb {

// What a pick may depend on besides the live set.
struct PickContext final {
    std::uint64_t client_hash = 0;  // hash_client(client address): for hashing algorithms
};

class Balancer {
  public:
    static constexpr std::uint32_t kNoPick = UINT32_MAX;

    virtual ~Balancer() = default;

    // Control plane, before `set` is published: precompute what pick() needs into
    // `set.table`. May allocate; never called on a shard.
    virtual void prepare(LiveSet& set) const { (void)set; }

    // Returns a position in `set.entries` for a new connection, skipping entries whose
    // backend has no room (Backend::has_room), or kNoPick when no entry has room or the set
    // is empty. Called by every shard concurrently: lock-free, never allocates.
    [[nodiscard]] virtual std::uint32_t pick(const LiveSet& set,
                                             const PickContext& context) noexcept = 0;
};

// Helpers for algorithms (shard threads; lock-free, no allocation):
// The first entry with room at `from` or after it (wrapping), or Balancer::kNoPick.
[[nodiscard]] std::uint32_t first_with_room(const LiveSet& set, std::size_t from) noexcept;
// The first entry with room among at most `max_steps` slots of `set.table` from `start`
// (wrapping); when none has room, any entry with room, from the one the table pointed at.
[[nodiscard]] std::uint32_t walk_table(const LiveSet& set, std::size_t start,
                                       std::size_t max_steps) noexcept;

// Shard threads: chooses the backend for a new connection from `pool`'s live set with
// `balancer` (the pool's algorithm) and takes a connection place on it
// (Backend::try_acquire); BackendPool::kNone when no live backend has room. The caller gives
// the place back with Backend::release.
[[nodiscard]] std::uint32_t acquire(const BackendPool& pool, Balancer& balancer,
                                    const PickContext& context) noexcept;
// Shard threads: the same for a retry after `failed` could not be reached: the next live
// backend with room after it, without consuming a pick of the algorithm (so that a dead
// backend does not shift every later connection onto itself). May return `failed` itself
// when it is the only one.
[[nodiscard]] std::uint32_t acquire_after(const BackendPool& pool, Balancer& balancer,
                                          std::uint32_t failed,
                                          const PickContext& context) noexcept;

// The algorithm a pool's config names.
[[nodiscard]] std::unique_ptr<Balancer> make_balancer(const config::PoolConfig& pool);

// A hash of the client's IP address (not its port) that is the same in every process and
// on every run: what Maglev keys on.
[[nodiscard]] std::uint64_t hash_client(const SocketAddress& client) noexcept;

}  // namespace ringlb
