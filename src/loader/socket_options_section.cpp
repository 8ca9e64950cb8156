// SPDX-License-Identifier: MIT
// Loads the socket keys of listeners and pools: TCP options, listen queue, source addresses.
#include "socket_options_section.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "ringlb/base/escape.hpp"

namespace ringlb::config::loader {

namespace {
// The kernel's own limits (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT); 0 = unset.
constexpr Range kKeepaliveSeconds{0, 32767};
constexpr Range kKeepaliveCount{0, 127};
constexpr Range kMark{0, 4294967295};
constexpr Range kBacklog{1, 65535};
constexpr Range kFastOpenQueue{0, 65535};
constexpr std::size_t kMaxSources = 64;
}  // namespace

void load_tcp_options(TomlReader& reader, const toml::table& table, const Scope& scope,
                      TcpOptions& out) {
    reader.read_unsigned(table, "keepalive_idle_s", kKeepaliveSeconds, scope, out.keepalive_idle_s);
    reader.read_unsigned(table, "keepalive_interval_s", kKeepaliveSeconds, scope,
                         out.keepalive_interval_s);
    reader.read_unsigned(table, "keepalive_count", kKeepaliveCount, scope, out.keepalive_count);
    reader.read_bool(table, "tcp_nodelay", scope, out.nodelay);
    reader.read_unsigned(table, "mark", kMark, scope, out.mark);
}

void load_listen_queue(TomlReader& reader, const toml::table& table, const Scope& scope,
                       ListenerConfig& listener) {
    reader.read_unsigned(table, "backlog", kBacklog, scope, listener.backlog);
    reader.read_unsigned(table, "tcp_fastopen", kFastOpenQueue, scope, listener.tcp_fastopen);
}

void load_sources(TomlReader& reader, const toml::table& table, const Scope& scope,
                  const std::vector<const toml::table*>& backend_tables, PoolConfig& pool) {
    const toml::node* node = table.get("source");
    if (node == nullptr) {
        return;
    }
    const auto* array = node->as_array();
    if (array == nullptr) {
        reader.report_type(*node, "source", "an array of IP addresses (strings)", scope);
        return;
    }
    if (array->empty() || array->size() > kMaxSources) {
        reader.add_error(place_of(*node),
                         fmt::format("{}source must list between 1 and {} addresses; remove it "
                                     "to let the kernel choose",
                                     scope.owner, kMaxSources));
        return;
    }
    for (const toml::node& element : *array) {
        const auto* text = element.as_string();
        std::optional<SocketAddress> address;
        if (text != nullptr) {
            const std::string& ip = text->get();
            address =
                SocketAddress::parse(ip.find(':') != std::string::npos ? fmt::format("[{}]:0", ip)
                                                                       : fmt::format("{}:0", ip));
        }
        if (!address) {
            reader.add_error(
                place_of(element),
                fmt::format("{}source entry {} is not a numeric IP address without a port, "
                            "e.g. \"192.0.2.10\" or \"2001:db8::10\"",
                            scope.owner,
                            text == nullptr ? std::string(type_name(element))
                                            : fmt::format("\"{}\"", json_escape(text->get()))));
            continue;
        }
        if (std::find(pool.source.begin(), pool.source.end(), *address) != pool.source.end()) {
            reader.add_error(place_of(element), fmt::format("{}duplicate source address \"{}\"",
                                                            scope.owner, text->get()));
            continue;
        }
        pool.source.push_back(*address);
    }
    if (pool.source.empty()) {
        return;  // every entry was reported
    }
    // Host names not resolved here (--check in tests, fuzzing) and discovered backends are
    // checked at connect: an attempt without a source of its family fails (counted).
    for (std::size_t i = 0; i < pool.backends.size() && i < backend_tables.size(); ++i) {
        const BackendConfig& backend = pool.backends[i];
        const toml::node* address = backend_tables[i]->get("address");
        if (address == nullptr || backend.address.port() == 0) {
            continue;  // no usable address: reported already, or not resolved
        }
        const bool served =
            std::any_of(pool.source.begin(), pool.source.end(), [&](const SocketAddress& source) {
                return source.family() == backend.address.family();
            });
        if (!served) {
            reader.add_error(place_of(*address),
                             fmt::format("{}backend \"{}\" is {} but source has no {} address: "
                                         "it could not be connected to",
                                         scope.owner, backend.address_text,
                                         backend.address.family() == AF_INET6 ? "IPv6" : "IPv4",
                                         backend.address.family() == AF_INET6 ? "IPv6" : "IPv4"));
        }
    }
}

}  // namespace ringlb::config::loader
