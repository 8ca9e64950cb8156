// SPDX-License-Identifier: MIT
// Turns TOML text into a validated Config (schema v1), collecting every problem with its place.
#include "ringlb/config/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <span>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "ringlb/io/unique_fd.hpp"

namespace ringlb::config {

std::string_view algorithm_name(Algorithm algorithm) noexcept {
    switch (algorithm) {
        case Algorithm::round_robin:
            return "round_robin";
    }
    return "?";
}

std::string Diagnostic::to_string() const {
    if (line == 0) {
        return fmt::format("{}: {}", source, message);
    }
    if (column == 0) {
        return fmt::format("{}:{}: {}", source, line, message);
    }
    return fmt::format("{}:{}:{}: {}", source, line, column, message);
}

namespace {

// A config is a few kilobytes; the cap only stops `--config /dev/zero` from eating memory.
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

constexpr std::array<std::string_view, 3> kRootKeys{"global", "listener", "pool"};
constexpr std::array<std::string_view, 6> kGlobalKeys{
    "workers", "shutdown_grace_ms", "log_level", "pipe_size", "user", "group"};
constexpr std::array<std::string_view, 3> kListenerKeys{"name", "bind", "pool"};
constexpr std::array<std::string_view, 7> kPoolKeys{
    "name", "algorithm", "connect_timeout_ms", "idle_timeout_ms", "retries", "health", "backend"};
constexpr std::array<std::string_view, 4> kHealthKeys{"interval_ms", "timeout_ms", "rise", "fall"};
constexpr std::array<std::string_view, 2> kBackendKeys{"address", "weight"};

// The uid and primary gid of a user name, from the system's user database.
std::optional<std::pair<unsigned, unsigned>> lookup_user(const std::string& name) {
    std::array<char, 4096> buffer{};
    passwd entry{};
    passwd* found = nullptr;
    if (name.empty() ||
        getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
        return std::nullopt;
    }
    return std::pair<unsigned, unsigned>{found->pw_uid, found->pw_gid};
}

std::optional<unsigned> lookup_group(const std::string& name) {
    std::array<char, 4096> buffer{};
    group entry{};
    group* found = nullptr;
    if (name.empty() ||
        getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) != 0 ||
        found == nullptr) {
        return std::nullopt;
    }
    return found->gr_gid;
}

struct Range final {
    std::int64_t min;
    std::int64_t max;
};

constexpr Range kWorkers{0, 1024};
constexpr Range kShutdownGraceMs{0, 3600000};
constexpr Range kPipeSize{4096, 16 * 1024 * 1024};
constexpr Range kConnectTimeoutMs{1, 600000};
constexpr Range kIdleTimeoutMs{0, 86400000};
constexpr Range kRetries{0, 100};
constexpr Range kHealthIntervalMs{100, 3600000};
constexpr Range kHealthTimeoutMs{1, 3600000};
constexpr Range kRiseFall{1, 1000};
constexpr Range kWeight{1, 1000};
constexpr unsigned kDefaultHealthTimeoutMs = 1000;

struct Place final {
    unsigned line = 0;
    unsigned column = 0;
};

Place place_of(const toml::source_region& region) noexcept {
    return {region.begin.line, region.begin.column};
}
Place place_of(const toml::node& node) noexcept {
    return place_of(node.source());
}
Place place_of(const toml::key& key) noexcept {
    return place_of(key.source());
}

// The TOML type of a node, as a user would name it in a message.
std::string_view type_name(const toml::node& node) noexcept {
    switch (node.type()) {
        case toml::node_type::table:
            return "table";
        case toml::node_type::array:
            return "array";
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// Who a message is about. `owner` prefixes every message ("pool \"api\": "), `table` names the
// TOML table in unknown/missing key messages, `subject` qualifies a key in value messages
// ("backend " gives "backend weight must be ...").
struct Scope final {
    std::string owner;
    std::string_view table;
    std::string_view subject;
};

// The port of "host:port" text when it ends in ":<digits>", saturated at UINT64_MAX; lets an
// out-of-range port get its own message instead of "not a valid address".
std::optional<std::uint64_t> trailing_port(std::string_view text) noexcept {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon + 1 == text.size()) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    for (char c : text.substr(colon + 1)) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        auto digit = static_cast<std::uint64_t>(c - '0');
        value = value > (UINT64_MAX - digit) / 10 ? UINT64_MAX : value * 10 + digit;
    }
    return value;
}

class Loader final {
  public:
    explicit Loader(std::string_view source) : source_(source) {}

