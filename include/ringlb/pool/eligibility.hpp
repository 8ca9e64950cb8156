// SPDX-License-Identifier: MIT
// The one rule that turns a backend's states into "takes new connections or not" when a live
// set is built.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ringlb/config/config.hpp"

namespace ringlb {

// Everything about one backend that decides whether it may take new connections. A new kind
// of state (a backup tier, passive ejection, an agent's verdict) is a field here and a line
// in usable() or takes_new_connections(), and nowhere else: BackendPool builds every live set
// through this rule.
struct BackendStates final {
    config::BackendState admin = config::BackendState::active;  // from the config or admin API
    bool healthy = true;         // health checks (always true without them)
    std::uint32_t priority = 0;  // SRV priority: the lowest value with a usable backend serves;
                                 // static backends count as 0
    bool backup = false;         // a backup serves only while no usable non-backup exists
    bool ejected = false;        // passive ejection (pool.passive) took it out for a while
    // The agent check's verdict (pool.health.agent_port), apart from the operator's `admin`.
    config::BackendState agent = config::BackendState::active;  // drain, maint (= disabled)
    bool agent_down = false;                                    // down, fail, stopped
    std::uint32_t agent_weight_percent = 100;                   // 0 %: no new connections
};

// The order in which tiers serve: every non-backup tier (by SRV priority) before any backup
// tier. Lower serves first.
[[nodiscard]] std::uint64_t tier_of(const BackendStates& backend) noexcept;

// Whether the backend could take new connections by its own states, whatever the others are.
[[nodiscard]] bool usable(const BackendStates& backend) noexcept;

inline constexpr std::uint32_t kMaxBackendWeight = 1000;  // a backend's weight range is 1..1000

// The weight a live set gives a backend of configured (or admin API) weight `weight` whose
// agent asks for `percent` % of it: weight x percent / 100, at least 1 when percent > 0, at
// most kMaxBackendWeight; 0 for 0 %.
[[nodiscard]] std::uint32_t agent_weight(std::uint32_t weight, std::uint32_t percent) noexcept;

// For each backend, whether it takes new connections: the usable backends of the lowest tier
// that has a usable backend (tier_of: non-backup backends before backups, then the SRV
// priority value, RFC 2782). A higher tier takes over only when every backend of the lower
// tiers is down, drained or disabled, and gives the traffic back as soon as one of them is
// usable again. Control plane only (allocates).
[[nodiscard]] std::vector<bool> takes_new_connections(std::span<const BackendStates> backends);

}  // namespace ringlb
