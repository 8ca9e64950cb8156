// SPDX-License-Identifier: MIT
// The settings /status shows for a listener: its routes by TLS server name, so that an
// operator sees what a reload put in force, and what they did.
#include "status_settings.hpp"

#include <iterator>

#include <fmt/format.h>

#include "ringlb/base/escape.hpp"

namespace ringlb {

namespace {
// `"tcp":{...}`: the TCP options of one side's sockets (0 = the kernel's default).
std::string tcp_json(const TcpOptions& tcp) {
    return fmt::format(
        "\"tcp\":{{\"keepalive\":{},\"keepalive_idle_s\":{},\"keepalive_interval_s\":{},"
        "\"keepalive_count\":{},\"tcp_nodelay\":{},\"mark\":{}}}",
        tcp.keepalive() ? "true" : "false", tcp.keepalive_idle_s, tcp.keepalive_interval_s,
        tcp.keepalive_count, tcp.nodelay ? "true" : "false", tcp.mark);
}
}  // namespace

std::string listener_settings_json(const ListenerRuntime& listener) {
    const config::ListenerConfig& config = listener.config;
    std::string out = ",\"routes\":[";
    for (std::size_t i = 0; i < config.routes.size(); ++i) {
        const config::RouteConfig& route = config.routes[i];
        out += i == 0 ? "{\"sni\":[" : ",{\"sni\":[";
        for (std::size_t j = 0; j < route.sni.size(); ++j) {
            fmt::format_to(std::back_inserter(out), "{}\"{}\"", j == 0 ? "" : ",",
                           json_escape(route.sni[j]));
        }
        fmt::format_to(std::back_inserter(out), "],\"pool\":\"{}\"}}", json_escape(route.pool));
    }
    fmt::format_to(
        std::back_inserter(out),
        "],\"tls_inspect_timeout_ms\":{},\"routed\":{},\"unrouted\":{},"
        "\"tls_inspect_timeouts\":{},\"upload_bytes_per_s\":{},\"download_bytes_per_s\":{}",
        config.tls_inspect_timeout_ms, listener.stats->routed.load(),
        listener.stats->unrouted.load(), listener.stats->inspect_timeouts.load(),
        config.upload_bytes_per_s, config.download_bytes_per_s);
    fmt::format_to(std::back_inserter(out), ",\"backlog\":{},\"tcp_fastopen\":{},{}",
                   config.backlog, config.tcp_fastopen, tcp_json(config.tcp));
    return out;
}

std::string pool_socket_settings_json(const config::PoolConfig& pool) {
    std::string out = "\"source\":[";
    for (std::size_t i = 0; i < pool.source.size(); ++i) {
        // "192.0.2.1:0" or "[2001:db8::1]:0" without the port and brackets.
        std::string text = pool.source[i].to_string();
        text.erase(text.rfind(':'));
        if (text.front() == '[') {
            text = text.substr(1, text.size() - 2);
        }
        fmt::format_to(std::back_inserter(out), "{}\"{}\"", i == 0 ? "" : ",", text);
    }
    return out + "]," + tcp_json(pool.tcp) + ",";
}

}  // namespace ringlb
