// SPDX-License-Identifier: MIT
// Backend construction from config, and address replacement after re-resolution.
#include "ringlb/pool/backend.hpp"

namespace ringlb {

namespace {
const ResolvedAddress* make_address(const SocketAddress& address) {
    auto* resolved = new ResolvedAddress();
    resolved->address = address;
    return resolved;
}
}  // namespace

Backend::Backend(const config::BackendConfig& config, std::string pool_name)
    : pool(std::move(pool_name)),
      name(config.address_text),
      host(config.host),
      port(config.port),
      address_(make_address(config.address)) {
    max_connections.store(config.max_connections, std::memory_order_relaxed);
    weight.store(config.weight, std::memory_order_relaxed);
    state.store(config.state, std::memory_order_relaxed);
}

Backend::~Backend() {
    delete address_.load(std::memory_order_relaxed);
}

void Backend::set_address(const SocketAddress& address, EpochDomain& epochs) {
    auto next = std::make_unique<ResolvedAddress>();
    next->address = address;
    const ResolvedAddress* old = address_.exchange(next.release(), std::memory_order_acq_rel);
    // Only ever created non-const here; the const is the readers' view.
    epochs.retire(std::unique_ptr<Retirable>(const_cast<ResolvedAddress*>(old)));
}

}  // namespace ringlb
