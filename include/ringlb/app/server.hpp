// SPDX-License-Identifier: MIT
// Server: the main thread's job — bind, start shards and health, wait for signals, stop.
#pragma once

#include "ringlb/app/cli.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb {

// Runs the load balancer for a validated config until SIGTERM or SIGINT; SIGHUP reloads
// options.config_path (with the command line's overrides), SIGUSR1 reopens access logs.
// Returns the exit status: 0 after a clean stop, 1 when start-up failed (the reason is
// logged). Call from the main thread before any other thread exists: it sets the process's
// signal mask.
[[nodiscard]] int run_server(const config::Config& config, const CliOptions& options);

}  // namespace ringlb
