// SPDX-License-Identifier: MIT
// Control: what the main thread shares with the admin API — the generation in force and the
// process-wide counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "ringlb/access/access_log.hpp"
#include "ringlb/access/client_table.hpp"
#include "ringlb/base/epoch.hpp"
#include "ringlb/runtime/generation.hpp"
#include "ringlb/runtime/shard_stats.hpp"

namespace ringlb {

struct Control final {
    explicit Control(EpochDomain& epoch_domain) : epochs(epoch_domain) {}

    // Control plane: the generation new connections use now.
    [[nodiscard]] std::shared_ptr<Generation> generation() const {
        std::lock_guard lock(generation_lock);
        return current;
    }
    void set_generation(std::shared_ptr<Generation> next) {
        std::lock_guard lock(generation_lock);
        current = std::move(next);
    }

    EpochDomain& epochs;
    std::vector<const ShardStats*> shard_stats;
    std::atomic<const AccessLogWriter*> access_log{nullptr};  // null until a listener logs
    const ClientTable* clients = nullptr;
    std::atomic<std::uint64_t> open_connections{0};  // see ShardServices
    std::atomic<std::uint64_t> max_connections{0};
    std::atomic<std::uint64_t> reloads_succeeded{0};
    std::atomic<std::uint64_t> reloads_failed{0};
    std::atomic<bool> shutting_down{false};

  private:
    mutable std::mutex generation_lock;  // never taken by a shard
    std::shared_ptr<Generation> current;
};

}  // namespace ringlb
