// SPDX-License-Identifier: MIT
// The admin API's routes: the stats page, /metrics, /healthz, /status and the backend actions.
#pragma once

#include "ringlb/admin/http_server.hpp"
#include "ringlb/admin/status_rates.hpp"
#include "ringlb/runtime/control.hpp"

namespace ringlb {

// The handler the admin HttpServer calls for each authorised, well-formed request. It
// reads shared counters and changes backends' atomics; it never blocks a shard. `control`
// and `admin_stats` (the admin endpoint's own counters, kept across the servers that reloads
// replace) must outlive the handler.
// `rates` keeps the samples behind /status's rates and must outlive it too.
[[nodiscard]] HttpHandler make_admin_handler(Control& control, const HttpServerStats& admin_stats,
                                             StatusRates& rates);

// The Prometheus text exposition of every counter (exposed for tests of the format).
[[nodiscard]] std::string render_metrics(const Control& control,
                                         const HttpServerStats& admin_stats);

}  // namespace ringlb
