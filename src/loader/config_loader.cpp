// SPDX-License-Identifier: MIT
// Turns TOML text into a validated Config (schema v1), collecting every problem with its place:
// parses, loads each section in the order its cross-checks need, and lists the schema's keys.
#include "ringlb/loader/loader.hpp"

#include <algorithm>
#include <exception>
#include <iterator>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "admin_section.hpp"
#include "global_section.hpp"
#include "listener_section.hpp"
#include "lookups.hpp"
#include "pool_section.hpp"
#include "readers.hpp"
#include "schema.hpp"

namespace ringlb::config {

// The pieces of src/loader/, private to it.
using namespace loader;

namespace {

// Pools come before the listeners that name them, listeners before the admin bind that must
// not take one of their addresses.
void load_root(TomlReader& reader, const toml::table& root, HostNames host_names, Config& config) {
    reader.check_keys(root, kRootKeys, "the top-level table");
    load_global(reader, root, config.global);
    Scope top{"", "the top-level table", ""};
    auto pool_tables = reader.tables_at(root, "pool", "[[pool]]", false, top);
    config.pools.resize(pool_tables.size());
    PoolNames pool_names;
    for (std::size_t i = 0; i < pool_tables.size(); ++i) {
        load_pool(reader, *pool_tables[i], i, host_names, pool_names, config.pools[i]);
    }
    auto listener_tables = reader.tables_at(root, "listener", "[[listener]]", true, top);
    config.listeners.resize(listener_tables.size());
    ListenersSeen listeners_seen;
    for (std::size_t i = 0; i < listener_tables.size(); ++i) {
        load_listener(reader, *listener_tables[i], i, pool_names, listeners_seen,
                      config.listeners[i]);
    }
    load_admin(reader, root, listeners_seen.binds, config.admin);
}

// Parses and validates `text`; the result holds a Config only when no error was found.
LoadResult load(std::string_view text, std::string_view source, HostNames host_names) {
    TomlReader reader{std::string(source)};
    LoadResult result;
    Config config;
    config.source = reader.source();
    try {
        toml::table root = toml::parse(text, std::string_view(reader.source()));
        load_root(reader, root, host_names, config);
    } catch (const toml::parse_error& error) {
        reader.add_error(place_of(error.source()),
                         fmt::format("not valid TOML: {}", error.description()));
    }
    result.errors = reader.take_errors();
    std::stable_sort(result.errors.begin(), result.errors.end(), [](const auto& a, const auto& b) {
        return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    if (result.errors.empty()) {
        result.config = std::move(config);
    }
    return result;
}

// The last resort when loading itself failed (in practice: out of memory).
LoadResult failed(std::string_view source, const char* what) noexcept {
    LoadResult result;
    try {
        result.errors.push_back(
            Diagnostic{std::string(source), 0, 0, fmt::format("cannot load: {}", what)});
    } catch (...) {
        // Nothing left to report with; an empty result without config still means failure.
    }
    return result;
}

}  // namespace

std::vector<std::string> known_keys() {
    std::vector<std::string> keys;
    for (const SchemaTable& table : kSchema) {
        for (std::string_view key : table.keys) {
            std::string path =
                table.path.empty() ? std::string(key) : fmt::format("{}.{}", table.path, key);
            bool is_table = std::any_of(std::begin(kSchema), std::end(kSchema),
                                        [&](const SchemaTable& t) { return t.path == path; });
            if (!is_table) {
                keys.push_back(std::move(path));
            }
        }
    }
    return keys;
}

LoadResult load_config_string(std::string_view text, std::string_view source,
                              HostNames host_names) noexcept {
    try {
        return load(text, source, host_names);
    } catch (const std::exception& error) {
        return failed(source, error.what());
    } catch (...) {
        return failed(source, "unknown error");
    }
}

LoadResult load_config_file(const std::string& path) noexcept {
    try {
        std::string text;
        if (std::string problem = read_file(path, text); !problem.empty()) {
            LoadResult result;
            result.errors.push_back(
                Diagnostic{path, 0, 0, fmt::format("cannot read: {}", problem)});
            return result;
        }
        return load_config_string(text, path);
    } catch (const std::exception& error) {
        return failed(path, error.what());
    } catch (...) {
        return failed(path, "unknown error");
    }
}

}  // namespace ringlb::config
