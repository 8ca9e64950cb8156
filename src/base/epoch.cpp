// SPDX-License-Identifier: MIT
// Quiescent-state based reclamation for live sets published to the shards.
#include "ringlb/base/epoch.hpp"

#include <algorithm>

namespace ringlb {

EpochDomain::EpochDomain(std::size_t readers)
    : slots_(std::make_unique<Slot[]>(readers)), readers_(readers) {}

void EpochDomain::retire(std::unique_ptr<Retirable> old) {
    if (!old) {
        return;
    }
    std::uint64_t epoch = advance();
    {
        std::lock_guard lock(writers_);
        retired_.push_back(Retired{epoch, std::move(old)});
    }
    reclaim();
}

bool EpochDomain::passed(std::uint64_t epoch) const noexcept {
    for (std::size_t i = 0; i < readers_; ++i) {
        if (slots_[i].epoch.load(std::memory_order_seq_cst) < epoch) {
            return false;
        }
    }
    return true;
}

std::size_t EpochDomain::reclaim() noexcept {
    std::uint64_t oldest = kOffline;
    for (std::size_t i = 0; i < readers_; ++i) {
        oldest = std::min(oldest, slots_[i].epoch.load(std::memory_order_seq_cst));
    }
    std::lock_guard lock(writers_);
    freed_.fetch_add(
        std::erase_if(retired_,
                      [oldest](const Retired& retired) { return retired.epoch <= oldest; }),
        std::memory_order_relaxed);
    return retired_.size();
}

}  // namespace ringlb
