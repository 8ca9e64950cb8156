// SPDX-License-Identifier: MIT
// BackendShardStats: what one shard measured of one backend (latency histograms), written by
// that shard alone and summed by readers.
#pragma once

#include "ringlb/base/histogram.hpp"

namespace ringlb {

// One row per shard per backend, made with the Backend (never per connection) and on its own
// cache lines, so that no two shards ever write one line. Only the shard whose row it is
// writes it (relaxed load + store); the admin thread sums the rows when it is asked.
struct alignas(64) BackendShardStats final {
    LatencyHistogram connect;     // connect submitted -> connected (successful connects only)
    LatencyHistogram first_byte;  // the client's first byte delivered -> the backend's first
                                  // byte read (only when the client spoke first)
    DurationHistogram duration;   // accept -> close of the connections relayed to this backend
};

}  // namespace ringlb
