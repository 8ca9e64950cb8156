// SPDX-License-Identifier: MIT
// Loads a listener's [[listener.route]] tables. Private to src/loader/.
#pragma once

#include <toml++/toml.h>

#include "pool_section.hpp"
#include "readers.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config::loader {

// Reads the [[listener.route]] tables of `table` (a [[listener]]) into listener.routes; each
// route's pool must be one of `pool_names`.
void load_routes(TomlReader& reader, const toml::table& table, const Scope& scope,
                 const PoolNames& pool_names, ListenerConfig& listener);

}  // namespace ringlb::config::loader
