// SPDX-License-Identifier: MIT
// The /metrics families of how connections ended and how long their parts took: closed
// counts by reason and per-backend latency histograms.
#pragma once

#include <cstdint>
#include <string>

#include "ringlb/runtime/generation.hpp"

namespace ringlb {

// ringlb_connections_closed_total{listener,reason}: every reason of every listener, 0s
// included, so that a rate() has a series from the start.
void append_closed_metrics(std::string& out, const Generation& generation);

// ringlb_backend_connect_seconds, ringlb_first_byte_seconds and
// ringlb_connection_duration_seconds (Prometheus histograms) per backend, each summed over
// the shards' rows at this moment.
void append_backend_latency_metrics(std::string& out, const Generation& generation);

// A duration in microseconds as Prometheus seconds: "0.00025", "2.5", "3600", "0".
[[nodiscard]] std::string seconds_text(std::uint64_t microseconds);

}  // namespace ringlb
