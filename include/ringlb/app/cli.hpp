// SPDX-License-Identifier: MIT
// The command line: what the user asked ringlb to do.
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "ringlb/base/log.hpp"

namespace ringlb {

struct CliOptions final {
    std::string config_path;            // --config FILE (required)
    bool check = false;                 // --check: validate, print a summary, exit
    std::optional<unsigned> workers;    // --workers N overrides global.workers
    std::optional<LogLevel> log_level;  // --log-level L overrides global.log_level
};

// Parses argv. Returns the options, or the exit status to leave with at once: 0 after
// --help or --version (already printed), 2 after a usage error (already reported).
[[nodiscard]] std::variant<CliOptions, int> parse_command_line(int argc, char** argv);

}  // namespace ringlb
