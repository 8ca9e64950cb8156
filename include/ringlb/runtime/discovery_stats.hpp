// SPDX-License-Identifier: MIT
// DiscoveryStats: what a pool's DNS SRV discovery has done, for the admin API and /healthz.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

namespace ringlb {

// How one discovery query ended, as the `result` label of ringlb_discovery_queries_total.
enum class DiscoveryResult : std::uint8_t {
    success,  // records: the set was built from them
    empty,    // NXDOMAIN or no SRV record (NODATA): the set was emptied
    timeout,  // no answer in time: the last good set is kept
    error,    // SERVFAIL, refused, unreachable resolver, malformed answer: the set is kept
    count_
};

[[nodiscard]] std::string_view discovery_result_name(DiscoveryResult result) noexcept;

// Written by the control thread, read by the admin API; kept across reloads while the pool
// keeps its discovery, so the counters do not restart.
struct DiscoveryStats final {
    std::atomic<std::uint64_t> queries[static_cast<std::size_t>(DiscoveryResult::count_)] = {};
    // A first answer (records or none) has been applied since the process started; until
    // then /healthz answers 503, so that a routing layer does not send clients to a host
    // whose discovered pool is still empty.
    std::atomic<bool> answered{false};
    std::atomic<std::uint8_t> last{static_cast<std::uint8_t>(DiscoveryResult::count_)};

    void count(DiscoveryResult result) noexcept {
        queries[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
        last.store(static_cast<std::uint8_t>(result), std::memory_order_relaxed);
    }
};

}  // namespace ringlb
