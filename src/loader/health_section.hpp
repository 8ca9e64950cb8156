// SPDX-License-Identifier: MIT
// Loads a [pool.health] table: probe timing, rise/fall and the protocol check. Private to
// src/loader/.
#pragma once

#include <string>

#include <toml++/toml.h>

#include "readers.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config::loader {

// `owner` prefixes every message ("pool \"api\": ").
[[nodiscard]] HealthConfig load_health(TomlReader& reader, const toml::table& table,
                                       const std::string& owner);

}  // namespace ringlb::config::loader
