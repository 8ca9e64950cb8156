// SPDX-License-Identifier: MIT
// The configuration (schema version 1) as plain values: what the loader builds from TOML and
// every layer above reads. No TOML type appears here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/cidr.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/tcp_options.hpp"

namespace ringlb::config {

enum class Algorithm { round_robin, weighted_round_robin, least_connections, random_two, maglev };

[[nodiscard]] std::string_view algorithm_name(Algorithm algorithm) noexcept;

// What a backend takes: "active" everything; "drain" no new connections but keeps open ones;
// "disabled" neither new connections nor health probes.
enum class BackendState { active, drain, disabled };

[[nodiscard]] std::string_view backend_state_name(BackendState state) noexcept;

// The PROXY protocol header written to backends before any client byte.
enum class SendProxy { none, v1, v2 };

[[nodiscard]] std::string_view send_proxy_name(SendProxy version) noexcept;

// What happens to a backend's open connections when health checks mark it down: "keep" lets
// them run (they fail or finish on their own); "close" closes both sides at once so that
// clients reconnect to a live backend (HAProxy's on-marked-down shutdown-sessions).
enum class OnBackendDown { keep, close };

[[nodiscard]] std::string_view on_backend_down_name(OnBackendDown policy) noexcept;

// How the relay moves bytes: splice everything, or copy small messages through a buffer ring
// and splice only bulk (HAProxy's splice-auto).
enum class Splice { automatic, always };

[[nodiscard]] std::string_view splice_name(Splice mode) noexcept;  // "auto", "always"

// How the kernel spreads new clients over the shards' SO_REUSEPORT sockets of a listener:
// "random" and "cpu" attach a classic BPF program to the group (a random shard; the shard of
// the CPU that took the SYN); "hash" keeps the kernel's 4-tuple hash.
enum class ShardSteering { random, cpu, hash };

[[nodiscard]] std::string_view shard_steering_name(ShardSteering steering) noexcept;

// What a health probe checks: that the TCP connect succeeds; that the reply to `send` contains
// `expect`; that an HTTP GET answers a status in `expect_status`.
enum class HealthCheckType { connect, send_expect, http };

[[nodiscard]] std::string_view health_check_type_name(HealthCheckType type) noexcept;

// An inclusive range of HTTP status codes, 100..599.
struct StatusRange final {
    unsigned low = 0;
    unsigned high = 0;
    bool operator==(const StatusRange&) const = default;
};

// Parses "200", "200-299" or a comma-separated list of them ("200-299, 301"). nullopt with
// `error` set when the text is not of that form, a code is outside 100..599, or a range runs
// backwards.
[[nodiscard]] std::optional<std::vector<StatusRange>> parse_status_ranges(std::string_view text,
                                                                          std::string& error);
// Whether `status` is inside one of `ranges`.
[[nodiscard]] bool status_in(const std::vector<StatusRange>& ranges, unsigned status) noexcept;

struct GlobalConfig final {
    unsigned workers = 0;                // shard threads; 0 = one per online CPU (0..1024)
    unsigned shutdown_grace_ms = 10000;  // SIGTERM: how long open connections may finish
    unsigned shutdown_delay_ms = 0;  // SIGTERM: /healthz 503 at once, listeners close this later
    LogLevel log_level = LogLevel::info;
    unsigned pipe_size = 1048576;  // bytes asked of each splice pipe (F_SETPIPE_SZ), 4 KiB..16 MiB
    Splice splice = Splice::automatic;  // small messages copied (auto) or spliced (always)
    std::optional<std::string> user;    // switch to this user after binding (root only)
    std::optional<std::string> group;   // and this group; default: the user's primary group
    unsigned uid = 0;                   // resolved from `user` when it is set
    unsigned gid = 0;                   // resolved from `group`, else the user's group
    std::uint64_t max_connections = 0;  // client connections open at once; 0 = no limit
    ShardSteering shard_steering = ShardSteering::random;  // new listener sockets (issue 12)
    // A busy worker waits up to this long for more completions before it handles what it
    // has (fewer wake-ups on both sides of the relay); 0 = handle each at once. 0..10000.
    unsigned batch_wait_us = 50;
};

struct AdminConfig final {
    SocketAddress bind;                     // numeric address; port 0 = the kernel picks
    std::optional<std::string> token_file;  // file whose first line is the bearer token
    std::string token;                      // read from token_file at load (whitespace trimmed)
    std::optional<std::string> read_token_file;  // the same for a token that may only read
    std::string read_token;                      // (GET and HEAD)
    bool allow_without_token = false;            // a non-loopback bind without any token is allowed
    std::optional<std::string> tls_cert_file;    // PEM chain: serve TLS (with tls_key_file)
    std::optional<std::string> tls_key_file;     // PEM private key, unencrypted
    std::string tls_cert_pem;                    // both read and checked as a pair at load
    std::string tls_key_pem;

