// SPDX-License-Identifier: MIT
// pool.queue_timeout_ms on a shard: its waiting clients, one list per pool in arrival order,
// served when theirs is the oldest ticket of every shard, and closed when their time is up.
// Member functions of Shard (loop in shard.cpp); the order across shards is PoolQueue's.
#include "ringlb/shard/shard.hpp"

namespace ringlb {

void Shard::enqueue(std::uint32_t slot) noexcept {
    Connection& connection = slab_[slot];
    PoolQueue& queue = connection.pool()->queue();
    PoolQueue::Row& row = queue.row(options_.id);
    const bool first = row.count == 0;
    Connection::QueueLink& link = connection.queue_link();
    link.next = PoolQueue::kNoSlot;
    link.ticket = queue.join(options_.id, first);
    if (first) {
        row.head = slot;
        row.next_busy = busy_queues_;
        busy_queues_ = &queue;
    } else {
        slab_[row.tail].queue_link().next = slot;
    }
    row.tail = slot;
    ++row.count;
    ++waiting_;
    if (first) {
        // Another shard may have held back while this one took its ticket ("joining").
        queue.wake_others(options_.id, context().wake_fds);
    }
}

std::uint32_t Shard::pop_waiter(PoolQueue& queue) noexcept {
    PoolQueue::Row& row = queue.row(options_.id);
    const std::uint32_t slot = row.head;
    row.head = slab_[slot].queue_link().next;
    --row.count;
    --waiting_;
    if (row.head == PoolQueue::kNoSlot) {
        row.tail = PoolQueue::kNoSlot;
        // No waiter of this pool here any more: off the shard's list of busy queues.
        PoolQueue** link = &busy_queues_;
        while (*link != &queue) {
            link = &(*link)->row(options_.id).next_busy;
        }
        *link = row.next_busy;
        row.next_busy = nullptr;
    }
    queue.leave(options_.id, row.head == PoolQueue::kNoSlot ? PoolQueue::kNoWaiter
                                                            : slab_[row.head].queue_link().ticket);
    return slot;
}

void Shard::serve_waiters() noexcept {
    if (serving_waiters_) {
        return;
    }
    serving_waiters_ = true;
    for (PoolQueue* queue = busy_queues_; queue != nullptr;) {
        PoolQueue* next = queue->row(options_.id).next_busy;
        serve_waiters(*queue);
        queue = next;
    }
    serving_waiters_ = false;
}

void Shard::serve_waiters(PoolQueue& queue) noexcept {
    const PoolQueue::Row& row = queue.row(options_.id);
    bool served = false;
    RelayContext relay = context();
    while (row.head != PoolQueue::kNoSlot) {
        const std::uint32_t slot = row.head;
        Connection& connection = slab_[slot];
        if (!queue.is_oldest(options_.id, connection.queue_link().ticket)) {
            break;  // an older client waits on another shard: its shard serves it first
        }
        const Connection::Progress progress = connection.retry_from_queue(relay);
        if (connection.queued()) {
            break;  // no place yet
        }
        pop_waiter(queue);
        served = true;
        if (progress == Connection::Progress::finished) {
            release(slot);
        }
    }
    if (served && queue.length() > 0) {
        queue.wake_others(options_.id, relay.wake_fds);  // the next oldest may be elsewhere
    }
}

void Shard::expire_waiters() noexcept {
    if (waiting_ == 0) {
        return;
    }
    const bool nested = serving_waiters_;
    serving_waiters_ = true;
    RelayContext relay = context();
    for (PoolQueue* queue = busy_queues_; queue != nullptr;) {
        PoolQueue* next = queue->row(options_.id).next_busy;
        bool expired = false;
        // Arrival order is deadline order: one pool, one queue_timeout_ms.
        while (queue->row(options_.id).head != PoolQueue::kNoSlot &&
               slab_[queue->row(options_.id).head].queue_link().deadline_ms <= now_ms_) {
            const std::uint32_t slot = pop_waiter(*queue);
            queue->timeouts_total.fetch_add(1, std::memory_order_relaxed);
            expired = true;
            if (slab_[slot].give_up_waiting(relay) == Connection::Progress::finished) {
                release(slot);
            }
        }
        if (expired && queue->length() > 0) {
            queue->wake_others(options_.id, relay.wake_fds);  // the oldest ticket moved on
        }
        queue = next;
    }
    serving_waiters_ = nested;
}

void Shard::close_waiters() noexcept {
    const bool nested = serving_waiters_;
    serving_waiters_ = true;
    RelayContext relay = context();
    while (busy_queues_ != nullptr) {
        const std::uint32_t slot = pop_waiter(*busy_queues_);
        if (slab_[slot].close(relay, Connection::Ending::graceful, Termination::shutdown) ==
            Connection::Progress::finished) {
            release(slot);
        }
    }
    serving_waiters_ = nested;
}

}  // namespace ringlb
