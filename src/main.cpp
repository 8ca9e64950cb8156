// SPDX-License-Identifier: MIT
// Entry point: command line, configuration, then --check or the server.
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ringlb/app/cli.hpp"
#include "ringlb/app/server.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/loader/loader.hpp"

namespace {

constexpr int kExitConfigError = 2;

void print_check_summary(const ringlb::config::Config& config) {
    std::size_t backends = 0;
    for (const auto& pool : config.pools) {
        backends += pool.backends.size();
    }
    fmt::print(
        "{}: configuration is valid: {} listener(s), {} pool(s), {} backend(s), workers={}\n",
        config.source, config.listeners.size(), config.pools.size(), backends,
        config.global.workers);
    for (const auto& listener : config.listeners) {
        fmt::print(
            "  listener {} on {} -> pool {}\n", listener.name, listener.bind.to_string(),
            listener.pool.empty() ? "(none: clients no route takes are closed)" : listener.pool);
        for (const auto& route : listener.routes) {
            fmt::print("    route sni {} -> pool {}\n", fmt::join(route.sni, ","), route.pool);
        }
    }
    for (const auto& pool : config.pools) {
        fmt::print("  pool {}: {}, {} backend(s), health {}\n", pool.name,
                   ringlb::config::algorithm_name(pool.algorithm), pool.backends.size(),
                   pool.health ? "on" : "off");
    }
}

}  // namespace

int main(int argc, char** argv) {
    auto parsed = ringlb::parse_command_line(argc, argv);
    if (const int* status = std::get_if<int>(&parsed)) {
        return *status;
    }
    const auto& options = std::get<ringlb::CliOptions>(parsed);

    ringlb::config::LoadResult loaded = ringlb::config::load_config_file(options.config_path);
    if (!loaded.errors.empty() || !loaded.config) {
        for (const auto& error : loaded.errors) {
            fmt::print(stderr, "{}\n", error.to_string());
        }
        fmt::print(stderr, "{}: {} error(s); not started\n", options.config_path,
                   loaded.errors.size());
        return kExitConfigError;
    }
    ringlb::config::Config& config = *loaded.config;
    if (options.workers) {
        config.global.workers = *options.workers;
    }
    if (options.log_level) {
        config.global.log_level = *options.log_level;
    }
    if (options.check) {
        print_check_summary(config);
        return 0;
    }
    ringlb::set_log_level(config.global.log_level);
    return ringlb::run_server(config, options);
}
