// SPDX-License-Identifier: MIT
// The config schema: every key each TOML table accepts. Private to src/loader/.
#pragma once

#include <span>
#include <string_view>

namespace ringlb::config::loader {

// The schema: every key each table accepts. The loader rejects any other key with these tables,
// and known_keys() lists them, so that a key cannot be accepted without being listed (and,
// through config_keys_documented_test, documented). A key that names another entry of
// kSchema ("pool" + "health" = "pool.health") is a sub-table, not a value. A new key goes here,
// is read in its section's file (global_section.cpp, ...), and is documented in docs/CONFIG.md
// and configs/full.toml.
inline constexpr std::string_view kRootKeys[] = {"global", "admin", "listener", "pool"};
inline constexpr std::string_view kGlobalKeys[] = {
    "workers",        "shutdown_grace_ms", "shutdown_delay_ms",
    "log_level",      "pipe_size",         "user",
    "group",          "max_connections",   "splice",
    "shard_steering", "batch_wait_us"};
inline constexpr std::string_view kAdminKeys[] = {
    "bind",          "token_file",  "read_token_file", "allow_without_token",
    "tls_cert_file", "tls_key_file"};
inline constexpr std::string_view kListenerKeys[] = {"name",
                                                     "bind",
                                                     "pool",
                                                     "accept_proxy",
                                                     "proxy_trusted",
                                                     "proxy_timeout_ms",
                                                     "allow",
                                                     "deny",
                                                     "max_connections_per_client",
                                                     "new_connections_per_client_per_s",
                                                     "new_connections_per_client_burst",
                                                     "access_log",
                                                     "access_log_interval_ms",
                                                     "route",
                                                     "tls_inspect_timeout_ms",
                                                     "upload_bytes_per_s",
                                                     "download_bytes_per_s",
                                                     "backlog",
                                                     "tcp_fastopen",
                                                     "keepalive_idle_s",
                                                     "keepalive_interval_s",
                                                     "keepalive_count",
                                                     "tcp_nodelay",
                                                     "mark"};
inline constexpr std::string_view kRouteKeys[] = {"sni", "pool"};
inline constexpr std::string_view kPoolKeys[] = {"name",
                                                 "algorithm",
                                                 "connect_timeout_ms",
                                                 "idle_timeout_ms",
                                                 "retries",
                                                 "maglev_table_size",
                                                 "slow_start_ms",
                                                 "send_proxy",
                                                 "max_connection_duration_ms",
                                                 "on_backend_down",
                                                 "queue_timeout_ms",
                                                 "resolve_interval_ms",
                                                 "health",
                                                 "passive",
                                                 "discovery",
                                                 "backend",
                                                 "source",
                                                 "keepalive_idle_s",
                                                 "keepalive_interval_s",
                                                 "keepalive_count",
                                                 "tcp_nodelay",
                                                 "mark"};
inline constexpr std::string_view kHealthKeys[] = {
    "interval_ms", "timeout_ms",        "rise",      "fall", "type",       "send",
    "expect",      "http_path",         "http_host", "port", "send_proxy", "expect_status",
    "agent_port",  "agent_interval_ms", "agent_send"};
inline constexpr std::string_view kPassiveKeys[] = {"consecutive_failures", "ejection_ms",
                                                    "max_ejected_percent"};
inline constexpr std::string_view kDiscoveryKeys[] = {"dns_srv", "resolver", "interval_ms"};
inline constexpr std::string_view kBackendKeys[] = {"address", "weight", "max_connections", "state",
                                                    "backup"};

struct SchemaTable final {
    std::string_view path;  // dotted, "" for the top level
    std::span<const std::string_view> keys;
};

inline constexpr SchemaTable kSchema[] = {
    {"", kRootKeys},
    {"global", kGlobalKeys},
    {"admin", kAdminKeys},
    {"listener", kListenerKeys},
    {"listener.route", kRouteKeys},
    {"pool", kPoolKeys},
    {"pool.health", kHealthKeys},
    {"pool.passive", kPassiveKeys},
    {"pool.discovery", kDiscoveryKeys},
    {"pool.backend", kBackendKeys},
};

}  // namespace ringlb::config::loader
