// SPDX-License-Identifier: MIT
// ShardStats: one shard's own counters (the rest live on listeners and backends); only that
// shard writes them, anyone may sum them.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringlb {

// Relaxed atomics written by their shard alone (a plain load + store, no locked
// instruction), so that a metrics reader on another thread may sum them at any time.
struct alignas(64) ShardStats final {
    std::atomic<std::uint64_t> idle_timeouts{0};  // connections closed for idleness
    // Connections closed because they reached pool.max_connection_duration_ms.
    std::atomic<std::uint64_t> max_duration_closes{0};
    std::atomic<std::uint64_t> errors{0};  // connections ended by an I/O error
    // Requests that found the ring's submission queue full and unflushable (Ring::next_sqe
    // returned null): each ended its connection, or was retried at the next tick.
    std::atomic<std::uint64_t> ring_full{0};
    // The relay's copy mode (global.splice = "auto"): buffers sent with IORING_OP_SEND, and
    // directions that went back to splice (a full buffer, a slow destination, no free buffer).
    std::atomic<std::uint64_t> copy_sends{0};
    std::atomic<std::uint64_t> copy_to_splice{0};
    // How the shards share the clients (global.shard_steering, hand-offs): clients this shard
    // started serving (its own and those handed to it), those open now, clients it handed to
    // another shard because its slots were full, and hand-offs that failed (the client was
    // closed: the message could not be sent, or the other shard was full or reloading).
    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> open{0};
    std::atomic<std::uint64_t> handed_off{0};
    std::atomic<std::uint64_t> handoff_failures{0};
    // The event loop (global.batch_wait_us): passes (one io_uring_enter each), completions
    // handled, and passes that waited with a minimum time for a batch.
    std::atomic<std::uint64_t> loop_passes{0};
    std::atomic<std::uint64_t> completions{0};
    std::atomic<std::uint64_t> batched_waits{0};

    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
    }
    static void sub(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) - value, std::memory_order_relaxed);
    }
};

}  // namespace ringlb
