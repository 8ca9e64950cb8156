// SPDX-License-Identifier: MIT
// The settings /status shows for a listener beyond its name and pool: its routes by TLS server
// name and what they did. Private to src/admin/.
#pragma once

#include <string>

#include "ringlb/runtime/generation.hpp"

namespace ringlb {

// `,"key":value,...` (a leading comma, no braces) for the listener's object in /status: its
// routes, tls_inspect_timeout_ms and the routing counters.
[[nodiscard]] std::string listener_settings_json(const ListenerRuntime& listener);

// `"key":value,...,` (a trailing comma) for a pool's object in /status: its source addresses
// and the TCP options of its backend sockets.
[[nodiscard]] std::string pool_socket_settings_json(const config::PoolConfig& pool);

}  // namespace ringlb
