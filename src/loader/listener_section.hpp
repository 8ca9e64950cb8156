// SPDX-License-Identifier: MIT
// Loads one [[listener]]. Private to src/loader/.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "pool_section.hpp"
#include "readers.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config::loader {

// The bind addresses (port 0 left out) taken by the listeners loaded so far, each with the
// name of the listener that took it.
using ListenerBinds = std::vector<std::pair<SocketAddress, std::string>>;

// What the listeners loaded so far have claimed, for the next one to be checked against.
struct ListenersSeen final {
    std::map<std::string, Place, std::less<>> names;  // name -> place of the first
    ListenerBinds binds;
};

// Loads the `index`th [[listener]] table into `listener`: its pool must be one of
// `pool_names`, and its name and bind must not be one of `seen`, which it joins.
void load_listener(TomlReader& reader, const toml::table& table, std::size_t index,
                   const PoolNames& pool_names, ListenersSeen& seen, ListenerConfig& listener);

}  // namespace ringlb::config::loader
