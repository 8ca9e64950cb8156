// SPDX-License-Identifier: MIT
// The config loader's interface: a TOML file or text in, a validated Config or every problem
// with its place out.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/config/config.hpp"

namespace ringlb::config {

// One problem found in a config, with its place: prints as "FILE:LINE:COL: message".
struct Diagnostic final {
    std::string source;
    unsigned line = 0;    // 1-based; 0 when the problem has no place (e.g. unreadable file)
    unsigned column = 0;  // 1-based
    std::string message;

    [[nodiscard]] std::string to_string() const;
};

struct LoadResult final {
    std::optional<Config> config;    // set only when errors is empty
    std::vector<Diagnostic> errors;  // every problem of the file, in file order
};

// Reads and validates a config file. Never throws and never crashes, whatever the bytes.
[[nodiscard]] LoadResult load_config_file(const std::string& path) noexcept;
// Whether backend host names are resolved while loading. Tests and the fuzzer skip it (the
// address then stays unspecified); ringlb always resolves.
enum class HostNames { resolve, keep_unresolved };

// The same for text already in memory; `source` names it in diagnostics.

[[nodiscard]] LoadResult load_config_string(std::string_view text, std::string_view source,
                                            HostNames host_names = HostNames::resolve) noexcept;

// Every key the loader accepts, dotted from the top ("global.workers", "pool.health.rise",
// "pool.backend.address"); tables themselves ("pool.health") are not listed. Built from the
// tables the loader rejects unknown keys with, so it cannot miss one.
[[nodiscard]] std::vector<std::string> known_keys();

}  // namespace ringlb::config
