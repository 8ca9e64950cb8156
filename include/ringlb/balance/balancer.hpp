// SPDX-License-Identifier: MIT
// Balancer: the interface every balancing algorithm implements, and its factory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

    // Control plane, under the pool's lock like prepare: the address texts of every backend
    // of the pool, live or not, whenever they change (DNS discovery adds and removes some).
    virtual void set_members(const std::vector<std::string>& names) { (void)names; }

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
// (Backend::try_acquire); nullptr when no live backend has room. The caller gives the place
// back with Backend::release, and may use the backend while it holds the place.
[[nodiscard]] Backend* acquire(const BackendPool& pool, Balancer& balancer,
                               const PickContext& context) noexcept;
// Shard threads: the same for a retry after `failed` (on which the caller still holds a
// place) could not be reached: the next live backend with room after it, without consuming a
// pick of the algorithm (so that a dead backend does not shift every later connection onto
// itself). When the serving tier has no other backend with room, the standby tiers
// (LiveSet::standby, lowest priority value first) are tried, so that a tier that has just
// died costs no client before health checks notice. Returns `failed` itself, taking no second
// place, when nothing else has room; nullptr when `failed` was a standby backend and nothing
// has room. `failed` is only compared, never read.
[[nodiscard]] Backend* acquire_after(const BackendPool& pool, Balancer& balancer,
                                     const Backend* failed, const PickContext& context) noexcept;

// The algorithm a pool's config names.
[[nodiscard]] std::unique_ptr<Balancer> make_balancer(const config::PoolConfig& pool);

// A hash of the client's IP address (not its port) that is the same in every process and
// on every run: what Maglev keys on.
[[nodiscard]] std::uint64_t hash_client(const SocketAddress& client) noexcept;

}  // namespace ringlb