    // Whether anyone who can reach `bind` from another host may use the API unauthenticated
    // (only possible with allow_without_token = true).
    [[nodiscard]] bool open_to_network() const noexcept {
        return !bind.is_loopback() && !token_file && !read_token_file;
    }
    [[nodiscard]] bool tls() const noexcept { return tls_cert_file.has_value(); }
};

// A [[listener.route]]: TLS clients whose ClientHello names one of `sni` go to `pool`.
struct RouteConfig final {
    std::vector<std::string> sni;  // lower case; exact names, or "*.suffix" (one label or more)
    std::string pool;              // name of a [[pool]]
    std::size_t pool_index = 0;    // index of that pool in Config::pools
};

struct ListenerConfig final {
    std::string name;                 // unique; defaults to the bind text
    SocketAddress bind;               // port 0 = the kernel picks one (logged at start-up)
    std::string pool;                 // name of a [[pool]]; empty only with routes (no default)
    std::size_t pool_index = 0;       // index of that pool in Config::pools
    std::vector<RouteConfig> routes;  // by TLS server name; first match wins
    unsigned tls_inspect_timeout_ms = 3000;  // the ClientHello must arrive within this
    bool accept_proxy = false;               // expect a PROXY v1/v2 header from the peer first
    std::vector<Cidr> proxy_trusted;         // peers allowed to send one (required non-empty if on)
    unsigned proxy_timeout_ms = 3000;        // the header must arrive within this (1..60000)
    std::vector<Cidr> allow;  // empty: everyone; else only clients inside one of these
    std::vector<Cidr> deny;   // clients inside one of these are closed (deny wins over allow)
    unsigned max_connections_per_client = 0;        // per client address; 0 = no limit
    unsigned new_connections_per_client_per_s = 0;  // token bucket rate; 0 = no limit
    unsigned new_connections_per_client_burst = 0;  // bucket size; 0 = same as the rate
    std::string access_log = "off";                 // "off", "stderr" or a file path
    // Bandwidth per connection, in bytes per second; 0 = no limit (issue 12).
    std::uint64_t upload_bytes_per_s = 0;    // client -> backend
    std::uint64_t download_bytes_per_s = 0;  // backend -> client
    // Sockets (issue 12): the listen queue, TCP Fast Open, and options accepted clients
    // inherit from the listening socket.
    unsigned backlog = 4096;    // listen(2) queue; the kernel caps it at net.core.somaxconn
    unsigned tcp_fastopen = 0;  // TFO queue length (TCP_FASTOPEN); 0 = off
    TcpOptions tcp;             // keepalive_*, tcp_nodelay, mark
    // An interim access-log line for each connection every this long while it is open
    // (0 = only the final line), so that long-lived streams show before they end.
    unsigned access_log_interval_ms = 0;
};

struct HealthConfig final {
    unsigned interval_ms = 2000;  // time between probes of one backend
    unsigned timeout_ms = 1000;   // a probe (connect, send, reply) must finish within this
    unsigned rise = 2;            // consecutive successes that mark a down backend up
    unsigned fall = 3;            // consecutive failures that mark an up backend down
    HealthCheckType type = HealthCheckType::connect;
    std::string send;             // send_expect: written after the connect (may be empty: a banner)
    std::string expect;           // send_expect: the reply must contain this (non-empty)
    std::string http_path = "/";  // http: the path of the GET
    std::string http_host;        // http: the Host header; empty = the backend's address text
    std::vector<StatusRange> expect_status = {{200, 399}};  // http: statuses that pass
    unsigned port = 0;                    // the port probed; 0 = the backend's traffic port
    std::optional<SendProxy> send_proxy;  // PROXY header first; absent = the pool's send_proxy
    // Agent check (HAProxy's agent-check): a TCP connect to the backend's address on
    // agent_port, agent_send written, one line read whose words set the agent's verdict.
    unsigned agent_port = 0;         // 0 = no agent
    unsigned agent_interval_ms = 0;  // time between agent probes; 0 = interval_ms
    std::string agent_send;          // written after the agent's connect; empty = nothing

