// SPDX-License-Identifier: MIT
// Building a generation from a config, carrying backends and listener stats over a reload.
#include "ringlb/runtime/generation.hpp"

#include <algorithm>

#include "ringlb/base/hash.hpp"

namespace ringlb {

std::string_view rejection_name(Rejection reason) noexcept {
    switch (reason) {
        case Rejection::no_fd:
            return "no_fd";
        case Rejection::no_slot:
            return "no_slot";
        case Rejection::no_backend:
            return "no_backend";
        case Rejection::denied:
            return "denied";
        case Rejection::client_limit:
            return "client_limit";
        case Rejection::rate_limited:
            return "rate_limited";
        case Rejection::proxy_protocol:
            return "proxy_protocol";
        case Rejection::no_route:
            return "no_route";
        case Rejection::queue_timeout:
            return "queue_timeout";
        case Rejection::count_:
            break;
    }
    return "?";
}

std::string_view discovery_result_name(DiscoveryResult result) noexcept {
    switch (result) {
        case DiscoveryResult::success:
            return "success";
        case DiscoveryResult::empty:
            return "empty";
        case DiscoveryResult::timeout:
            return "timeout";
        case DiscoveryResult::error:
            return "error";
        case DiscoveryResult::count_:
            break;
    }
    return "?";
}

ListenerStats::ListenerStats(std::string listener_name, unsigned shards)
    : name(std::move(listener_name)),
      shards_(shards > 0 ? shards : 1),
      closed_(std::make_unique<ClosedRow[]>(shards_)) {}

std::uint64_t ListenerStats::closed(Termination reason) const noexcept {
    std::uint64_t total = 0;
    for (unsigned shard = 0; shard < shards_; ++shard) {
        total += closed_[shard].by_reason[static_cast<std::size_t>(reason)].load(
            std::memory_order_relaxed);
    }
    return total;
}

std::vector<std::string> access_log_destinations(const config::Config& config) {
    std::vector<std::string> destinations;
    for (const config::ListenerConfig& listener : config.listeners) {
        if (listener.access_log != "off" && std::find(destinations.begin(), destinations.end(),
                                                      listener.access_log) == destinations.end()) {
            destinations.push_back(listener.access_log);
        }
    }
    return destinations;
}

Generation::Generation(const config::Config& loaded, const Generation* previous,
                       const std::vector<std::string>& access_logs, std::uint64_t generation_id,
                       std::uint64_t now_ms, unsigned shards)
    : config(loaded), id(generation_id) {
    for (const config::PoolConfig& pool : config.pools) {
        BackendPool* old_pool = previous ? previous->find_pool(pool.name) : nullptr;
        std::vector<std::shared_ptr<Backend>> backends;
        for (const config::BackendConfig& backend : pool.backends) {
            std::shared_ptr<Backend> kept =
                old_pool ? old_pool->find(backend.address_text) : nullptr;
            if (!kept || kept->origin != BackendOrigin::config) {
                backends.push_back(std::make_shared<Backend>(backend, pool.name, shards));
                continue;
            }
            // Carried over: the file's settings apply again (an admin API change lasts
            // until the next reload, as in HAProxy), health and counters continue.
            kept->weight.store(backend.weight, std::memory_order_relaxed);
            kept->max_connections.store(backend.max_connections, std::memory_order_relaxed);
            kept->backup.store(backend.backup, std::memory_order_relaxed);
            if (backend.state == config::BackendState::active &&
                kept->state.load(std::memory_order_relaxed) != config::BackendState::active) {
                kept->up_since_ms.store(now_ms, std::memory_order_relaxed);
            }
            kept->state.store(backend.state, std::memory_order_relaxed);
            if (!pool.health) {
                kept->healthy.store(true, std::memory_order_relaxed);
            }
            backends.push_back(std::move(kept));
        }
        std::shared_ptr<DiscoveryStats> stats;
        if (pool.discovery) {
            // A pool that keeps its discovery keeps what it found until the next answer (the
            // control thread applies its last answer to the new pool at once), so a reload
            // leaves no gap; a static backend of the same address takes its place.
            const std::size_t before = previous ? previous->pool_index(pool.name) : kNoPool;
            if (before != kNoPool && previous->discovery[before]) {
                stats = previous->discovery[before];
                for (auto& found : old_pool->discovered()) {
                    const bool shadowed = std::any_of(
                        backends.begin(), backends.end(),
                        [&](const auto& backend) { return backend->name == found->name; });
                    if (shadowed) {
                        continue;
                    }
                    if (!pool.health) {
                        found->healthy.store(true, std::memory_order_relaxed);
                    }
                    backends.push_back(std::move(found));
                }
            } else {
                stats = std::make_shared<DiscoveryStats>();
            }
        }
        discovery.push_back(std::move(stats));
        Balancer& balancer = *balancers.emplace_back(make_balancer(pool));
        pools.push_back(std::make_unique<BackendPool>(
            pool, std::move(backends), [&balancer](LiveSet& set) { balancer.prepare(set); }, now_ms,
            shards,
            [&balancer](const std::vector<std::string>& names) { balancer.set_members(names); }));
    }
    for (const config::ListenerConfig& listener : config.listeners) {
        ListenerRuntime runtime;
        runtime.config = listener;
        if (!listener.pool.empty()) {
            runtime.pool = pools[listener.pool_index].get();
            runtime.balancer = balancers[listener.pool_index].get();
        }
        bool maglev = false;      // a pool the listener may use hashes clients
        bool send_proxy = false;  // or tells backends who they are
        auto note_pool = [&](const config::PoolConfig& pool) {
            maglev = maglev || pool.algorithm == config::Algorithm::maglev;
            send_proxy = send_proxy || pool.send_proxy != config::SendProxy::none;
        };
        if (runtime.pool != nullptr) {
            note_pool(runtime.pool->config());
        }
        for (const config::RouteConfig& route : listener.routes) {
            RouteRuntime& added = runtime.routes.emplace_back();
            for (const std::string& name : route.sni) {
                if (name.starts_with("*.")) {
                    added.suffixes.push_back(name.substr(1));
                } else {
                    added.exact.push_back(name);
                }
            }
            added.target =
                PoolTarget{pools[route.pool_index].get(), balancers[route.pool_index].get()};
            note_pool(added.target.pool->config());
        }
        if (previous) {
            for (const ListenerRuntime& old : previous->listeners) {
                if (old.config.bind == listener.bind && old.config.name == listener.name) {
                    runtime.stats = old.stats;
                }
            }
        }
        if (!runtime.stats) {
            runtime.stats = std::make_shared<ListenerStats>(listener.name, shards);
        }
        auto destination = std::find(access_logs.begin(), access_logs.end(), listener.access_log);
        if (listener.access_log != "off" && destination != access_logs.end()) {
            runtime.access_log = static_cast<int>(destination - access_logs.begin());
        }
        // Per-client limits count per listener; by name, so that counts survive a reload.
        runtime.client_scope = fnv1a64(listener.name);
        runtime.needs_peer = listener.accept_proxy || !listener.allow.empty() ||
                             !listener.deny.empty() || listener.max_connections_per_client > 0 ||
                             listener.new_connections_per_client_per_s > 0 ||
                             runtime.access_log >= 0 || maglev || send_proxy;
        listeners.push_back(std::move(runtime));
    }
}

namespace {

PickContext pick_for(const SocketAddress* client) noexcept {
    PickContext pick;
    if (client != nullptr) {
        pick.client_hash = hash_client(*client);
    }
    return pick;
}

}  // namespace

Backend* PoolTarget::acquire(const SocketAddress* client) const noexcept {
    return ringlb::acquire(*pool, *balancer, pick_for(client));
}

Backend* PoolTarget::acquire_after(const Backend* failed,
                                   const SocketAddress* client) const noexcept {
    return ringlb::acquire_after(*pool, *balancer, failed, pick_for(client));
}

bool RouteRuntime::matches(std::string_view name) const noexcept {
    for (const std::string& candidate : exact) {
        if (name == candidate) {
            return true;
        }
    }
    for (const std::string& suffix : suffixes) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            return true;
        }
    }
    return false;
}

const RouteRuntime* ListenerRuntime::match(std::string_view server_name) const noexcept {
    for (const RouteRuntime& route : routes) {
        if (route.matches(server_name)) {
            return &route;
        }
    }
    return nullptr;
}

std::size_t Generation::pool_index(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < pools.size(); ++i) {
        if (pools[i]->name() == name) {
            return i;
        }
    }
    return kNoPool;
}

BackendPool* Generation::find_pool(std::string_view name) const noexcept {
    for (const auto& pool : pools) {
        if (pool->name() == name) {
            return pool.get();
        }
    }
    return nullptr;
}

}  // namespace ringlb
