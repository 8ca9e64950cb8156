// SPDX-License-Identifier: MIT
// Host names to addresses through the system's resolver (getaddrinfo).
#pragma once

#include <string>
#include <variant>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

// The first address `host` resolves to for a TCP connect to `port`, or the resolver's reason
// why not. Blocking (it may wait for DNS): the loader and the control thread call it, never
// a shard.
[[nodiscard]] std::variant<SocketAddress, std::string> look_up_host(const std::string& host,
                                                                    unsigned port);

}  // namespace ringlb