    bool operator==(const HealthConfig&) const = default;
};

// [pool.passive]: outlier detection from real traffic (Envoy's consecutive failures). Connect
// failures, connect timeouts and resets before the backend's first byte count; the backend's
// first byte resets the count.
struct PassiveConfig final {
    unsigned consecutive_failures = 0;  // failures in a row that eject a backend; 0 = off
    unsigned ejection_ms = 30000;       // the first ejection's length; doubles on each repeat
    unsigned max_ejected_percent = 50;  // at most this share of the pool's backends ejected
};

// [pool.discovery]: backends from the SRV records of a DNS name (RFC 2782).
struct DiscoveryConfig final {
    std::string dns_srv;                    // the SRV name queried, e.g. "_app._tcp.example"
    std::optional<SocketAddress> resolver;  // the DNS server; absent: /etc/resolv.conf's
    unsigned interval_ms = 5000;  // re-query period, shortened by a shorter TTL (1000..86400000)
};

struct BackendConfig final {
    SocketAddress address;         // numeric, or the first address `host` resolved to at load
    std::string address_text;      // as written in the file, for logs, metrics and the admin API
    std::string host;              // non-empty when the address is a host name (re-resolved)
    unsigned port = 0;             // the port, for re-resolving `host`
    unsigned weight = 1;           // 1..1000
    unsigned max_connections = 0;  // 0 = no limit
    BackendState state = BackendState::active;
    bool backup = false;  // takes connections only while no non-backup backend of its pool can
};

struct PoolConfig final {
    std::string name;  // unique
    Algorithm algorithm = Algorithm::round_robin;
    unsigned connect_timeout_ms = 1000;
    unsigned idle_timeout_ms = 300000;   // 0 = connections never time out for idleness
    unsigned retries = 2;                // further backends tried after a failed connect
    unsigned maglev_table_size = 65537;  // prime, 7..1000003; maglev only
    unsigned slow_start_ms = 0;          // ramp of a backend's weight after it comes up; 0 = off
    SendProxy send_proxy = SendProxy::none;
    std::uint64_t max_connection_duration_ms = 0;         // older connections are closed; 0 = off
    OnBackendDown on_backend_down = OnBackendDown::keep;  // open connections of a backend gone down
    // How long a new client may wait, first come first served, for a place when every live
    // backend is at its max_connections; 0 = it is refused at once.
    unsigned queue_timeout_ms = 0;
    unsigned resolve_interval_ms = 30000;  // re-resolution of host-name backends (1000..86400000)
    std::optional<HealthConfig> health;    // absent: every backend is always live
    PassiveConfig passive;                 // consecutive_failures 0: no passive ejection
    std::optional<DiscoveryConfig> discovery;  // absent: only the static backends
    std::vector<BackendConfig> backends;       // static ones; empty only with discovery
    // Backend sockets (issue 12): local addresses to connect from, in turn (port 0, bound with
    // IP_BIND_ADDRESS_NO_PORT); empty = the kernel's choice. And their TCP options.
    std::vector<SocketAddress> source;
    TcpOptions tcp;  // keepalive_*, tcp_nodelay, mark
};

struct Config final {
    std::string source;  // file path (or name given to load_config_string)
    GlobalConfig global;
    std::vector<ListenerConfig> listeners;  // never empty in a valid config
    std::vector<PoolConfig> pools;
    std::optional<AdminConfig> admin;  // [admin]; absent: no admin listener
};

}  // namespace ringlb::config
