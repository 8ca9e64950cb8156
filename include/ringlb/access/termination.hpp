// SPDX-License-Identifier: MIT
// Termination: why a client connection ended, the one list the access log and the metric share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ringlb {

// Why a connection that a shard took into a slot ended: the `end=` field of its access-log
// line and the `reason` label of ringlb_connections_closed_total. Exactly one per connection,
// decided by whichever event ended it first.
enum class Termination : std::uint8_t {
    client_closed,   // relayed; the client's FIN came first, the backend's followed
    backend_closed,  // relayed; the backend's FIN came first, the client's followed
    client_reset,    // the client reset, or its socket failed (it had gone)
    backend_reset,   // the backend reset, or its socket failed while relaying
    idle_timeout,    // no byte moved either way for pool.idle_timeout_ms
    max_duration,    // open for pool.max_connection_duration_ms: closed so the client rebalances
    backend_down,    // its backend was marked down and the pool says on_backend_down = "close"
    connect_failed,  // every connect attempt failed (refused, timed out, unreachable)
    no_backend,      // no live backend with room when the connection came
    queue_timeout,   // waited pool.queue_timeout_ms for a place on a full pool and got none
    no_route,        // no [[listener.route]] took the client and the listener has no pool
    denied,          // refused by a rule: listener.allow / listener.deny
    client_limit,    // refused by a limit: listener.max_connections_per_client
    rate_limited,    // refused by a limit: listener.new_connections_per_client_per_s
    proxy_protocol,  // accept_proxy: untrusted peer, malformed, late or unreadable header
    shutdown,        // still open when the stop's shutdown_grace_ms ran out
    ring_full,       // a request found the shard's submission queue full: the relay could not go on
    internal_error,  // no socket or pipe to be had, or the PROXY header could not be sent
    count_
};

inline constexpr std::size_t kTerminationCount = static_cast<std::size_t>(Termination::count_);

// The name as logged and labelled ("client_closed"); "?" for count_.
[[nodiscard]] std::string_view termination_name(Termination reason) noexcept;

}  // namespace ringlb
