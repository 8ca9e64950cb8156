// SPDX-License-Identifier: MIT
// ShardStats: one shard's counters; only that shard writes them, anyone may sum them.
#pragma once

#include <atomic>
#include <cstdint>

namespace ringlb {

// Relaxed atomics written by their shard alone (a plain load + store, no locked
// instruction), so that a metrics reader on another thread may sum them at any time.
struct alignas(64) ShardStats final {
    std::atomic<std::uint64_t> accepted{0};             // client connections accepted
    std::atomic<std::uint64_t> rejected_no_fd{0};       // closed: the process ran out of fds
    std::atomic<std::uint64_t> rejected_no_slot{0};     // closed: the shard's slab was full
    std::atomic<std::uint64_t> rejected_no_backend{0};  // closed: no live backend / retries used up
    std::atomic<std::uint64_t> connect_failures{0};     // backend connects refused or timed out
    std::atomic<std::uint64_t> idle_timeouts{0};        // connections closed for idleness
    std::atomic<std::uint64_t> errors{0};               // connections ended by an I/O error
    std::atomic<std::uint64_t> bytes_in{0};             // client -> backend
    std::atomic<std::uint64_t> bytes_out{0};            // backend -> client
    std::atomic<std::uint64_t> active{0};               // connections holding a slot now

    static void add(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
    }
    static void sub(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) - value, std::memory_order_relaxed);
    }
};

}  // namespace ringlb
