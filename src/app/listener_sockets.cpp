// SPDX-License-Identifier: MIT
// Listening sockets: one SO_REUSEPORT socket per shard for each listener, kept across reloads by
// key.
#include "listener_sockets.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "ringlb/base/log.hpp"
#include "ringlb/io/reuseport.hpp"
#include "ringlb/io/socket.hpp"

namespace ringlb {

namespace {
// The listener's queue, TFO and the options its clients inherit, on a socket just bound (it
// has TCP_NODELAY and nothing else). Throws naming the option and the address.
void configure(int fd, const config::ListenerConfig& listener, const SocketAddress& address) {
    const char* failed = "";
    int result = 0;
    if (listener.tcp_fastopen != 0) {
        result = set_listen_queue(fd, static_cast<int>(listener.backlog), listener.tcp_fastopen,
                                  &failed);
    }
    if (result == 0) {
        result = apply_tcp_options(fd, listener.tcp, TcpOptions{}, &failed);
    }
    if (result < 0) {
        throw std::runtime_error(fmt::format("listener {}: {} on {}: {}", listener.name, failed,
                                             address.to_string(), std::strerror(-result)));
    }
}
}  // namespace

std::string listener_key(const config::ListenerConfig& listener) {
    if (listener.bind.port() == 0) {
        return listener.name + "@" + listener.bind.to_string();
    }
    return listener.bind.to_string();
}

void ListenerSockets::steer(const std::string& name, const BoundListener& bound,
                            config::ShardSteering steering) const {
    if (steering == config::ShardSteering::hash || workers_ < 2) {
        return;  // the kernel's hash; one shard needs no choice
    }
    const SteerBy by = steering == config::ShardSteering::cpu ? SteerBy::cpu : SteerBy::random;
    // Every socket of the group has joined it (bind and listen, in shard order).
    if (int result = steer_reuseport_group(bound.fds.front().get(), by, workers_); result < 0) {
        log_warn(
            "listener {}: cannot attach the {} shard steering program ({}); the kernel's "
            "4-tuple hash spreads its clients",
            name, config::shard_steering_name(steering), std::strerror(-result));
    }
}

BoundListeners ListenerSockets::bind_new(const config::Config& config) const {
    BoundListeners sockets;
    for (const config::ListenerConfig& listener : config.listeners) {
        const std::string key = listener_key(listener);
        if (open_.contains(key) || sockets.contains(key)) {
            continue;
        }
        // Port 0: the first bind picks the port, the other shards join it.
        SocketAddress address = listener.bind;
        BoundListener& bound = sockets[key];
        for (unsigned shard = 0; shard < workers_; ++shard) {
            bound.fds.push_back(make_listener(address, static_cast<int>(listener.backlog)));
            configure(bound.fds.back().get(), listener, address);
            if (shard == 0) {
                address = local_address(bound.fds.back().get());
            }
        }
        bound.address = address;
        steer(listener.name, bound, config.global.shard_steering);
        log_info("listening listener={} address={} pool={} routes={}", listener.name,
                 address.to_string(), listener.pool.empty() ? "-" : listener.pool,
                 listener.routes.size());
    }
    return sockets;
}

std::vector<std::unique_ptr<ShardUpdate>> ListenerSockets::shard_updates(
    Generation& generation, BoundListeners& sockets,
    const std::vector<AccessLogBuffer*>& access_buffers) const {
    std::vector<std::unique_ptr<ShardUpdate>> updates;
    for (unsigned shard = 0; shard < workers_; ++shard) {
        auto update = std::make_unique<ShardUpdate>();
        update->generation = &generation;
        update->access_log = access_buffers.empty() ? nullptr : access_buffers[shard];
        for (std::uint32_t i = 0; i < generation.listeners.size(); ++i) {
            const std::string key = listener_key(generation.listeners[i].config);
            if (std::any_of(update->listeners.begin(), update->listeners.end(),
                            [&](const auto& listener) { return listener.key == key; })) {
                log_warn("listener {}: {} is already bound by another listener; ignored",
                         generation.listeners[i].config.name, key);
                continue;
            }
            ShardUpdate::Listener listener;
            listener.key = key;
            listener.runtime = i;
            if (auto found = sockets.find(key); found != sockets.end()) {
                listener.fd = std::move(found->second.fds[shard]);
            }
            update->listeners.push_back(std::move(listener));
        }
        updates.push_back(std::move(update));
    }
    return updates;
}

void ListenerSockets::record(const BoundListeners& sockets) {
    for (const auto& [key, bound] : sockets) {
        open_[key] = bound.address;
    }
}

void ListenerSockets::forget_unused(const config::Config& config) {
    std::erase_if(open_, [&](const auto& entry) {
        const bool kept = std::any_of(
            config.listeners.begin(), config.listeners.end(),
            [&](const auto& listener) { return listener_key(listener) == entry.first; });
        if (!kept) {
            log_info("closing listener address={}", entry.second.to_string());
        }
        return !kept;
    });
}

}  // namespace ringlb
