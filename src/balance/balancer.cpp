// SPDX-License-Identifier: MIT
// The factory that maps a pool's configured algorithm to its implementation, and the
// client-address hash that hashing algorithms key on.
#include "ringlb/balance/balancer.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ringlb/balance/least_connections.hpp"
#include "ringlb/balance/maglev.hpp"
#include "ringlb/balance/random_two.hpp"
#include "ringlb/balance/round_robin.hpp"
#include "ringlb/balance/weighted_round_robin.hpp"
#include "ringlb/base/hash.hpp"

namespace ringlb {

std::uint32_t first_with_room(const LiveSet& set, std::size_t from) noexcept {
    const std::size_t count = set.entries.size();
    for (std::size_t step = 0; step < count; ++step) {
        const std::size_t position = (from + step) % count;
        if (set.entries[position].state->has_room()) {
            return static_cast<std::uint32_t>(position);
        }
    }
    return Balancer::kNoPick;
}

std::uint32_t walk_table(const LiveSet& set, std::size_t start, std::size_t max_steps) noexcept {
    const std::size_t count = set.entries.size();
    const std::size_t length = set.table.size();
    if (count == 0 || length == 0) {
        return Balancer::kNoPick;
    }
    const std::size_t steps = std::min(length, max_steps);
    for (std::size_t step = 0; step < steps; ++step) {
        const std::uint32_t position = set.table[(start + step) % length];
        if (position < count && set.entries[position].state->has_room()) {
            return position;
        }
    }
    // Most of the table is full: any entry with room will do, starting where the table
    // pointed so that the fallback does not always favour the first entry.
    const std::uint32_t pointed = set.table[start % length];
    return first_with_room(set, pointed < count ? pointed : 0);
}

Backend* acquire(const BackendPool& pool, Balancer& balancer, const PickContext& context) noexcept {
    const LiveSet& set = pool.live();
    const std::size_t count = set.entries.size();
    const std::uint32_t first = balancer.pick(set, context);
    if (first == Balancer::kNoPick) {
        return nullptr;
    }
    // The pick saw room; another shard may have taken the last place since. Then the next
    // entries in order are the fallback.
    for (std::size_t step = 0; step < count; ++step) {
        const LiveEntry& entry = set.entries[(first + step) % count];
        if (entry.state->try_acquire()) {
            return entry.state;
        }
    }
    return nullptr;
}

Backend* acquire_after(const BackendPool& pool, Balancer& balancer, const Backend* failed,
                       const PickContext& context) noexcept {
    const LiveSet& set = pool.live();
    // The standby tiers, in order, after the serving tier had nothing else with room.
    const auto standby_after = [&](std::size_t from) -> Backend* {
        for (std::size_t i = from; i < set.standby.size(); ++i) {
            Backend* backend = set.standby[i].state;
            if (backend != failed && backend->try_acquire()) {
                return backend;
            }
        }
        return nullptr;
    };
    const std::size_t count = set.entries.size();
    for (std::size_t i = 0; i < count; ++i) {
        if (set.entries[i].state != failed) {
            continue;
        }
        for (std::size_t step = 1; step < count; ++step) {
            const LiveEntry& entry = set.entries[(i + step) % count];
            if (entry.state->try_acquire()) {
                return entry.state;
            }
        }
        if (Backend* backend = standby_after(0)) {
            return backend;
        }
        return set.entries[i].state;  // `failed` again: its place is still held
    }
    for (std::size_t i = 0; i < set.standby.size(); ++i) {
        if (set.standby[i].state == failed) {
            // A standby backend failed too: the tiers after it, else the serving tier again.
            if (Backend* backend = standby_after(i + 1)) {
                return backend;
            }
            break;
        }
    }
    return acquire(pool, balancer, context);
}

std::unique_ptr<Balancer> make_balancer(const config::PoolConfig& pool) {
    switch (pool.algorithm) {
        case config::Algorithm::round_robin:
            return std::make_unique<RoundRobin>();
        case config::Algorithm::weighted_round_robin:
            return std::make_unique<WeightedRoundRobin>();
        case config::Algorithm::least_connections:
            return std::make_unique<LeastConnections>();
        case config::Algorithm::random_two:
            return std::make_unique<RandomTwo>();
        case config::Algorithm::maglev:
            return std::make_unique<Maglev>(pool);
    }
    throw std::invalid_argument("pool " + pool.name + ": unknown balancing algorithm " +
                                std::to_string(static_cast<int>(pool.algorithm)));
}

std::uint64_t hash_client(const SocketAddress& client) noexcept {
    // The address without its port (an IPv4 client seen through a dual-stack socket hashes as
    // its four IPv4 bytes). FNV-1a, then the splitmix64 finaliser so that nearby addresses
    // (10.0.0.1, 10.0.0.2) differ in every bit, including the low ones a modulo keeps. Fixed
    // constants: every process and every run agrees.
    return mix64(fnv1a64(client.ip_bytes().view()));
}

}  // namespace ringlb
