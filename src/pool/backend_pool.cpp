// SPDX-License-Identifier: MIT
// Backend pools: live-set building and publication.
#include "ringlb/pool/backend_pool.hpp"

#include <algorithm>

namespace ringlb {

BackendPool::BackendPool(const config::PoolConfig& config,
                         std::vector<std::shared_ptr<Backend>> backends, PrepareLiveSet prepare,
                         std::uint64_t now_ms)
    : config_(config), backends_(std::move(backends)), prepare_(std::move(prepare)) {
    bool ramping = false;
    std::unique_ptr<LiveSet> first = build(now_ms, ramping);
    prepare_(*first);
    live_count_.store(first->entries.size(), std::memory_order_relaxed);
    live_.store(first.release(), std::memory_order_seq_cst);
}

BackendPool::~BackendPool() {
    delete live_.load(std::memory_order_seq_cst);
}

std::uint32_t BackendPool::find(std::string_view name) const noexcept {
    for (std::uint32_t i = 0; i < backends_.size(); ++i) {
        if (backends_[i]->name == name) {
            return i;
        }
    }
    return kNone;
}

std::unique_ptr<LiveSet> BackendPool::build(std::uint64_t now_ms, bool& ramping) const {
    auto set = std::make_unique<LiveSet>();
    ramping = false;
    for (std::uint32_t i = 0; i < backends_.size(); ++i) {
        Backend& backend = *backends_[i];
        if (backend.state.load(std::memory_order_relaxed) != config::BackendState::active ||
            !backend.healthy.load(std::memory_order_relaxed)) {
            continue;
        }
        std::uint32_t weight = backend.weight.load(std::memory_order_relaxed);
        const std::uint64_t since = backend.up_since_ms.load(std::memory_order_relaxed);
        if (config_.slow_start_ms > 0 && since > 0 && now_ms < since + config_.slow_start_ms) {
            // Linear ramp from 1/weight to the full weight over slow_start_ms.
            const std::uint64_t elapsed = now_ms - since;
            weight = static_cast<std::uint32_t>(
                std::max<std::uint64_t>(1, weight * elapsed / config_.slow_start_ms));
            ramping = true;
        }
        set->entries.push_back(LiveEntry{i, weight, &backend});
    }
    return set;
}

bool BackendPool::refresh(std::uint64_t now_ms, EpochDomain& epochs) {
    std::lock_guard lock(control_);
    bool ramping = false;
    std::unique_ptr<LiveSet> next = build(now_ms, ramping);
    const LiveSet& current = live();
    const bool same =
        std::equal(next->entries.begin(), next->entries.end(), current.entries.begin(),
                   current.entries.end(), [](const LiveEntry& a, const LiveEntry& b) {
                       return a.backend == b.backend && a.weight == b.weight && a.state == b.state;
                   });
    if (!same) {
        // Only a set that will be published is prepared: Maglev's table and the weighted
        // sequence are the costly part, and slow start refreshes often.
        prepare_(*next);
        live_count_.store(next->entries.size(), std::memory_order_relaxed);
        const LiveSet* old = live_.exchange(next.release(), std::memory_order_seq_cst);
        // LiveSet is only ever created non-const here; the const is the readers' view.
        epochs.retire(std::unique_ptr<Retirable>(const_cast<LiveSet*>(old)));
    }
    return ramping;
}

}  // namespace ringlb
