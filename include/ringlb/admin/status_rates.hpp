// SPDX-License-Identifier: MIT
// StatusRates: new connections/s and bytes/s for /status, from the shared counters sampled by
// the admin thread (nothing is written on a shard's data path for them).
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ringlb/runtime/generation.hpp"

namespace ringlb {

class StatusRates final {
  public:
    // A sample is taken when /status is read and the newest is at least this old; samples
    // older than kWindowMs are dropped, except the newest of them, so a rate spans the last
    // 5 to 6 s while someone polls (the page: every 2 s) and, between rare readers, the time
    // since the previous read.
    static constexpr std::uint64_t kSpacingMs = 1000;
    static constexpr std::uint64_t kWindowMs = 5000;

    struct Rate final {
        double connections = 0;  // new connections per second (a listener: accepted)
        double bytes_in = 0;     // client -> backend, per second (backends and pools)
        double bytes_out = 0;    // backend -> client, per second
    };

    // Samples `generation`'s counters at `now_ms` when the newest sample is kSpacingMs old.
    // Admin thread only (one server at a time uses it; reloads keep it, and its history).
    void sample(const Generation& generation, std::uint64_t now_ms);
    // Milliseconds between the oldest and the newest sample: 0 until there are two, and then
    // every rate is 0.
    [[nodiscard]] std::uint64_t window_ms() const noexcept;
    // The rates over window_ms(); 0 for what the oldest sample does not have (new backends).
    [[nodiscard]] Rate backend(std::string_view pool, std::string_view backend) const;
    [[nodiscard]] Rate listener(std::string_view listener) const;

  private:
    struct Totals final {
        std::uint64_t connections = 0;
        std::uint64_t bytes_in = 0;
        std::uint64_t bytes_out = 0;
    };
    struct Sample final {
        std::uint64_t at_ms = 0;
        std::unordered_map<std::string, Totals> totals;  // by key()
    };
    [[nodiscard]] Rate rate(const std::string& key) const;

    std::deque<Sample> samples_;  // oldest first
};

}  // namespace ringlb
