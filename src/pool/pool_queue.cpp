// SPDX-License-Identifier: MIT
// PoolQueue: tickets, each shard's published front, and waking the shards that wait.
#include "ringlb/pool/pool_queue.hpp"

#include <unistd.h>

namespace ringlb {

PoolQueue::PoolQueue(unsigned shards)
    : shards_(shards == 0 ? 1 : shards), rows_(std::make_unique<Row[]>(shards_)) {}

// Sequentially consistent throughout: a shard that reads another's front after taking its own
// ticket sees "joining" or the ticket of any client that took one before it.
std::uint64_t PoolQueue::join(unsigned shard, bool first) noexcept {
    Row& mine = rows_[shard];
    if (first) {
        mine.front.store(kJoining);
    }
    const std::uint64_t ticket = next_ticket_.fetch_add(1);
    if (first) {
        mine.front.store(ticket);
    }
    length_.fetch_add(1);
    queued_total.fetch_add(1, std::memory_order_relaxed);
    return ticket;
}

void PoolQueue::leave(unsigned shard, std::uint64_t front) noexcept {
    rows_[shard].front.store(front);
    length_.fetch_sub(1);
}

bool PoolQueue::is_oldest(unsigned shard, std::uint64_t ticket) const noexcept {
    for (unsigned other = 0; other < shards_; ++other) {
        if (other == shard) {
            continue;
        }
        const std::uint64_t front = rows_[other].front.load();
        if (front == kJoining || front < ticket) {
            return false;
        }
    }
    return true;
}

void PoolQueue::wake_others(unsigned self, std::span<const int> wake_fds) const noexcept {
    for (unsigned shard = 0; shard < shards_ && shard < wake_fds.size(); ++shard) {
        if (shard != self && rows_[shard].front.load(std::memory_order_relaxed) != kNoWaiter) {
            std::uint64_t one = 1;
            (void)!::write(wake_fds[shard], &one, sizeof(one));
        }
    }
}

}  // namespace ringlb
