// SPDX-License-Identifier: MIT
// Passive ejection (pool.passive): the control thread takes out a backend that failed real
// traffic too many times in a row, and lets it back after its ejection time, through slow start.
#include <algorithm>
#include <exception>
#include <limits>
#include <utility>
#include <vector>

#include "ringlb/base/log.hpp"
#include "ringlb/control/control_thread.hpp"

namespace ringlb {

namespace {

// How often pools with passive ejection are looked at: a failure streak is acted on within
// this, and an ejection ends within it of its time.
constexpr std::uint64_t kScanMs = 100;
// An ejection lasts ejection_ms, doubled for each repeat, at most this many times as long.
constexpr std::uint64_t kMaxFactor = 10;

// The length of ejection number `streak` (1 = the first since the backend served in peace).
std::uint64_t ejection_length_ms(const config::PassiveConfig& passive, std::uint32_t streak) {
    std::uint64_t factor = 1;
    for (std::uint32_t i = 1; i < streak && factor < kMaxFactor; ++i) {
        factor *= 2;
    }
    return std::uint64_t{passive.ejection_ms} * std::min(factor, kMaxFactor);
}

// Takes `backend` out: it leaves the live set at the next publication.
void eject(Backend& backend, const config::PassiveConfig& passive, std::uint64_t now) {
    const std::uint32_t streak = backend.ejection_streak.load(std::memory_order_relaxed) + 1;
    backend.ejection_streak.store(streak, std::memory_order_relaxed);
    backend.ejected_until_ms.store(now + ejection_length_ms(passive, streak),
                                   std::memory_order_relaxed);
    backend.ejected.store(true, std::memory_order_relaxed);
    backend.ejections_total.fetch_add(1, std::memory_order_relaxed);
}

// Lets `backend` back: a fresh count of failures, and slow start from now.
void readmit(Backend& backend, std::uint64_t now) {
    backend.passive_failures.store(0, std::memory_order_relaxed);
    backend.returned_ms.store(now, std::memory_order_relaxed);
    backend.up_since_ms.store(now, std::memory_order_relaxed);
    backend.ejected.store(false, std::memory_order_relaxed);
}

}  // namespace

std::uint64_t ControlThread::check_ejections(std::uint64_t now) {
    std::uint64_t wake_at = std::numeric_limits<std::uint64_t>::max();
    if (!generation_) {
        return wake_at;
    }
    const bool new_generation = ejections_seen_generation_ != generation_->id;
    ejections_seen_generation_ = generation_->id;
    for (const auto& owned : generation_->pools) {
        BackendPool& pool = *owned;
        const config::PassiveConfig& passive = pool.config().passive;
        const bool on = passive.consecutive_failures > 0;
        // A pool without passive ejection is looked at once per generation: a reload that
        // turned it off lets its ejected backends back.
        if (!on && !new_generation) {
            continue;
        }
        if (on) {
            wake_at = std::min(wake_at, now + kScanMs);
        }
        const std::vector<std::shared_ptr<Backend>> members = pool.members();
        std::size_t ejected = 0;
        for (const auto& backend : members) {
            ejected += backend->ejected.load(std::memory_order_relaxed) ? 1 : 0;
        }
        std::vector<std::pair<Backend*, bool>> changes;  // the backend, and whether it left
        for (const auto& member : members) {
            Backend& backend = *member;
            if (backend.ejected.load(std::memory_order_relaxed)) {
                if (!on || now >= backend.ejected_until_ms.load(std::memory_order_relaxed)) {
                    readmit(backend, now);
                    --ejected;
                    changes.emplace_back(&backend, false);
                }
                continue;
            }
            if (!on) {
                continue;
            }
            // A backend that served for the longest ejection since it came back starts afresh.
            if (backend.ejection_streak.load(std::memory_order_relaxed) > 0 &&
                now - backend.returned_ms.load(std::memory_order_relaxed) >=
                    kMaxFactor * passive.ejection_ms) {
                backend.ejection_streak.store(0, std::memory_order_relaxed);
            }
            if (backend.passive_failures.load(std::memory_order_relaxed) <
                passive.consecutive_failures) {
                continue;
            }
            if ((ejected + 1) * 100 > std::size_t{passive.max_ejected_percent} * members.size()) {
                // Too many of the pool out already: counted, and the streak starts over, so
                // that it is counted once per streak rather than once per scan.
                backend.passive_failures.store(0, std::memory_order_relaxed);
                backend.ejections_overflow.fetch_add(1, std::memory_order_relaxed);
                log_debug("backend not ejected pool={} backend={}: max_ejected_percent {} reached",
                          pool.name(), backend.name, passive.max_ejected_percent);
                continue;
            }
            eject(backend, passive, now);
            ++ejected;
            changes.emplace_back(&backend, true);
        }
        if (changes.empty()) {
            continue;
        }
        // Publish first, then log: once the line is out, every new connection already sees
        // the new live set (tests and operators act on the line).
        try {
            note_ramping(pool, pool.refresh(now, epochs_));
        } catch (const std::exception& failure) {
            log_error("pool {}: cannot publish live set: {}", pool.name(), failure.what());
        }
        for (const auto& [backend, left] : changes) {
            if (left) {
                log_warn("backend ejected pool={} backend={} failures={} for_ms={}", pool.name(),
                         backend->name, passive.consecutive_failures,
                         backend->ejected_until_ms.load(std::memory_order_relaxed) - now);
                if (pool.live_count() == 0) {
                    log_error("pool {} has no live backend: new clients are closed until one is up",
                              pool.name());
                }
            } else {
                log_info("backend returns pool={} backend={} after ejection", pool.name(),
                         backend->name);
            }
        }
    }
    return wake_at;
}

}  // namespace ringlb
