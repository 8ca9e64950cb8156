// SPDX-License-Identifier: MIT
// The validated, immutable configuration (schema version 1) and the loader that builds it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/io/socket_address.hpp"
#include "ringlb/log.hpp"

namespace ringlb::config {

enum class Algorithm { round_robin };

[[nodiscard]] std::string_view algorithm_name(Algorithm algorithm) noexcept;

struct GlobalConfig final {
    unsigned workers = 0;                // shard threads; 0 = one per online CPU (0..1024)
    unsigned shutdown_grace_ms = 10000;  // SIGTERM: how long open connections may finish
    LogLevel log_level = LogLevel::info;
    unsigned pipe_size = 1048576;  // bytes asked of each splice pipe (F_SETPIPE_SZ), 4 KiB..16 MiB
    std::optional<std::string> user;   // switch to this user after binding (root only)
    std::optional<std::string> group;  // and this group; default: the user's primary group
    unsigned uid = 0;                  // resolved from `user` when it is set
    unsigned gid = 0;                  // resolved from `group`, else the user's group
};

struct ListenerConfig final {
    std::string name;            // unique; defaults to the bind text
    SocketAddress bind;          // port 0 = the kernel picks one (logged at start-up)
    std::string pool;            // name of a [[pool]]
    std::size_t pool_index = 0;  // index of that pool in Config::pools
};

struct HealthConfig final {
    unsigned interval_ms = 2000;  // time between probes of one backend
    unsigned timeout_ms = 1000;   // a probe's TCP connect must finish within this
    unsigned rise = 2;            // consecutive successes that mark a down backend up
    unsigned fall = 3;            // consecutive failures that mark an up backend down
};

struct BackendConfig final {
    SocketAddress address;
    std::string address_text;  // as written in the file, for logs
    unsigned weight = 1;       // 1..1000
};

struct PoolConfig final {
    std::string name;  // unique
    Algorithm algorithm = Algorithm::round_robin;
    unsigned connect_timeout_ms = 1000;
    unsigned idle_timeout_ms = 300000;    // 0 = connections never time out for idleness
    unsigned retries = 2;                 // further backends tried after a failed connect
    std::optional<HealthConfig> health;   // absent: every backend is always live
    std::vector<BackendConfig> backends;  // never empty in a valid config
};

struct Config final {
    std::string source;  // file path (or name given to load_config_string)
    GlobalConfig global;
    std::vector<ListenerConfig> listeners;  // never empty in a valid config
    std::vector<PoolConfig> pools;
};

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
// The same for text already in memory; `source` names it in diagnostics.
[[nodiscard]] LoadResult load_config_string(std::string_view text,
                                            std::string_view source) noexcept;

}  // namespace ringlb::config
