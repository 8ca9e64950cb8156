// SPDX-License-Identifier: MIT
// global.max_connections across shards: the process-wide places, the client a shard parks
// while none is free, and waking the shards that wait. Member functions of Shard (whose loop
// is in shard.cpp) and of AcceptWaiters.
#include "ringlb/shard/shard.hpp"

#include <unistd.h>

namespace ringlb {

// Every open connection holds a place in the process-wide count, taken when its accept
// completes. Under global.max_connections a shard that finds no place left keeps that one
// client "parked" (accepted but not served) and stops accepting on that listener: later
// clients wait in the kernel's backlog, as with a full accept queue. Whichever shard frees a
// place wakes the waiting ones (AcceptWaiters), and each retries on its 100 ms tick as well.
bool Shard::take_place() noexcept {
    const std::uint64_t limit = services_.max_connections->load(std::memory_order_relaxed);
    std::uint64_t open = services_.open_connections->load(std::memory_order_relaxed);
    do {
        if (limit != 0 && open >= limit) {
            return false;
        }
    } while (!services_.open_connections->compare_exchange_weak(open, open + 1,
                                                                std::memory_order_relaxed));
    return true;
}

void Shard::return_place() noexcept {
    services_.open_connections->fetch_sub(1, std::memory_order_relaxed);
    if (services_.waiters->waiting.load(std::memory_order_relaxed) != 0) {
        services_.waiters->wake(options_.id);
    }
}

void AcceptWaiters::wake(unsigned self) noexcept {
    const std::uint64_t mask = waiting.load(std::memory_order_relaxed);
    for (unsigned shard = 0; shard < wake_fds.size() && shard < 64; ++shard) {
        if (shard != self && (mask & (1ull << shard)) != 0) {
            std::uint64_t one = 1;
            (void)!::write(wake_fds[shard], &one, sizeof(one));
        }
    }
}

void Shard::park(std::uint32_t listener, UniqueFd client) noexcept {
    ListenerSlot& slot = listeners_[listener];
    slot.parked = std::move(client);
    ++parked_;
    if (options_.id < 64) {
        services_.waiters->waiting.fetch_or(1ull << options_.id, std::memory_order_relaxed);
    }
    // A place may have freed up between the failed take and the flag: look once more.
    resume_paused();
}

void Shard::resume_paused() noexcept {
    for (std::uint32_t i = 0; i < listeners_.size() && parked_ > 0; ++i) {
        ListenerSlot& slot = listeners_[i];
        if (!slot.parked || !take_place()) {
            continue;
        }
        --parked_;
        serve(i, std::move(slot.parked));
        if (!stopping_ && !slot.removing) {
            arm_accept(i);
        }
    }
    if (parked_ == 0 && options_.id < 64 &&
        (services_.waiters->waiting.load(std::memory_order_relaxed) & (1ull << options_.id)) != 0) {
        services_.waiters->waiting.fetch_and(~(1ull << options_.id), std::memory_order_relaxed);
    }
}

}  // namespace ringlb
