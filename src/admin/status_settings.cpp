// SPDX-License-Identifier: MIT
// The settings /status shows for a listener: its routes by TLS server name, so that an
// operator sees what a reload put in force, and what they did.
#include "status_settings.hpp"

#include <iterator>

#include <fmt/format.h>

#include "ringlb/base/escape.hpp"

namespace ringlb {

std::string listener_settings_json(const ListenerRuntime& listener) {
    const config::ListenerConfig& config = listener.config;
    std::string out = ",\"routes\":[";
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
        const config::RouteConfig& route = config.routes[i];
        out += i == 0 ? "{\"sni\":[" : ",{\"sni\":[";
        for (std::size_t j = 0; j < route.sni.size(); ++j) {
            fmt::format_to(std::back_inserter(out), "{}\"{}\"", j == 0 ? "" : ",",
                           json_escape(route.sni[j]));
        }
        fmt::format_to(std::back_inserter(out), "],\"pool\":\"{}\"}}", json_escape(route.pool));
    }
    fmt::format_to(std::back_inserter(out),
                   "],\"tls_inspect_timeout_ms\":{},\"routed\":{},\"unrouted\":{},"
                   "\"tls_inspect_timeouts\":{}",
                   config.tls_inspect_timeout_ms, listener.stats->routed.load(),
                   listener.stats->unrouted.load(), listener.stats->inspect_timeouts.load());
    return out;
}

}  // namespace ringlb
