// SPDX-License-Identifier: MIT
// Backend construction from config, and address replacement after re-resolution.
#include "ringlb/pool/backend.hpp"

namespace ringlb {

std::string_view backend_origin_name(BackendOrigin origin) noexcept {
    return origin == BackendOrigin::dns_srv ? "dns_srv" : "config";
}

Backend::Backend(const config::BackendConfig& config, std::string pool_name, unsigned shards,
                 BackendOrigin from)
    : pool(std::move(pool_name)),
      name(config.address_text),
      host(config.host),
      port(config.port),
      origin(from),
      shards_(shards > 0 ? shards : 1),
      shard_stats_(std::make_unique<BackendShardStats[]>(shards_)),
      address_(new Published<SocketAddress>(config.address)) {
    max_connections.store(config.max_connections, std::memory_order_relaxed);
    weight.store(config.weight, std::memory_order_relaxed);
    state.store(config.state, std::memory_order_relaxed);
    backup.store(config.backup, std::memory_order_relaxed);
}

// Whoever destroys a Backend holds the last reference: no shard reads it any more.
Backend::~Backend() {
    delete address_.load(std::memory_order_relaxed);
}

SocketAddress Backend::address_snapshot() const {
    std::lock_guard lock(address_lock_);
    return address_.load(std::memory_order_acquire)->value;
}

void Backend::set_address(const SocketAddress& address, EpochDomain& epochs) {
    auto next = std::make_unique<Published<SocketAddress>>(address);
    std::lock_guard lock(address_lock_);
    std::unique_ptr<Retirable> old(const_cast<Published<SocketAddress>*>(
        address_.exchange(next.release(), std::memory_order_acq_rel)));
    epochs.retire(std::move(old));
}

}  // namespace ringlb
