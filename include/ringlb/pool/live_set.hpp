// SPDX-License-Identifier: MIT
// LiveSet: the immutable list of a pool's backends that may take new connections.
#pragma once

#include <cstdint>
#include <vector>

#include "ringlb/pool/epoch.hpp"

namespace ringlb {

struct LiveSet final : Retirable {
    std::vector<std::uint32_t> backends;  // indices into BackendPool::backends(), ascending
};

}  // namespace ringlb
