// SPDX-License-Identifier: MIT
// ShardHistogram: one thread's latency histogram with fixed buckets, written without locked
// instructions and summed by readers on other threads.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <vector>

namespace ringlb {

// Bucket upper bounds in microseconds, as Prometheus `le` labels (in seconds) show them; a
// last bucket above every bound (+Inf) is implicit.
// Connects and first bytes: 100 µs (loopback) to 10 s (a stalled backend).
inline constexpr std::uint64_t kLatencyBoundsUs[] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000};
// Whole connections: 1 ms (a refused request) to an hour (a long-lived stream).
inline constexpr std::uint64_t kDurationBoundsUs[] = {
    1000,     5000,     10000,    50000,     100000,    500000,     1000000,   5000000,
    10000000, 30000000, 60000000, 300000000, 600000000, 1800000000, 3600000000};

// Buckets summed over shards, counts per bucket (not cumulative), plus the sum of the
// recorded values. What a reader builds and the exposition prints.
struct HistogramTotals final {
    std::span<const std::uint64_t> bounds_us;
    std::vector<std::uint64_t> counts;  // bounds_us.size() + 1 entries, the last above every bound
    std::uint64_t sum_us = 0;

    explicit HistogramTotals(std::span<const std::uint64_t> bounds)
        : bounds_us(bounds), counts(bounds.size() + 1, 0) {}
    [[nodiscard]] std::uint64_t count() const noexcept {
        std::uint64_t total = 0;
        for (std::uint64_t each : counts) {
            total += each;
        }
        return total;
    }
};

// One shard's histogram over `Bounds`. record() belongs to one thread (the shard that owns
// it): each update is a relaxed load and store, no read-modify-write, so nothing is locked
// and no cache line is shared with another writer. Readers on any thread add it into a
// HistogramTotals; they see each counter whole, and the sum may run a record ahead of or
// behind the buckets.
template <const auto& Bounds>
class ShardHistogram final {
  public:
    static constexpr std::size_t kBuckets = std::size(Bounds) + 1;

    // The owning thread only. Values above the last bound land in the last bucket.
    void record(std::uint64_t value_us) noexcept {
        const std::size_t bucket = static_cast<std::size_t>(
            std::lower_bound(std::begin(Bounds), std::end(Bounds), value_us) - std::begin(Bounds));
        bump(counts_[bucket], 1);
        bump(sum_us_, value_us);
    }

    // Any thread. `totals` must have been made for the same Bounds.
    void add_to(HistogramTotals& totals) const noexcept {
        for (std::size_t i = 0; i < kBuckets; ++i) {
            totals.counts[i] += counts_[i].load(std::memory_order_relaxed);
        }
        totals.sum_us += sum_us_.load(std::memory_order_relaxed);
    }

    [[nodiscard]] static HistogramTotals empty_totals() { return HistogramTotals(Bounds); }

  private:
    static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t value) noexcept {
        counter.store(counter.load(std::memory_order_relaxed) + value, std::memory_order_relaxed);
    }

    std::array<std::atomic<std::uint64_t>, kBuckets> counts_{};
    std::atomic<std::uint64_t> sum_us_{0};
};

using LatencyHistogram = ShardHistogram<kLatencyBoundsUs>;
using DurationHistogram = ShardHistogram<kDurationBoundsUs>;

}  // namespace ringlb
