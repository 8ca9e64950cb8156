// SPDX-License-Identifier: MIT
// Backend construction from config, and address replacement after re-resolution.
#include "ringlb/pool/backend.hpp"

namespace ringlb {

namespace {
std::atomic<std::size_t> g_resolved_addresses{0};
}  // namespace

ResolvedAddress::ResolvedAddress(const SocketAddress& resolved) noexcept : address(resolved) {
    g_resolved_addresses.fetch_add(1, std::memory_order_relaxed);
}

ResolvedAddress::~ResolvedAddress() {
    g_resolved_addresses.fetch_sub(1, std::memory_order_relaxed);
}

std::size_t ResolvedAddress::live() noexcept {
    return g_resolved_addresses.load(std::memory_order_relaxed);
}

Backend::Backend(const config::BackendConfig& config, std::string pool_name)
    : pool(std::move(pool_name)),
      name(config.address_text),
      host(config.host),
      port(config.port),
      address_(new ResolvedAddress(config.address)) {
    max_connections.store(config.max_connections, std::memory_order_relaxed);
    weight.store(config.weight, std::memory_order_relaxed);
    state.store(config.state, std::memory_order_relaxed);
}

// Whoever destroys a Backend holds the last reference: no shard reads it any more.
Backend::~Backend() {
    delete address_.load(std::memory_order_relaxed);
}

SocketAddress Backend::address_snapshot() const {
    std::lock_guard lock(address_lock_);
    return address_.load(std::memory_order_acquire)->address;
}

void Backend::set_address(const SocketAddress& address, EpochDomain& epochs) {
    auto next = std::make_unique<ResolvedAddress>(address);
    std::lock_guard lock(address_lock_);
    std::unique_ptr<Retirable> old(
        const_cast<ResolvedAddress*>(address_.exchange(next.release(), std::memory_order_acq_rel)));
    epochs.retire(std::move(old));
}

}  // namespace ringlb
