// SPDX-License-Identifier: MIT
// Loads [global]: process-wide settings. Private to src/loader/.
#pragma once

#include <toml++/toml.h>

#include "readers.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config::loader {

// Loads the [global] table of `root`, when there is one, into `global`.
void load_global(TomlReader& reader, const toml::table& root, GlobalConfig& global);

}  // namespace ringlb::config::loader
