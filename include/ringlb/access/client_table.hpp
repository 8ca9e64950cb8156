// SPDX-License-Identifier: MIT
// ClientTable: per-client-address connection and new-connection-rate limits shared by all shards.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// An open-addressing table keyed by the client's IP address (never its port). An IPv4-mapped
// IPv6 address (::ffff:a.b.c.d, what a dual-stack listener reports) counts as a.b.c.d.
//
// Each slot is one atomic word holding a 40-bit key tag and a 24-bit count of open
// connections, plus one atomic "theoretical arrival time" for the rate limit (GCRA). Claiming
// a free slot, counting a connection in or out, and taking over an idle slot of another
// address are each a single compare-and-swap, so any shard may call admit() and release()
// concurrently; nothing blocks, locks or allocates.
//
// Approximations, all deliberate:
// - Addresses are compared by tag only. The tag comes from a keyed SipHash-2-4 of the address
//   (a random key per table, so clients cannot aim collisions), so two distinct addresses that
//   meet in the same 16-slot window share a slot with probability about 2^-40 per pair; they
//   would then share one limit.
// - A key is looked up in a window of 16 slots from its hash. When every slot there holds
//   open connections (or an idle address still inside its rate-limit period), the client is
//   admitted anyway ("fail open") and overflows() counts it: limits protect backends from
//   single clients, and a full table must not turn into a denial of service for everyone.
// - Under table pressure two shards admitting the same new address at the same instant may
//   take two different idle slots for it; the address may then briefly exceed its limit by
//   the number of racing admissions, until the later slot drains and is taken over.
class ClientTable final {
  public:
    enum class Verdict { admitted, too_many_connections, too_fast };
    // The slot of an admission that is not counted anywhere: release() ignores it.
    static constexpr std::uint32_t kUntracked = UINT32_MAX;
    struct Admission {
        Verdict verdict;
        std::uint32_t slot;  // valid when admitted; pass it to release() when the connection ends
    };

    // capacity is rounded up to a power of two (at least 1); more than 2^24 slots throws
    // std::invalid_argument. Allocates 16 bytes per slot: call at start-up.
    explicit ClientTable(std::size_t capacity);
    ClientTable(const ClientTable&) = delete;
    ClientTable& operator=(const ClientTable&) = delete;

    // Decides on a new connection from client at monotonic time now_ns. Counts are kept per
    // (address, scope): ringlb passes the listener's scope, so each listener's limits count
    // that listener's connections only. max_connections caps
    // the connections open at once from one address (0 = no cap); rate_per_s and burst limit
    // how fast new ones may come (GCRA: `burst` at once, then one every 1/rate s; rate 0 = no
    // rate limit, burst 0 = same as the rate). A connection refused as too fast holds no count;
    // one refused for too many connections uses none of the rate budget.
    // Every admission must be matched by one release(slot). Any thread; never blocks.
    [[nodiscard]] Admission admit(const SocketAddress& client, std::uint64_t scope,
                                  std::uint64_t now_ns, unsigned max_connections,
                                  unsigned rate_per_s, unsigned burst) noexcept;
    // Counts one connection of the slot's address out. Ignores kUntracked and any slot out of
    // range. Any thread; never blocks.
    void release(std::uint32_t slot) noexcept;

    // Admissions let through because no slot could be had (fail open).
    [[nodiscard]] std::uint64_t overflows() const noexcept {
        return overflows_.load(std::memory_order_relaxed);
    }
    // Slots that currently count at least one open connection. Walks the whole table: for
    // tests and occasional statistics, not for the data path.
    [[nodiscard]] std::size_t in_use() const noexcept;
    [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

  private:
    struct Slot {
        std::atomic<std::uint64_t> state{0};  // tag << 24 | open connections; 0 = never used
        std::atomic<std::uint64_t> theoretical_arrival_ns{0};  // GCRA; 0 = no recent arrival
    };

    [[nodiscard]] bool take_rate_token(Slot& slot, std::uint64_t now_ns, unsigned rate_per_s,
                                       unsigned burst) noexcept;
    [[nodiscard]] Admission untracked_overflow() noexcept;

    std::unique_ptr<Slot[]> slots_;
    std::size_t mask_;
    std::uint64_t hash_key_[2];  // SipHash key, random per table
    std::atomic<std::uint64_t> overflows_{0};
};

}  // namespace ringlb
