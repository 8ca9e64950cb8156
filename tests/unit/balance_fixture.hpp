// SPDX-License-Identifier: MIT
// Backends and live sets for the balancing-algorithm unit tests, built as a pool would build them.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringlb/balance/balancer.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/pool/backend.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/live_set.hpp"

namespace ringlb::test {

using Backends = std::vector<std::shared_ptr<Backend>>;

// A pool config named "web" with `count` backends on 127.0.0.1:9001.., each allowing
// `max_connections` (0 = no limit).
[[nodiscard]] inline config::PoolConfig pool_config(std::size_t count,
                                                    unsigned max_connections = 0) {
    config::PoolConfig pool;
    pool.name = "web";
    for (std::size_t i = 0; i < count; ++i) {
        config::BackendConfig backend;
        backend.address_text = "127.0.0.1:" + std::to_string(9001 + i);
        backend.address = *SocketAddress::parse(backend.address_text);
        backend.max_connections = max_connections;
        pool.backends.push_back(backend);
    }
    return pool;
}

// The Backend objects of a pool config, as a BackendPool holds them.
[[nodiscard]] inline Backends make_backends(const config::PoolConfig& pool) {
    Backends backends;
    for (const auto& config : pool.backends) {
        backends.push_back(std::make_shared<Backend>(config, pool.name, 1));
    }
    return backends;
}

// What BalancedPool::acquire returns when no backend has room.
inline constexpr std::uint32_t kNone = UINT32_MAX;

// A BackendPool and its algorithm, paired as a generation pairs them. Picks are returned as
// positions in `backends`.
struct BalancedPool final {
    BalancedPool(const config::PoolConfig& config, const Backends& members)
        : backends(members),
          balancer(make_balancer(config)),
          pool(
              config, members, [this](LiveSet& set) { balancer->prepare(set); }, 0, 1,
              [this](const std::vector<std::string>& names) { balancer->set_members(names); }) {}

    [[nodiscard]] std::uint32_t acquire(const PickContext& context = {}) {
        return index_of(ringlb::acquire(pool, *balancer, context));
    }
    // The retry after `failed` (a position in `backends`, on which a place is held).
    [[nodiscard]] std::uint32_t acquire_after(std::uint32_t failed) {
        return index_of(
            ringlb::acquire_after(pool, *balancer, backends[failed].get(), PickContext{}));
    }
    [[nodiscard]] std::uint32_t index_of(const Backend* backend) const {
        for (std::uint32_t i = 0; i < backends.size(); ++i) {
            if (backends[i].get() == backend) {
                return i;
            }
        }
        return kNone;
    }

    Backends backends;
    std::unique_ptr<Balancer> balancer;
    BackendPool pool;
};

// Fills `set` with the backends at `live` (positions in `backends`), in that order and with
// their weights, as a pool publishes the ones that may take connections.
inline void fill(LiveSet& set, const Backends& backends, const std::vector<std::uint32_t>& live) {
    set.entries.clear();
    for (const std::uint32_t index : live) {
        set.entries.push_back(
            LiveEntry{index, backends[index]->weight.load(), backends[index].get()});
    }
}

// The positions 0..count-1: every backend live.
[[nodiscard]] inline std::vector<std::uint32_t> all_of(std::size_t count) {
    std::vector<std::uint32_t> indices(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        indices[i] = i;
    }
    return indices;
}

inline void fill(LiveSet& set, const Backends& backends) {
    fill(set, backends, all_of(backends.size()));
}

// One backend's settings in a BalancePool.
struct BackendSpec final {
    unsigned weight = 1;
    unsigned max_connections = 0;
};

// Specs with these weights, all allowing `max_connections`.
[[nodiscard]] inline std::vector<BackendSpec> with_weights(const std::vector<unsigned>& weights,
                                                           unsigned max_connections = 0) {
    std::vector<BackendSpec> specs;
    for (const unsigned weight : weights) {
        specs.push_back(BackendSpec{weight, max_connections});
    }
    return specs;
}

// Backends on 127.0.0.1:9001.. with these settings, and the live set that lists them all.
struct BalancePool final {
    Backends backends;
    LiveSet set;

    explicit BalancePool(const std::vector<BackendSpec>& specs) {
        config::PoolConfig config = pool_config(specs.size());
        for (std::size_t i = 0; i < specs.size(); ++i) {
            config.backends[i].weight = specs[i].weight;
            config.backends[i].max_connections = specs[i].max_connections;
        }
        backends = make_backends(config);
        fill(set, backends);
    }

    // Takes `connections` places on one backend, as connections kept open would.
    void open(std::size_t backend, int connections) {
        for (int i = 0; i < connections; ++i) {
            REQUIRE(backends[backend]->try_acquire());
        }
    }
    [[nodiscard]] std::uint32_t active(std::size_t backend) const {
        return backends[backend]->active.load();
    }
};

// `picks` picks whose connections close at once (nothing is acquired), counted by position.
[[nodiscard]] inline std::vector<int> count_picks(Balancer& balancer, const LiveSet& set,
                                                  int picks) {
    std::vector<int> hits(set.entries.size());
    for (int i = 0; i < picks; ++i) {
        const std::uint32_t position = balancer.pick(set, PickContext{});
        REQUIRE(position < hits.size());
        ++hits[position];
    }
    return hits;
}

// The same, checking that no position is picked twice in a row: what a rotation promises.
[[nodiscard]] inline std::vector<int> count_rotating_picks(Balancer& balancer, const LiveSet& set,
                                                           int picks) {
    std::vector<int> hits(set.entries.size());
    std::uint32_t previous = Balancer::kNoPick;
    for (int i = 0; i < picks; ++i) {
        const std::uint32_t position = balancer.pick(set, PickContext{});
        REQUIRE(position < hits.size());
        CHECK(position != previous);
        previous = position;
        ++hits[position];
    }
    return hits;
}

}  // namespace ringlb::test
