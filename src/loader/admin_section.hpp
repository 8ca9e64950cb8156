// SPDX-License-Identifier: MIT
// Loads [admin]: the admin endpoint's bind, tokens and TLS pair. Private to src/loader/.
#pragma once

#include <optional>

#include <toml++/toml.h>

#include "listener_section.hpp"
#include "readers.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config::loader {

// Loads the [admin] table of `root`, when there is one, into `admin`, reading the token and
// TLS files it names. Its bind must not be one of `listener_binds`.
void load_admin(TomlReader& reader, const toml::table& root, const ListenerBinds& listener_binds,
                std::optional<AdminConfig>& admin);

}  // namespace ringlb::config::loader
