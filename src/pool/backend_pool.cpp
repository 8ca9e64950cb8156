// SPDX-License-Identifier: MIT
// Backend pools: live-set publication by the health thread and backend choice for shards.
#include "ringlb/pool/backend_pool.hpp"

namespace ringlb {

BackendPool::BackendPool(const config::PoolConfig& config)
    : config_(config), balancer_(make_balancer(config)) {
    auto all = std::make_unique<LiveSet>();
    for (const config::BackendConfig& backend : config_.backends) {
        all->backends.push_back(static_cast<std::uint32_t>(backends_.size()));
        backends_.push_back(Backend{backend.address, backend.address_text, backend.weight});
    }
    live_.store(all.release(), std::memory_order_seq_cst);
}

BackendPool::~BackendPool() {
    delete live_.load(std::memory_order_seq_cst);
}

std::uint32_t BackendPool::choose() noexcept {
    const LiveSet& set = live();
    if (set.backends.empty()) {
        return kNone;
    }
    return set.backends[balancer_->pick(set)];
}

std::uint32_t BackendPool::next_after(std::uint32_t failed) noexcept {
    const LiveSet& set = live();
    const auto& live = set.backends;
    for (std::size_t i = 0; i < live.size(); ++i) {
        if (live[i] == failed) {
            return live[(i + 1) % live.size()];
        }
    }
    return choose();
}

void BackendPool::publish(std::vector<std::uint32_t> backends, EpochDomain& epochs) {
    auto next = std::make_unique<LiveSet>();
    next->backends = std::move(backends);
    const LiveSet* old = live_.exchange(next.release(), std::memory_order_seq_cst);
    // LiveSet is only ever created non-const here; the const is the readers' view.
    epochs.retire(std::unique_ptr<Retirable>(const_cast<LiveSet*>(old)));
}

}  // namespace ringlb
