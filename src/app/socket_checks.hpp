// SPDX-License-Identifier: MIT
// Checks, before a configuration is put in force, that the kernel lets this process set what
// its sockets ask for: marks (CAP_NET_ADMIN) and source addresses. Private to src/app/.
#pragma once

#include "ringlb/config/config.hpp"

namespace ringlb {

// Whether a listener or a pool sets `mark` (SO_MARK needs CAP_NET_ADMIN).
[[nodiscard]] bool uses_marks(const config::Config& config);

// Tries each mark on a scratch socket and binds one to each pool source address (port 0,
// IP_BIND_ADDRESS_NO_PORT), so that a capability or an address this process lacks is a clear
// start-up or reload error instead of a failure on every connection. Main thread; throws
// std::runtime_error naming the listener or pool, the value and the cure.
void check_socket_settings(const config::Config& config);

}  // namespace ringlb
