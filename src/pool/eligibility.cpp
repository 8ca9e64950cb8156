// SPDX-License-Identifier: MIT
// Which backends take new connections: their own states, then the lowest usable tier (backups
// last, then SRV priority).
#include "ringlb/pool/eligibility.hpp"

#include <algorithm>
#include <limits>

namespace ringlb {

bool usable(const BackendStates& backend) noexcept {
    return backend.admin == config::BackendState::active && backend.healthy && !backend.ejected &&
           backend.agent == config::BackendState::active && !backend.agent_down &&
           backend.agent_weight_percent > 0;
}

std::uint32_t agent_weight(std::uint32_t weight, std::uint32_t percent) noexcept {
    if (percent == 0) {
        return 0;
    }
    const std::uint64_t share = std::uint64_t{weight} * percent / 100;
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(share, 1, kMaxBackendWeight));
}

std::uint64_t tier_of(const BackendStates& backend) noexcept {
    return (std::uint64_t{backend.backup} << 32) | backend.priority;
}

std::vector<bool> takes_new_connections(std::span<const BackendStates> backends) {
    std::uint64_t serving_tier = std::numeric_limits<std::uint64_t>::max();
    for (const BackendStates& backend : backends) {
        if (usable(backend)) {
            serving_tier = std::min(serving_tier, tier_of(backend));
        }
    }
    std::vector<bool> takes(backends.size(), false);
    for (std::size_t i = 0; i < backends.size(); ++i) {
        takes[i] = usable(backends[i]) && tier_of(backends[i]) == serving_tier;
    }
    return takes;
}

}  // namespace ringlb
