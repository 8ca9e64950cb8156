// SPDX-License-Identifier: MIT
// LiveSet: the immutable list of a pool's backends that may take new connections.
#pragma once

#include <cstdint>
#include <vector>

#include "ringlb/base/epoch.hpp"

namespace ringlb {

struct Backend;

// One backend that may take new connections, with the weight the algorithm uses now
// (the configured or admin-set weight, reduced during slow start; always >= 1).
struct LiveEntry final {
    std::uint32_t backend = 0;  // index into the pool's members (BackendPool::members())
    std::uint32_t weight = 1;
    Backend* state = nullptr;  // its shared counters (active connections, limit)
};

// Built by the control plane (control thread, admin API, reload), read by shards without
// locks, freed through the EpochDomain. Contains only backends that are healthy and in
// state "active"; a backend at its connection limit is still listed (balancers skip it).
struct LiveSet final : Retirable {
    std::vector<LiveEntry> entries;  // ascending by backend index
    // Usable backends of the SRV priority tiers above the serving one, lowest priority value
    // first: not picked, only tried by a retry (acquire_after) when no entry of the serving
    // tier has room, so that a tier that just died costs no client while health checks have
    // not noticed yet. Backup backends are here only while a backup tier serves: a backup
    // takes no connection while a non-backup backend is usable.
    std::vector<LiveEntry> standby;
    // Precomputed by the pool's Balancer::prepare (e.g. the smooth weighted round-robin
    // sequence or the Maglev lookup table): positions into `entries`.
    std::vector<std::uint32_t> table;
};

}  // namespace ringlb