    // Parses and validates `text`; the result holds a Config only when no error was found.
    LoadResult load(std::string_view text) {
        LoadResult result;
        Config config;
        config.source = source_;
        try {
            toml::table root = toml::parse(text, std::string_view(source_));
            load_root(root, config);
        } catch (const toml::parse_error& error) {
            add_error(place_of(error.source()),
                      fmt::format("not valid TOML: {}", error.description()));
        }
        std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
            return std::pair(a.line, a.column) < std::pair(b.line, b.column);
        });
        result.errors = std::move(errors_);
        if (result.errors.empty()) {
            result.config = std::move(config);
        }
        return result;
    }

  private:
    void add_error(Place place, std::string message) {
        errors_.push_back(Diagnostic{source_, place.line, place.column, std::move(message)});
    }

    void check_keys(const toml::table& table, std::span<const std::string_view> allowed,
                    std::string_view table_name) {
        for (auto&& [key, node] : table) {
            if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
                add_error(place_of(key),
                          fmt::format("unknown key \"{}\" in {}", key.str(), table_name));
            }
        }
    }

    void report_missing(const toml::table& table, std::string_view key, const Scope& scope) {
        add_error(place_of(table), fmt::format("{}missing required key \"{}\" in {}", scope.owner,
                                               key, scope.table));
    }

    void report_type(const toml::node& node, std::string_view key, std::string_view expected,
                     const Scope& scope) {
        add_error(place_of(node), fmt::format("{}{}key \"{}\" must be {}, got {}", scope.owner,
                                              scope.subject, key, expected, type_name(node)));
    }

    // The string at `key`, or nullptr when it is absent or (reported) not a string.
    const toml::value<std::string>* string_at(const toml::table& table, std::string_view key,
                                              const Scope& scope) {
        const toml::node* node = table.get(key);
        if (node == nullptr) {
            return nullptr;
        }
        if (const auto* text = node->as_string()) {
            return text;
        }
        report_type(*node, key, "a string", scope);
        return nullptr;
    }

    // Stores the integer at `key` in `out` when it is present, an integer and within `range`;
    // returns whether it did. An absent key leaves the default in `out` and is no error.
    bool read_unsigned(const toml::table& table, std::string_view key, Range range,
                       const Scope& scope, unsigned& out) {
        const toml::node* node = table.get(key);
        if (node == nullptr) {
            return false;
        }
        const auto* integer = node->as_integer();
        if (integer == nullptr) {
            report_type(*node, key, "an integer", scope);
            return false;
        }
        std::int64_t value = integer->get();
        if (value < range.min || value > range.max) {
            add_error(place_of(*node),
                      fmt::format("{}{}{} must be between {} and {}, got {}", scope.owner,
                                  scope.subject, key, range.min, range.max, value));
            return false;
        }
        out = static_cast<unsigned>(value);
        return true;
    }

    // The tables of the array of tables at `key`. Reports a value of another shape, entries
    // that are not tables, and (with `required`) an absent or empty array.
    std::vector<const toml::table*> tables_at(const toml::table& parent, std::string_view key,
                                              std::string_view table_name, bool required,
                                              const Scope& scope) {
        std::vector<const toml::table*> tables;
        const toml::node* node = parent.get(key);
        if (node == nullptr) {
            if (required) {
                add_error(place_of(parent),
                          fmt::format("{}at least one {} is required", scope.owner, table_name));
            }
            return tables;
        }
        const auto* array = node->as_array();
        if (array == nullptr) {
            add_error(place_of(*node),
                      fmt::format("{}key \"{}\" must be an array of tables ({}), got {}",
                                  scope.owner, key, table_name, type_name(*node)));
            return tables;
        }
        if (array->empty() && required) {
            add_error(place_of(*node),
                      fmt::format("{}at least one {} is required", scope.owner, table_name));
        }
        for (const toml::node& element : *array) {
            if (const auto* table = element.as_table()) {
                tables.push_back(table);
            } else {
                add_error(place_of(element),
                          fmt::format("{}each entry of \"{}\" must be a table ({}), got {}",
                                      scope.owner, key, table_name, type_name(element)));
            }
        }
        return tables;
    }

    // Parses the address string at `key`; `min_port` is 0 for binds and 1 for backends.
    std::optional<SocketAddress> read_address(const toml::value<std::string>& node,
                                              std::string_view key, unsigned min_port,
                                              const Scope& scope) {
        const std::string& text = node.get();
        auto address = SocketAddress::parse(text);
        auto port = trailing_port(text);
        if (port && (*port < min_port || *port > 65535)) {
            add_error(place_of(node),
                      fmt::format("{}{}{} port must be between {} and 65535, got {}", scope.owner,
                                  scope.subject, key, min_port, text.substr(text.rfind(':') + 1)));
            return std::nullopt;
        }
        if (!address) {
            add_error(place_of(node),
                      fmt::format("{}{}{} \"{}\" is not a valid address; expected a numeric "
                                  "\"IPv4:port\" or \"[IPv6]:port\"",
                                  scope.owner, scope.subject, key, text));
        }
        return address;
    }

    void load_root(const toml::table& root, Config& config) {
        check_keys(root, kRootKeys, "the top-level table");
        load_global(root, config.global);
        Scope top{"", "the top-level table", ""};
        auto pool_tables = tables_at(root, "pool", "[[pool]]", false, top);
        config.pools.resize(pool_tables.size());
        for (std::size_t i = 0; i < pool_tables.size(); ++i) {
            load_pool(*pool_tables[i], i, config.pools[i]);
        }
        auto listener_tables = tables_at(root, "listener", "[[listener]]", true, top);
        config.listeners.resize(listener_tables.size());
        for (std::size_t i = 0; i < listener_tables.size(); ++i) {
            load_listener(*listener_tables[i], i, config.listeners[i]);
        }
    }

    void load_global(const toml::table& root, GlobalConfig& global) {
        const toml::node* node = root.get("global");
        if (node == nullptr) {
            return;
        }
        const auto* table = node->as_table();
        if (table == nullptr) {
            report_type(*node, "global", "a table ([global])", Scope{});
            return;
        }
        Scope scope{"", "[global]", ""};
        check_keys(*table, kGlobalKeys, scope.table);
        read_unsigned(*table, "workers", kWorkers, scope, global.workers);
        read_unsigned(*table, "shutdown_grace_ms", kShutdownGraceMs, scope,
                      global.shutdown_grace_ms);
        read_unsigned(*table, "pipe_size", kPipeSize, scope, global.pipe_size);
        if (const auto* user = string_at(*table, "user", scope)) {
            if (auto ids = lookup_user(user->get())) {
                global.user = user->get();
                global.uid = ids->first;
                global.gid = ids->second;
            } else {
                add_error(place_of(*user),
                          fmt::format("user \"{}\" does not exist on this machine", user->get()));
            }
        }
        if (const auto* group = string_at(*table, "group", scope)) {
            if (auto gid = lookup_group(group->get())) {
                global.group = group->get();
                global.gid = *gid;
            } else {
                add_error(place_of(*group),
                          fmt::format("group \"{}\" does not exist on this machine", group->get()));
            }
        }
        if (const auto* level = string_at(*table, "log_level", scope)) {
            if (auto parsed = parse_log_level(level->get())) {
                global.log_level = *parsed;
            } else {
                add_error(place_of(*level),
                          fmt::format("log_level \"{}\" is not one of trace, debug, info, warn, "
                                      "error",
                                      level->get()));
            }
        }
    }

    void load_pool(const toml::table& table, std::size_t index, PoolConfig& pool) {
        Scope scope{fmt::format("pool #{}: ", index + 1), "[[pool]]", ""};
        check_keys(table, kPoolKeys, scope.table);
        if (const auto* name = string_at(table, "name", scope)) {
            pool.name = name->get();
            if (pool.name.empty()) {
                add_error(place_of(*name), fmt::format("{}name must not be empty", scope.owner));
            } else {
                scope.owner = fmt::format("pool \"{}\": ", pool.name);
                auto [it, inserted] = pool_names_.try_emplace(pool.name, index, place_of(*name));
                if (!inserted) {
                    add_error(place_of(*name),
                              fmt::format("duplicate pool name \"{}\" (first at line {})",
                                          pool.name, it->second.second.line));
                }
            }
        } else if (table.get("name") == nullptr) {
            report_missing(table, "name", scope);
        }

        if (const auto* algorithm = string_at(table, "algorithm", scope)) {
            if (algorithm->get() != algorithm_name(Algorithm::round_robin)) {
                add_error(
                    place_of(*algorithm),
                    fmt::format("{}algorithm \"{}\" is not supported; supported: {}", scope.owner,
                                algorithm->get(), algorithm_name(Algorithm::round_robin)));
            }
        }
        read_unsigned(table, "connect_timeout_ms", kConnectTimeoutMs, scope,
                      pool.connect_timeout_ms);
        read_unsigned(table, "idle_timeout_ms", kIdleTimeoutMs, scope, pool.idle_timeout_ms);
        read_unsigned(table, "retries", kRetries, scope, pool.retries);

        if (const toml::node* node = table.get("health")) {
            if (const auto* health = node->as_table()) {
                pool.health = load_health(*health, scope.owner);
            } else {
                report_type(*node, "health", "a table ([pool.health])", scope);
            }
        }

        Scope backend_scope{scope.owner, "[[pool.backend]]", "backend "};
        auto backend_tables = tables_at(table, "backend", "[[pool.backend]]", true, scope);
        pool.backends.resize(backend_tables.size());
        // Parsed addresses with the line of their first mention, to name it in a duplicate.
        std::vector<std::pair<SocketAddress, unsigned>> seen;
        for (std::size_t i = 0; i < backend_tables.size(); ++i) {
            const toml::table& backend_table = *backend_tables[i];
            BackendConfig& backend = pool.backends[i];
            check_keys(backend_table, kBackendKeys, backend_scope.table);
            if (const auto* address = string_at(backend_table, "address", backend_scope)) {
                backend.address_text = address->get();
                if (auto parsed = read_address(*address, "address", 1, backend_scope)) {
                    backend.address = *parsed;
                    auto first = std::find_if(seen.begin(), seen.end(),
                                              [&](const auto& s) { return s.first == *parsed; });
                    if (first != seen.end()) {
                        add_error(place_of(*address),
                                  fmt::format("{}duplicate backend address \"{}\" (first at line "
                                              "{})",
                                              scope.owner, backend.address_text, first->second));
                    } else {
                        seen.emplace_back(*parsed, place_of(*address).line);
                    }
                }
            } else if (backend_table.get("address") == nullptr) {
                report_missing(backend_table, "address", backend_scope);
            }
            read_unsigned(backend_table, "weight", kWeight, backend_scope, backend.weight);
        }
    }

    HealthConfig load_health(const toml::table& table, const std::string& owner) {
        Scope scope{owner, "[pool.health]", "health "};
        HealthConfig health;
        check_keys(table, kHealthKeys, scope.table);
        // A rejected interval must not make a sound timeout look too long as well.
        bool interval_valid =
            read_unsigned(table, "interval_ms", kHealthIntervalMs, scope, health.interval_ms) ||
            table.get("interval_ms") == nullptr;
        // Without an explicit timeout, a short interval shortens the default timeout with it,
        // so that `interval_ms = 500` alone is a valid section.
        health.timeout_ms = std::min(kDefaultHealthTimeoutMs, health.interval_ms);
        if (read_unsigned(table, "timeout_ms", kHealthTimeoutMs, scope, health.timeout_ms) &&
            interval_valid && health.timeout_ms > health.interval_ms) {
            add_error(place_of(*table.get("timeout_ms")),
                      fmt::format("{}health timeout_ms ({}) must not exceed interval_ms ({})",
                                  owner, health.timeout_ms, health.interval_ms));
        }
        read_unsigned(table, "rise", kRiseFall, scope, health.rise);
        read_unsigned(table, "fall", kRiseFall, scope, health.fall);
        return health;
    }

    void load_listener(const toml::table& table, std::size_t index, ListenerConfig& listener) {
        Scope scope{fmt::format("listener #{}: ", index + 1), "[[listener]]", ""};
        check_keys(table, kListenerKeys, scope.table);
        const auto* name = string_at(table, "name", scope);
        const auto* bind = string_at(table, "bind", scope);
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
                    add_error(place_of(*name_node),
                              fmt::format("{}name must not be empty", scope.owner));
                }
            } else {
                scope.owner = fmt::format("listener \"{}\": ", listener.name);
                auto [it, inserted] =
                    listener_names_.try_emplace(listener.name, place_of(*name_node));
                if (!inserted) {
                    name_is_unique = false;
                    add_error(place_of(*name_node),
                              fmt::format("duplicate listener name \"{}\" (first at line {}){}",
                                          listener.name, it->second.line,
                                          name_node == bind ? "; a listener without a name is "
                                                              "named after its bind"
                                                            : ""));
                }
            }
        }

        if (bind == nullptr && table.get("bind") == nullptr) {
            report_missing(table, "bind", scope);
        }
        if (bind != nullptr) {
            if (auto address = read_address(*bind, "bind", 0, scope)) {
                listener.bind = *address;
                // Port 0 binds are distinct sockets: the kernel picks a fresh port for each.
                if (address->port() != 0 && name_is_unique) {
                    auto first = std::find_if(binds_.begin(), binds_.end(),
                                              [&](const auto& b) { return b.first == *address; });
                    if (first != binds_.end()) {
                        add_error(place_of(*bind),
                                  fmt::format("{}bind address {} is already used by listener "
                                              "\"{}\"",
                                              scope.owner, address->to_string(), first->second));
                    } else {
                        binds_.emplace_back(*address, listener.name);
                    }
                }
            }
        }

        if (const auto* pool = string_at(table, "pool", scope)) {
            listener.pool = pool->get();
            auto it = pool_names_.find(listener.pool);
            if (it == pool_names_.end()) {
                add_error(place_of(*pool),
                          fmt::format("{}pool \"{}\" is not defined", scope.owner, listener.pool));
            } else {
                listener.pool_index = it->second.first;
            }
        } else if (table.get("pool") == nullptr) {
            report_missing(table, "pool", scope);
        }
    }

    std::string source_;
    std::vector<Diagnostic> errors_;
    std::map<std::string, std::pair<std::size_t, Place>, std::less<>> pool_names_;
    std::map<std::string, Place, std::less<>> listener_names_;
    std::vector<std::pair<SocketAddress, std::string>> binds_;
};

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

// Reads the whole file at `path` into `text`; returns why it could not, or "" on success.
std::string read_file(const std::string& path, std::string& text) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        return std::strerror(errno);
    }
    std::array<char, 65536> buffer;
    for (;;) {
        ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return std::strerror(errno);
        }
        if (n == 0) {
            return {};
        }
        if (text.size() + static_cast<std::size_t>(n) > kMaxFileBytes) {
            return fmt::format("file is larger than {} bytes", kMaxFileBytes);
        }
        text.append(buffer.data(), static_cast<std::size_t>(n));
    }
}

}  // namespace

LoadResult load_config_string(std::string_view text, std::string_view source) noexcept {
    try {
        return Loader(source).load(text);
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
