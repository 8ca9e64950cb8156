// SPDX-License-Identifier: MIT
// Loads one [[pool]] with its [pool.health] and [[pool.backend]] tables. Private to src/loader/.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <utility>

#include <toml++/toml.h>

#include "readers.hpp"
#include "ringlb/config/config.hpp"
#include "ringlb/loader/loader.hpp"

namespace ringlb::config::loader {

// The pools loaded so far by name: their index in Config::pools, for the listeners that name
// them, and the place of the name, for a duplicate to point at the first.
using PoolNames = std::map<std::string, std::pair<std::size_t, Place>, std::less<>>;

// Loads the `index`th [[pool]] table into `pool` and enters its name in `pool_names`. With
// HostNames::resolve, backend host names are resolved here (blocking on the resolver).
void load_pool(TomlReader& reader, const toml::table& table, std::size_t index,
               HostNames host_names, PoolNames& pool_names, PoolConfig& pool);

}  // namespace ringlb::config::loader
