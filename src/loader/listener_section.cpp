// SPDX-License-Identifier: MIT
// Loads one [[listener]]: its name, bind and pool, and which clients it serves and how fast.
#include "listener_section.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "ringlb/base/escape.hpp"
#include "route_section.hpp"
#include "schema.hpp"
#include "socket_options_section.hpp"

namespace ringlb::config::loader {

namespace {

constexpr Range kProxyTimeoutMs{1, 60000};
constexpr Range kPerClient{0, 1000000};
constexpr Range kInspectTimeoutMs{1, 60000};
constexpr Range kBytesPerS{0, 1LL << 40};  // 0 = no limit; up to 1 TiB/s
constexpr Range kAccessLogIntervalMs{0, 86400000};
// Interim lines more often than this would be a second access log of their own.
constexpr unsigned kMinAccessLogIntervalMs = 100;

// The keys of a listener that decide which clients it serves and how fast.
void load_listener_traffic(TomlReader& reader, const toml::table& table, const Scope& scope,
                           ListenerConfig& listener) {
    const toml::node* accept_proxy =
        reader.read_bool(table, "accept_proxy", scope, listener.accept_proxy);
    const toml::array* trusted =
        reader.read_cidrs(table, "proxy_trusted", scope, listener.proxy_trusted);
    // A PROXY header rewrites who the client is: only named peers may send one, and a
    // trusted list without accept_proxy suggests the operator believes it is on.
    if (listener.accept_proxy && trusted == nullptr && table.get("proxy_trusted") == nullptr) {
        reader.add_error(place_of(*accept_proxy),
                         fmt::format("{}accept_proxy = true requires proxy_trusted, the address "
                                     "blocks of the peers allowed to send a PROXY header",
                                     scope.owner));
    } else if (listener.accept_proxy && trusted != nullptr && trusted->empty()) {
        reader.add_error(
            place_of(*trusted),
            fmt::format("{}proxy_trusted must not be empty when accept_proxy = true", scope.owner));
    } else if (!listener.accept_proxy && trusted != nullptr &&
               (accept_proxy != nullptr || table.get("accept_proxy") == nullptr)) {
        reader.add_error(
            place_of(*trusted),
            fmt::format("{}proxy_trusted has no effect unless accept_proxy = true", scope.owner));
    }
    reader.read_unsigned(table, "proxy_timeout_ms", kProxyTimeoutMs, scope,
                         listener.proxy_timeout_ms);

    if (const toml::array* allow = reader.read_cidrs(table, "allow", scope, listener.allow);
        allow != nullptr && allow->empty()) {
        // An empty list would have to mean "everyone" (the absent key) or "no one" (an
        // unusable listener); neither reading is safe to guess.
        reader.add_error(place_of(*allow),
                         fmt::format("{}allow must not be empty; remove it to accept every client",
                                     scope.owner));
    }
    reader.read_cidrs(table, "deny", scope, listener.deny);

    reader.read_unsigned(table, "max_connections_per_client", kPerClient, scope,
                         listener.max_connections_per_client);
    reader.read_unsigned(table, "new_connections_per_client_per_s", kPerClient, scope,
                         listener.new_connections_per_client_per_s);
    if (reader.read_unsigned(table, "new_connections_per_client_burst", kPerClient, scope,
                             listener.new_connections_per_client_burst) &&
        listener.new_connections_per_client_burst > 0 &&
        listener.new_connections_per_client_per_s == 0) {
        reader.add_error(place_of(*table.get("new_connections_per_client_burst")),
                         fmt::format("{}new_connections_per_client_burst has no effect while "
                                     "new_connections_per_client_per_s is 0 (no rate limit)",
                                     scope.owner));
    }

    if (const auto* access_log = reader.string_at(table, "access_log", scope)) {
        if (access_log->get().empty()) {
            reader.add_error(place_of(*access_log),
                             fmt::format("{}access_log must not be empty; use \"off\", \"stderr\" "
                                         "or a file path",
                                         scope.owner));
        } else if (access_log->get().find('\0') != std::string::npos) {
            // The path goes to open(2), which would stop at the NUL: another file.
            reader.add_error(
                place_of(*access_log),
                fmt::format("{}access_log must not contain a NUL character", scope.owner));
        } else {
            listener.access_log = access_log->get();
        }
    }
    if (reader.read_unsigned(table, "access_log_interval_ms", kAccessLogIntervalMs, scope,
                             listener.access_log_interval_ms) &&
        listener.access_log_interval_ms > 0) {
        const toml::node& node = *table.get("access_log_interval_ms");
        if (listener.access_log_interval_ms < kMinAccessLogIntervalMs) {
            reader.add_error(place_of(node),
                             fmt::format("{}access_log_interval_ms must be 0 (off) or at least {}",
                                         scope.owner, kMinAccessLogIntervalMs));
        } else if (listener.access_log == "off") {
            reader.add_error(place_of(node),
                             fmt::format("{}access_log_interval_ms has no effect while access_log "
                                         "is \"off\"",
                                         scope.owner));
        }
    }
}

}  // namespace

void load_listener(TomlReader& reader, const toml::table& table, std::size_t index,
                   const PoolNames& pool_names, ListenersSeen& seen, ListenerConfig& listener) {
    Scope scope{fmt::format("listener #{}: ", index + 1), "[[listener]]", ""};
    reader.check_keys(table, kListenerKeys, scope.table);
    const auto* name = reader.string_at(table, "name", scope);
    const auto* bind = reader.string_at(table, "bind", scope);
    // The node that gives the listener its name: the name itself, else the bind text.
    const toml::node* name_node = nullptr;
    if (name != nullptr) {
        listener.name = name->get();
        name_node = name;
    } else if (bind != nullptr && table.get("name") == nullptr) {
        listener.name = bind->get();
        name_node = bind;
    }
    bool name_is_unique = true;
    if (name_node != nullptr) {
        if (listener.name.empty()) {
            // An empty bind text is reported as an invalid address below.
            if (name_node == name) {
                reader.add_error(place_of(*name_node),
                                 fmt::format("{}name must not be empty", scope.owner));
            }
        } else {
            if (name_node == name) {  // a bind text is checked as an address below
                reader.check_name_characters(*name, listener.name, scope);
            }
            scope.owner = fmt::format("listener \"{}\": ", json_escape(listener.name));
            auto [it, inserted] = seen.names.try_emplace(listener.name, place_of(*name_node));
            if (!inserted) {
                name_is_unique = false;
                reader.add_error(place_of(*name_node),
                                 fmt::format("duplicate listener name \"{}\" (first at line {}){}",
                                             json_escape(listener.name), it->second.line,
                                             name_node == bind ? "; a listener without a name is "
                                                                 "named after its bind"
                                                               : ""));
            }
        }
    }

    if (bind == nullptr && table.get("bind") == nullptr) {
        reader.report_missing(table, "bind", scope);
    }
    if (bind != nullptr) {
        if (auto address = reader.read_address(*bind, "bind", 0, scope)) {
            listener.bind = *address;
            // Port 0 binds are distinct sockets: the kernel picks a fresh port for each.
            if (address->port() != 0 && name_is_unique) {
                auto first = std::find_if(seen.binds.begin(), seen.binds.end(),
                                          [&](const auto& b) { return b.first == *address; });
                if (first != seen.binds.end()) {
                    reader.add_error(place_of(*bind),
                                     fmt::format("{}bind address {} is already used by listener "
                                                 "\"{}\"",
                                                 scope.owner, address->to_string(), first->second));
                } else {
                    seen.binds.emplace_back(*address, listener.name);
                }
            }
        }
    }

    if (const auto* pool = reader.string_at(table, "pool", scope)) {
        listener.pool = pool->get();
        auto it = pool_names.find(listener.pool);
        if (it == pool_names.end()) {
            reader.add_error(place_of(*pool), fmt::format("{}pool \"{}\" is not defined",
                                                          scope.owner, json_escape(listener.pool)));
        } else {
            listener.pool_index = it->second.first;
        }
    } else if (table.get("pool") == nullptr && table.get("route") == nullptr) {
        // With routes, the pool is the default for clients no route takes; without one they
        // are closed.
        reader.report_missing(table, "pool", scope);
    }
    load_routes(reader, table, scope, pool_names, listener);
    reader.read_unsigned(table, "tls_inspect_timeout_ms", kInspectTimeoutMs, scope,
                         listener.tls_inspect_timeout_ms);
    reader.read_unsigned(table, "upload_bytes_per_s", kBytesPerS, scope,
                         listener.upload_bytes_per_s);
    reader.read_unsigned(table, "download_bytes_per_s", kBytesPerS, scope,
                         listener.download_bytes_per_s);
    load_listener_traffic(reader, table, scope, listener);
    load_listen_queue(reader, table, scope, listener);
    load_tcp_options(reader, table, scope, listener.tcp);
}

}  // namespace ringlb::config::loader
