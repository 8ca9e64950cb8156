// SPDX-License-Identifier: MIT
// Command-line parsing with CLI11.
#include "ringlb/app/cli.hpp"

#include <CLI/CLI.hpp>

namespace ringlb {

std::variant<CliOptions, int> parse_command_line(int argc, char** argv) {
    CliOptions options;
    std::string log_level;
    CLI::App app{"ringlb: a Layer-4 TCP load balancer on io_uring.", "ringlb"};
    app.add_option("-c,--config", options.config_path,
                   "Read the configuration from this TOML file.")
        ->required()
        ->type_name("FILE");
    app.add_flag("--check", options.check,
                 "Only validate the configuration, print a summary and exit (0 valid, 2 not).");
    app.add_option("-w,--workers", options.workers,
                   "Run this many shard threads, overriding global.workers (0 = one per CPU).")
        ->check(CLI::Range(0, 1024))
        ->type_name("N");
    app.add_option("-l,--log-level", log_level,
                   "Log at this level and above, overriding global.log_level.")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}))
        ->type_name("LEVEL");
    app.set_version_flag("-V,--version", std::string("ringlb ") + RINGLB_VERSION,
                         "Print the version and exit.");
    app.set_help_flag("-h,--help", "Print this help and exit.");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int status = app.exit(error);
        return status == 0 ? 0 : 2;
    }
    if (!log_level.empty()) {
        options.log_level = parse_log_level(log_level);
    }
    return options;
}

}  // namespace ringlb
