// SPDX-License-Identifier: MIT
// Dropping root after the listeners are bound, keeping only the capability still needed.
#pragma once

#include "ringlb/config/config.hpp"

namespace ringlb {

// Switches the process to global.user / global.group when they are set, keeping only
// CAP_SYS_RESOURCE when the process has it (so that 1 MiB splice pipes stay within reach past the
// per-user pipe page quota), and CAP_NET_ADMIN when `keep_net_admin` (a `mark` is set: every
// new backend socket, and listeners a reload binds, need it for SO_MARK). Without them, warns when
// running as root. Call from the main thread after binding and before any other thread starts.
// Throws std::system_error on failure.
void drop_privileges(const config::GlobalConfig& global, bool keep_net_admin = false);

}  // namespace ringlb
