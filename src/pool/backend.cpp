// SPDX-License-Identifier: MIT
// Backend construction from config, and address replacement after re-resolution.
#include "ringlb/pool/backend.hpp"

namespace ringlb {

Backend::Backend(const config::BackendConfig& config, std::string pool_name)
    : pool(std::move(pool_name)),
      name(config.address_text),
      host(config.host),
      port(config.port),
      address_(nullptr) {
    set_address(config.address);
    max_connections.store(config.max_connections, std::memory_order_relaxed);
    weight.store(config.weight, std::memory_order_relaxed);
    state.store(config.state, std::memory_order_relaxed);
}

Backend::~Backend() = default;

void Backend::set_address(const SocketAddress& address) {
    auto next = std::make_unique<const ResolvedAddress>(ResolvedAddress{address});
    address_.store(next.get(), std::memory_order_release);
    addresses_.push_back(std::move(next));
}

}  // namespace ringlb
