// SPDX-License-Identifier: MIT
// ShardHistogram: values land in the Prometheus `le` bucket they belong to, and readers sum
// shards' histograms while their owners record.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "ringlb/base/histogram.hpp"

using ringlb::HistogramTotals;
using ringlb::LatencyHistogram;

TEST_CASE("a value lands in the first bucket whose bound it does not exceed") {
    LatencyHistogram histogram;
    histogram.record(0);         // <= 100 µs
    histogram.record(100);       // <= 100 µs: le is inclusive
    histogram.record(101);       // <= 250 µs
    histogram.record(10000000);  // <= 10 s, the last bound
    histogram.record(10000001);  // above every bound: +Inf only
    HistogramTotals totals = LatencyHistogram::empty_totals();
    histogram.add_to(totals);
    REQUIRE(totals.counts.size() == std::size(ringlb::kLatencyBoundsUs) + 1);
    CHECK(totals.counts[0] == 2);
    CHECK(totals.counts[1] == 1);
    CHECK(totals.counts[std::size(ringlb::kLatencyBoundsUs) - 1] == 1);
    CHECK(totals.counts.back() == 1);
    CHECK(totals.count() == 5);
    CHECK(totals.sum_us == 0 + 100 + 101 + 10000000 + 10000001);
}

TEST_CASE("the bounds rise strictly, so that every value has exactly one bucket") {
    for (std::size_t i = 1; i < std::size(ringlb::kLatencyBoundsUs); ++i) {
        CHECK(ringlb::kLatencyBoundsUs[i - 1] < ringlb::kLatencyBoundsUs[i]);
    }
    for (std::size_t i = 1; i < std::size(ringlb::kDurationBoundsUs); ++i) {
        CHECK(ringlb::kDurationBoundsUs[i - 1] < ringlb::kDurationBoundsUs[i]);
    }
}

TEST_CASE("a reader sums shards' histograms while each owner records into its own") {
    // Two owners, as two shards, each with its own histogram; a reader adds them up meanwhile.
    // Under TSan this also proves the plain load + store updates are race-free for readers.
    constexpr int kRecords = 20000;
    LatencyHistogram shards[2];
    std::atomic<bool> go{false};
    auto owner = [&](LatencyHistogram& histogram, std::uint64_t value) {
        while (!go.load()) {
        }
        for (int i = 0; i < kRecords; ++i) {
            histogram.record(value);
        }
    };
    std::thread first(owner, std::ref(shards[0]), 50);
    std::thread second(owner, std::ref(shards[1]), 3000);
    go = true;
    std::uint64_t last = 0;
    for (int reads = 0; reads < 200; ++reads) {
        HistogramTotals totals = LatencyHistogram::empty_totals();
        for (const auto& shard : shards) {
            shard.add_to(totals);
        }
        CHECK(totals.count() >= last);  // counters only grow
        last = totals.count();
    }
    first.join();
    second.join();
    HistogramTotals totals = LatencyHistogram::empty_totals();
    for (const auto& shard : shards) {
        shard.add_to(totals);
    }
    CHECK(totals.count() == 2 * kRecords);
    CHECK(totals.counts[0] == kRecords);  // 50 µs <= 100 µs
    CHECK(totals.counts[5] == kRecords);  // 3 ms: <= 5 ms, the sixth bound
    CHECK(totals.sum_us == static_cast<std::uint64_t>(kRecords) * (50 + 3000));
}
