// SPDX-License-Identifier: MIT
// Loads [[listener.route]]: TLS server names (exact, or one leading "*." wildcard) and the pool
// their clients go to.
#include "route_section.hpp"

#include <algorithm>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "ringlb/base/escape.hpp"
#include "schema.hpp"

namespace ringlb::config::loader {

namespace {

// A host name as a ClientHello carries it (RFC 6066: no trailing dot, ASCII): labels of
// letters, digits, '-' and '_', each 1..63 bytes, 253 in all; "*." may lead.
bool valid_server_name(std::string_view name) noexcept {
    if (name.starts_with("*.")) {
        name.remove_prefix(2);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                             (c >= '0' && c <= '9') || c == '-' || c == '_';
        if (!allowed || ++label > 63) {
            return false;
        }
    }
    return label > 0;
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

}  // namespace

void load_routes(TomlReader& reader, const toml::table& table, const Scope& scope,
                 const PoolNames& pool_names, ListenerConfig& listener) {
    if (table.get("route") == nullptr) {
        return;
    }
    Scope route_scope{scope.owner, "[[listener.route]]", "route "};
    auto route_tables = reader.tables_at(table, "route", "[[listener.route]]", false, scope);
    listener.routes.resize(route_tables.size());
    for (std::size_t i = 0; i < route_tables.size(); ++i) {
        const toml::table& route_table = *route_tables[i];
        RouteConfig& route = listener.routes[i];
        reader.check_keys(route_table, kRouteKeys, route_scope.table);
        if (const toml::node* node = route_table.get("sni")) {
            const auto* names = node->as_array();
            if (names == nullptr) {
                reader.report_type(*node, "sni", "an array of server names (strings)", route_scope);
            } else if (names->empty()) {
                reader.add_error(
                    place_of(*node),
                    fmt::format("{}route sni must list at least one server name", scope.owner));
            } else {
                for (const toml::node& element : *names) {
                    const auto* text = element.as_string();
                    if (text == nullptr || !valid_server_name(text->get())) {
                        reader.add_error(
                            place_of(element),
                            fmt::format("{}route sni entry {} is not a server name; expected "
                                        "\"host.example.com\" or \"*.example.com\"",
                                        scope.owner,
                                        text == nullptr
                                            ? std::string(type_name(element))
                                            : fmt::format("\"{}\"", json_escape(text->get()))));
                        continue;
                    }
                    route.sni.push_back(lower(text->get()));
                }
            }
        } else {
            reader.report_missing(route_table, "sni", route_scope);
        }
        if (const auto* pool = reader.string_at(route_table, "pool", route_scope)) {
            route.pool = pool->get();
            auto it = pool_names.find(route.pool);
            if (it == pool_names.end()) {
                reader.add_error(place_of(*pool),
                                 fmt::format("{}route pool \"{}\" is not defined", scope.owner,
                                             json_escape(route.pool)));
            } else {
                route.pool_index = it->second.first;
            }
        } else if (route_table.get("pool") == nullptr) {
            reader.report_missing(route_table, "pool", route_scope);
        }
    }
}

}  // namespace ringlb::config::loader
