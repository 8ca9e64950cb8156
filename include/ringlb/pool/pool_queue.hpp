// SPDX-License-Identifier: MIT
// PoolQueue: the clients of a pool waiting for a place (pool.queue_timeout_ms), first come
// first served across every shard without a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

namespace ringlb {

// When every live backend of a pool is at its max_connections, a new client waits instead of
// being refused. Each shard keeps its own waiters in arrival order (a list through its
// connection slots, rooted in its Row here) and publishes the ticket of its oldest; whichever
// shard holds the oldest ticket of all serves first when a place frees. A client that joins a
// shard with no waiters marks the shard "joining" before it takes its ticket, so that no
// other shard can overtake it in the moment between the two.
//
// Written by shards only (their own Row, the ticket counter, the counts); read by any thread.
class PoolQueue final {
  public:
    static constexpr std::uint64_t kNoWaiter = UINT64_MAX;  // a Row's front: it has none
    static constexpr std::uint64_t kJoining = 0;            // ... a ticket is being taken
    static constexpr std::uint32_t kNoSlot = UINT32_MAX;

    // One shard's waiters. `front` is read by every shard; the rest belongs to the shard.
    struct alignas(64) Row final {
        std::atomic<std::uint64_t> front{kNoWaiter};  // the ticket of its oldest waiter
        std::uint32_t head = kNoSlot;                 // oldest waiter's connection slot
        std::uint32_t tail = kNoSlot;                 // newest waiter's connection slot
        std::uint32_t count = 0;
        PoolQueue* next_busy = nullptr;  // the shard's next queue with waiters of its own
    };

    explicit PoolQueue(unsigned shards);
    PoolQueue(const PoolQueue&) = delete;
    PoolQueue& operator=(const PoolQueue&) = delete;

    [[nodiscard]] Row& row(unsigned shard) noexcept { return rows_[shard]; }
    [[nodiscard]] unsigned shards() const noexcept { return shards_; }

    // Shard `shard`: the ticket of a client that joins the back of its waiters; `first`: the
    // shard had none, and the ticket becomes its front.
    std::uint64_t join(unsigned shard, bool first) noexcept;
    // Shard `shard`: one of its waiters left (served, timed out or closed); `front` is the
    // ticket of its oldest waiter now (kNoWaiter: none).
    void leave(unsigned shard, std::uint64_t front) noexcept;
    // Shard `shard`: whether `ticket`, its front, is the oldest ticket of every shard (false
    // while another shard is taking a ticket that may be older).
    [[nodiscard]] bool is_oldest(unsigned shard, std::uint64_t ticket) const noexcept;
    // Any shard: a place may have freed or the order changed; wakes every other shard that
    // has waiters through its eventfd (`wake_fds`, by shard id).
    void wake_others(unsigned self, std::span<const int> wake_fds) const noexcept;

    // Clients waiting now (the ringlb_pool_queue_length gauge); any thread.
    [[nodiscard]] std::uint32_t length() const noexcept {
        return length_.load(std::memory_order_seq_cst);
    }

    // Counters for /metrics and /status.
    std::atomic<std::uint64_t> queued_total{0};    // clients that waited
    std::atomic<std::uint64_t> timeouts_total{0};  // ... and were closed after queue_timeout_ms

  private:
    const unsigned shards_;
    std::unique_ptr<Row[]> rows_;
    alignas(64) std::atomic<std::uint64_t> next_ticket_{1};
    std::atomic<std::uint32_t> length_{0};
};

}  // namespace ringlb
