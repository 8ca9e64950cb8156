// SPDX-License-Identifier: MIT
// Turns TOML text into a validated Config (schema v1), collecting every problem with its place.
#include "ringlb/loader/loader.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <variant>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "ringlb/base/escape.hpp"
#include "ringlb/base/name_lookup.hpp"
#include "ringlb/base/primes.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/tls.hpp"

namespace ringlb::config {

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
// A token is one line; the cap keeps a wrong path (a log file, an image) from being read whole.
constexpr std::size_t kMaxTokenFileBytes = 65536;
// A certificate chain or a key in PEM; a long chain is a few tens of kilobytes.
constexpr std::size_t kMaxPemFileBytes = 1024 * 1024;

// The schema: every key each table accepts. The loader rejects any other key with these tables,
// and known_keys() lists them, so that a key cannot be accepted without being listed (and,
// through config_keys_documented_test, documented). A key that names another entry of
// kSchema ("pool" + "health" = "pool.health") is a sub-table, not a value.
constexpr std::string_view kRootKeys[] = {"global", "admin", "listener", "pool"};
constexpr std::string_view kGlobalKeys[] = {
    "workers", "shutdown_grace_ms", "log_level", "pipe_size", "user", "group", "max_connections"};
constexpr std::string_view kAdminKeys[] = {
    "bind",          "token_file",  "read_token_file", "allow_without_token",
    "tls_cert_file", "tls_key_file"};
constexpr std::string_view kListenerKeys[] = {"name",
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
                                              "access_log"};
constexpr std::string_view kPoolKeys[] = {"name",
                                          "algorithm",
                                          "connect_timeout_ms",
                                          "idle_timeout_ms",
                                          "retries",
                                          "maglev_table_size",
                                          "slow_start_ms",
                                          "send_proxy",
                                          "resolve_interval_ms",
                                          "health",
                                          "backend"};
constexpr std::string_view kHealthKeys[] = {"interval_ms", "timeout_ms", "rise", "fall"};
constexpr std::string_view kBackendKeys[] = {"address", "weight", "max_connections", "state"};

struct SchemaTable final {
    std::string_view path;  // dotted, "" for the top level
    std::span<const std::string_view> keys;
};

constexpr SchemaTable kSchema[] = {
    {"", kRootKeys},
    {"global", kGlobalKeys},
    {"admin", kAdminKeys},
    {"listener", kListenerKeys},
    {"pool", kPoolKeys},
    {"pool.health", kHealthKeys},
    {"pool.backend", kBackendKeys},
};

constexpr Algorithm kAlgorithms[] = {Algorithm::round_robin, Algorithm::weighted_round_robin,
                                     Algorithm::least_connections, Algorithm::random_two,
                                     Algorithm::maglev};
constexpr BackendState kBackendStates[] = {BackendState::active, BackendState::drain,
                                           BackendState::disabled};
constexpr SendProxy kSendProxyVersions[] = {SendProxy::none, SendProxy::v1, SendProxy::v2};

// The value of `values` whose config name is `text`.
template <typename Enum, std::size_t N, typename NameOf>
std::optional<Enum> enum_named(std::string_view text, const Enum (&values)[N], NameOf name_of) {
    for (Enum value : values) {
        if (name_of(value) == text) {
            return value;
        }
    }
    return std::nullopt;
}

// "a, b, c": the config names of `values`, for messages that list what is accepted.
template <typename Enum, std::size_t N, typename NameOf>
std::string names_of(const Enum (&values)[N], NameOf name_of) {
    std::string out;
    for (Enum value : values) {
        if (!out.empty()) {
            out += ", ";
        }
        out += name_of(value);
    }
    return out;
}

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
constexpr Range kGlobalMaxConnections{0, 10000000};
constexpr Range kProxyTimeoutMs{1, 60000};
constexpr Range kPerClient{0, 1000000};
constexpr Range kMaglevTableSize{7, 1000003};
constexpr Range kSlowStartMs{0, 3600000};
constexpr Range kResolveIntervalMs{1000, 86400000};
constexpr Range kBackendMaxConnections{0, 1000000};
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

// Reads the whole file at `path` into `text`; returns why it could not, or "" on success.
// With `regular_only`, anything but a regular file is refused before a read could block on
// it (a FIFO, a terminal).
std::string read_file(const std::string& path, std::string& text,
                      std::size_t max_bytes = kMaxFileBytes, bool regular_only = false) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0)));
    if (!fd) {
        return std::strerror(errno);
    }
    struct stat status {};
    if (regular_only && (::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode))) {
        return "not a regular file";
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
        if (text.size() + static_cast<std::size_t>(n) > max_bytes) {
            return fmt::format("file is larger than {} bytes", max_bytes);
        }
        text.append(buffer.data(), static_cast<std::size_t>(n));
    }
}

// Whether `host` is a DNS name (RFC 1123 labels; '_' too, which container networks use). A
// last label of digits only is not a name but a malformed IPv4 address ("10.0.0.300",
// "127.1"), which getaddrinfo would otherwise accept in inet_aton's legacy forms.
bool is_host_name(std::string_view host) noexcept {
    if (!host.empty() && host.back() == '.') {
        host.remove_suffix(1);
    }
    if (host.empty() || host.size() > 253) {
        return false;
    }
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    std::string_view rest = host;
    for (;;) {
        auto dot = rest.find('.');
        std::string_view label = rest.substr(0, dot);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
            return false;
        }
        for (char c : label) {
            bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            if (!letter && !is_digit(c) && c != '-' && c != '_') {
                return false;
            }
        }
        if (dot == std::string_view::npos) {
            return !std::all_of(label.begin(), label.end(), is_digit);
        }
        rest.remove_prefix(dot + 1);
    }
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    });
    return out;
}

// The token on the first line of a token file's text, surrounding whitespace removed.
std::string_view first_line_trimmed(std::string_view text) noexcept {
    text = text.substr(0, text.find('\n'));
    constexpr std::string_view kSpace = " \t\r\v\f";
    auto begin = text.find_first_not_of(kSpace);
    if (begin == std::string_view::npos) {
        return {};
    }
    auto end = text.find_last_not_of(kSpace);
    return text.substr(begin, end - begin + 1);
}

class Loader final {
  public:
    Loader(std::string_view source, HostNames host_names)
        : source_(source), host_names_(host_names) {}

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
    template <typename Unsigned>
    bool read_unsigned(const toml::table& table, std::string_view key, Range range,
                       const Scope& scope, Unsigned& out) {
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
        out = static_cast<Unsigned>(value);
        return true;
    }

    // Stores the boolean at `key` in `out`; returns the node when it did, else nullptr.
    const toml::node* read_bool(const toml::table& table, std::string_view key, const Scope& scope,
                                bool& out) {
        const toml::node* node = table.get(key);
        if (node == nullptr) {
            return nullptr;
        }
        const auto* boolean = node->as_boolean();
        if (boolean == nullptr) {
            report_type(*node, key, "a boolean (true or false)", scope);
            return nullptr;
        }
        out = boolean->get();
        return node;
    }

    // The enum value named by the string at `key`, stored in `out`; reports a name that is not
    // one of `values`, listing those.
    template <typename Enum, std::size_t N, typename NameOf>
    void read_enum(const toml::table& table, std::string_view key, const Enum (&values)[N],
                   NameOf name_of, const Scope& scope, Enum& out) {
        const auto* text = string_at(table, key, scope);
        if (text == nullptr) {
            return;
        }
        if (auto value = enum_named(text->get(), values, name_of)) {
            out = *value;
        } else {
            add_error(place_of(*text),
                      fmt::format("{}{}{} \"{}\" is not supported; supported: {}", scope.owner,
                                  scope.subject, key, text->get(), names_of(values, name_of)));
        }
    }

    // Stores the address blocks of the array of strings at `key` in `out`; returns the array
    // node when the key is present and an array, else nullptr. Each bad entry is reported at
    // its own place and left out.
    const toml::array* read_cidrs(const toml::table& table, std::string_view key,
                                  const Scope& scope, std::vector<Cidr>& out) {
        const toml::node* node = table.get(key);
        if (node == nullptr) {
            return nullptr;
        }
        const auto* array = node->as_array();
        if (array == nullptr) {
            report_type(*node, key, "an array of address blocks (strings)", scope);
            return nullptr;
        }
        for (const toml::node& element : *array) {
            const auto* text = element.as_string();
            if (text == nullptr) {
                add_error(place_of(element),
                          fmt::format("{}each entry of \"{}\" must be a string (an address "
                                      "block), got {}",
                                      scope.owner, key, type_name(element)));
                continue;
            }
            if (auto block = parse_cidr(text->get())) {
                out.push_back(std::move(*block));
            } else {
                add_error(place_of(element), fmt::format("{}{} entry {}", scope.owner, key,
                                                         why_not_cidr(text->get())));
            }
        }
        return array;
    }

    // Why parse_cidr refused `text`, phrased to follow "<key> entry ".
    static std::string why_not_cidr(const std::string& text) {
        // Host bits set is the one mistake worth a precise hint: the network it likely meant.
        auto slash = text.find('/');
        if (slash != std::string::npos) {
            auto address = parse_cidr(std::string_view(text).substr(0, slash));
            auto prefix_text = std::string_view(text).substr(slash + 1);
            unsigned prefix = 0;
            auto [end, error] = std::from_chars(prefix_text.data(),
                                                prefix_text.data() + prefix_text.size(), prefix);
            if (address && error == std::errc{} && end == prefix_text.data() + prefix_text.size() &&
                !prefix_text.empty() && prefix <= address->prefix) {
                auto network_bytes = address->bytes;
                for (unsigned bit = prefix; bit < address->prefix; ++bit) {
                    network_bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
                }
                std::array<char, INET6_ADDRSTRLEN> network{};
                if (network_bytes != address->bytes &&
                    inet_ntop(address->family, network_bytes.data(), network.data(),
                              network.size()) != nullptr) {
                    return fmt::format(
                        "\"{}\" has address bits set beyond its /{} prefix; did you mean "
                        "\"{}/{}\"?",
                        text, prefix, network.data(), prefix);
                }
            }
        }
        return fmt::format(
            "\"{}\" is not a valid address block; expected \"IPv4/prefix\", \"IPv6/prefix\" "
            "or a single address",
            text);
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
                                  scope.owner, scope.subject, key, json_escape(text)));
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
        // After the listeners: the admin bind must not take one of their addresses.
        load_admin(root, config.admin);
    }

    void load_admin(const toml::table& root, std::optional<AdminConfig>& admin) {
        const toml::node* node = root.get("admin");
        if (node == nullptr) {
            return;
        }
        const auto* table = node->as_table();
        if (table == nullptr) {
            report_type(*node, "admin", "a table ([admin])", Scope{});
            return;
        }
        Scope scope{"", "[admin]", "admin "};
        check_keys(*table, kAdminKeys, scope.table);
        AdminConfig loaded;
        if (const auto* bind = string_at(*table, "bind", scope)) {
            if (auto address = read_address(*bind, "bind", 0, scope)) {
                loaded.bind = *address;
                auto listener = std::find_if(binds_.begin(), binds_.end(),
                                             [&](const auto& b) { return b.first == *address; });
                if (address->port() != 0 && listener != binds_.end()) {
                    add_error(place_of(*bind),
                              fmt::format("admin bind address {} is already used by listener "
                                          "\"{}\"",
                                          address->to_string(), listener->second));
                }
            }
        } else if (table->get("bind") == nullptr) {
            report_missing(*table, "bind", scope);
        }
        const toml::value<std::string>* token_file = string_at(*table, "token_file", scope);
        if (token_file != nullptr) {
            loaded.token_file = token_file->get();
            read_token(*token_file, "token_file", loaded.token);
        }
        const toml::value<std::string>* read_token_file =
            string_at(*table, "read_token_file", scope);
        if (read_token_file != nullptr) {
            loaded.read_token_file = read_token_file->get();
            read_token(*read_token_file, "read_token_file", loaded.read_token);
            if (!loaded.read_token.empty() && loaded.read_token == loaded.token) {
                add_error(place_of(*read_token_file),
                          "admin read_token_file holds the same token as token_file: the read "
                          "token must differ, or it would allow everything");
            }
        }
        read_bool(*table, "allow_without_token", scope, loaded.allow_without_token);
        const toml::node* bind_node = table->get("bind");
        if (bind_node != nullptr && loaded.bind.family() != AF_UNSPEC && loaded.open_to_network() &&
            !loaded.allow_without_token) {
            add_error(place_of(*bind_node),
                      fmt::format("admin bind {} is not a loopback address and no token is "
                                  "set: anyone who reaches it could drain or disable every "
                                  "backend. Set token_file (and read_token_file for scrapers), "
                                  "or write allow_without_token = true to serve it open",
                                  loaded.bind.to_string()));
        }
        load_admin_tls(*table, scope, loaded);
        admin = std::move(loaded);
    }

    // tls_cert_file and tls_key_file: both or neither, read and checked as a pair.
    void load_admin_tls(const toml::table& table, const Scope& scope, AdminConfig& admin) {
        const toml::value<std::string>* cert = string_at(table, "tls_cert_file", scope);
        const toml::value<std::string>* key = string_at(table, "tls_key_file", scope);
        if (cert != nullptr && key == nullptr && table.get("tls_key_file") == nullptr) {
            add_error(place_of(*cert), "admin tls_cert_file needs tls_key_file as well");
        }
        if (key != nullptr && cert == nullptr && table.get("tls_cert_file") == nullptr) {
            add_error(place_of(*key), "admin tls_key_file needs tls_cert_file as well");
        }
        if (cert == nullptr || key == nullptr) {
            return;
        }
        bool cert_read = read_pem(*cert, "tls_cert_file", admin.tls_cert_pem);
        bool key_read = read_pem(*key, "tls_key_file", admin.tls_key_pem);
        if (!cert_read || !key_read) {
            return;
        }
        if (auto problem = tls_check_pair(admin.tls_cert_pem, admin.tls_key_pem)) {
            const auto& at = problem->in_key() ? *key : *cert;
            add_error(place_of(at),
                      fmt::format("admin {} \"{}\": {}",
                                  problem->in_key() ? "tls_key_file" : "tls_cert_file", at.get(),
                                  problem->what()));
            return;
        }
        admin.tls_cert_file = cert->get();
        admin.tls_key_file = key->get();
    }

    // Reads a PEM file named at `path_node` into `text`; false (with the error added) when it
    // cannot be read.
    bool read_pem(const toml::value<std::string>& path_node, std::string_view key,
                  std::string& text) {
        const std::string& path = path_node.get();
        if (path.empty() || path.find('\0') != std::string::npos) {
            add_error(place_of(path_node),
                      fmt::format("admin {} must be a path without NUL characters", key));
            return false;
        }
        if (std::string problem = read_file(path, text, kMaxPemFileBytes, true); !problem.empty()) {
            add_error(place_of(path_node),
                      fmt::format("admin {} \"{}\": cannot read: {}", key, path, problem));
            return false;
        }
        return true;
    }

    // Reads the bearer token from the file named at `path_node` (the value of `key`) into
    // `token`.
    void read_token(const toml::value<std::string>& path_node, std::string_view key,
                    std::string& token) {
        const std::string& path = path_node.get();
        if (path.empty()) {
            add_error(place_of(path_node), fmt::format("admin {} must not be empty", key));
            return;
        }
        if (path.find('\0') != std::string::npos) {
            add_error(place_of(path_node),
                      fmt::format("admin {} must not contain a NUL character", key));
            return;
        }
        std::string text;
        if (std::string problem = read_file(path, text, kMaxTokenFileBytes, true);
            !problem.empty()) {
            add_error(place_of(path_node),
                      fmt::format("admin {} \"{}\": cannot read: {}", key, path, problem));
            return;
        }
        std::string_view line = first_line_trimmed(text);
        if (line.empty()) {
            add_error(place_of(path_node),
                      fmt::format("admin {} \"{}\": the first line holds no token", key, path));
            return;
        }
        // The token is compared with an HTTP header value: it must survive being typed there.
        bool printable =
            std::all_of(line.begin(), line.end(), [](char c) { return c > ' ' && c < '\x7f'; });
        if (!printable) {
            add_error(place_of(path_node),
                      fmt::format("admin {} \"{}\": the token must be printable ASCII "
                                  "without spaces",
                                  key, path));
            return;
        }
        token = std::string(line);
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
        read_unsigned(*table, "max_connections", kGlobalMaxConnections, scope,
                      global.max_connections);
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

    // Names go into log lines, Prometheus labels and JSON: a control character in one could
    // forge a log line or break a scrape (the Prometheus format cannot escape most of them),
    // so it is an error at the name. Messages show the name JSON-escaped.
    void check_name_characters(const toml::node& node, const std::string& name,
                               const Scope& scope) {
        if (auto found = find_control_character(name)) {
            add_error(place_of(node),
                      fmt::format("{}name \"{}\" contains the control character U+{:04X} (byte "
                                  "{}); names appear in logs and metrics and may not",
                                  scope.owner, json_escape(name),
                                  static_cast<unsigned>(found->code_point), found->offset + 1));
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
                check_name_characters(*name, pool.name, scope);
                scope.owner = fmt::format("pool \"{}\": ", json_escape(pool.name));
                auto [it, inserted] = pool_names_.try_emplace(pool.name, index, place_of(*name));
                if (!inserted) {
                    add_error(place_of(*name),
                              fmt::format("duplicate pool name \"{}\" (first at line {})",
                                          json_escape(pool.name), it->second.second.line));
                }
            }
        } else if (table.get("name") == nullptr) {
            report_missing(table, "name", scope);
        }

        read_enum(table, "algorithm", kAlgorithms, algorithm_name, scope, pool.algorithm);
        read_unsigned(table, "connect_timeout_ms", kConnectTimeoutMs, scope,
                      pool.connect_timeout_ms);
        read_unsigned(table, "idle_timeout_ms", kIdleTimeoutMs, scope, pool.idle_timeout_ms);
        read_unsigned(table, "retries", kRetries, scope, pool.retries);
        bool table_size_valid = read_maglev_table_size(table, scope, pool.maglev_table_size);
        read_unsigned(table, "slow_start_ms", kSlowStartMs, scope, pool.slow_start_ms);
        read_enum(table, "send_proxy", kSendProxyVersions, send_proxy_name, scope, pool.send_proxy);
        read_unsigned(table, "resolve_interval_ms", kResolveIntervalMs, scope,
                      pool.resolve_interval_ms);

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
        // The first mention of each address, with its line, to name it in a duplicate: numeric
        // addresses by value ("[::1]:80" is "[0::1]:80"), host names by their lower-case text.
        std::vector<std::pair<SocketAddress, unsigned>> seen_numeric;
        std::map<std::string, unsigned, std::less<>> seen_hosts;
        for (std::size_t i = 0; i < backend_tables.size(); ++i) {
            const toml::table& backend_table = *backend_tables[i];
            BackendConfig& backend = pool.backends[i];
            check_keys(backend_table, kBackendKeys, backend_scope.table);
            if (const auto* address = string_at(backend_table, "address", backend_scope)) {
                backend.address_text = address->get();
                if (read_backend_address(*address, backend_scope, backend)) {
                    unsigned line = place_of(*address).line;
                    std::optional<unsigned> first;
                    if (backend.host.empty()) {
                        auto it =
                            std::find_if(seen_numeric.begin(), seen_numeric.end(),
                                         [&](const auto& s) { return s.first == backend.address; });
                        if (it != seen_numeric.end()) {
                            first = it->second;
                        } else {
                            seen_numeric.emplace_back(backend.address, line);
                        }
                    } else {
                        auto [it, inserted] =
                            seen_hosts.try_emplace(lowercase(backend.address_text), line);
                        if (!inserted) {
                            first = it->second;
                        }
                    }
                    if (first) {
                        add_error(place_of(*address),
                                  fmt::format("{}duplicate backend address \"{}\" (first at line "
                                              "{})",
                                              scope.owner, backend.address_text, *first));
                    }
                }
            } else if (backend_table.get("address") == nullptr) {
                report_missing(backend_table, "address", backend_scope);
            }
            read_unsigned(backend_table, "weight", kWeight, backend_scope, backend.weight);
            read_unsigned(backend_table, "max_connections", kBackendMaxConnections, backend_scope,
                          backend.max_connections);
            read_enum(backend_table, "state", kBackendStates, backend_state_name, backend_scope,
                      backend.state);
        }

        // Maglev gives each backend a share of the table's slots: it needs one slot per
        // backend at the very least.
        if (pool.algorithm == Algorithm::maglev && table_size_valid &&
            pool.backends.size() > pool.maglev_table_size) {
            const toml::node* size_node = table.get("maglev_table_size");
            add_error(size_node != nullptr ? place_of(*size_node) : place_of(table),
                      fmt::format("{}maglev_table_size ({}) must be at least the number of "
                                  "backends ({})",
                                  scope.owner, pool.maglev_table_size, pool.backends.size()));
        }
    }

    // Reads maglev_table_size, which must be a prime in range; returns false when it is
    // present and was rejected.
    bool read_maglev_table_size(const toml::table& table, const Scope& scope, unsigned& out) {
        const toml::node* node = table.get("maglev_table_size");
        if (node == nullptr) {
            return true;
        }
        unsigned size = 0;
        if (!read_unsigned(table, "maglev_table_size", kMaglevTableSize, scope, size)) {
            return false;
        }
        if (!is_prime(size)) {
            // Maglev's permutations cover every slot only when the table size is prime.
            add_error(place_of(*node),
                      fmt::format("{}maglev_table_size {} is not a prime number; the next prime "
                                  "is {}",
                                  scope.owner, size, next_prime(size)));
            return false;
        }
        out = size;
        return true;
    }

    // Reads a backend address: numeric, or "hostname:port" resolved here. Fills address, port
    // and host of `backend`; returns whether the address is usable.
    bool read_backend_address(const toml::value<std::string>& node, const Scope& scope,
                              BackendConfig& backend) {
        const std::string& text = node.get();
        auto port = trailing_port(text);
        if (port && (*port < 1 || *port > 65535)) {
            add_error(place_of(node),
                      fmt::format("{}backend address port must be between 1 and 65535, got {}",
                                  scope.owner, text.substr(text.rfind(':') + 1)));
            return false;
        }
        if (auto numeric = SocketAddress::parse(text)) {
            backend.address = *numeric;
            backend.port = numeric->port();
            return true;
        }
        std::string_view host = std::string_view(text).substr(0, text.rfind(':'));
        if (!port || !is_host_name(host)) {
            add_error(place_of(node),
                      fmt::format("{}backend address \"{}\" is not a valid address; expected a "
                                  "numeric \"IPv4:port\", \"[IPv6]:port\" or \"hostname:port\"",
                                  scope.owner, text));
            return false;
        }
        backend.host = std::string(host);
        backend.port = static_cast<unsigned>(*port);
        if (host_names_ == HostNames::keep_unresolved) {
            return true;  // tests and fuzzing: no resolver traffic
        }
        auto resolved = look_up_host(backend.host, backend.port);
        if (const auto* reason = std::get_if<std::string>(&resolved)) {
            add_error(place_of(node), fmt::format("{}cannot resolve host \"{}\": {}", scope.owner,
                                                  backend.host, *reason));
            return false;
        }
        backend.address = std::get<SocketAddress>(resolved);
        return true;
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
                if (name_node == name) {  // a bind text is checked as an address below
                    check_name_characters(*name, listener.name, scope);
                }
                scope.owner = fmt::format("listener \"{}\": ", json_escape(listener.name));
                auto [it, inserted] =
                    listener_names_.try_emplace(listener.name, place_of(*name_node));
                if (!inserted) {
                    name_is_unique = false;
                    add_error(place_of(*name_node),
                              fmt::format("duplicate listener name \"{}\" (first at line {}){}",
                                          json_escape(listener.name), it->second.line,
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
                add_error(place_of(*pool), fmt::format("{}pool \"{}\" is not defined", scope.owner,
                                                       json_escape(listener.pool)));
            } else {
                listener.pool_index = it->second.first;
            }
        } else if (table.get("pool") == nullptr) {
            report_missing(table, "pool", scope);
        }
        load_listener_traffic(table, scope, listener);
    }

    // The keys of a listener that decide which clients it serves and how fast.
    void load_listener_traffic(const toml::table& table, const Scope& scope,
                               ListenerConfig& listener) {
        const toml::node* accept_proxy =
            read_bool(table, "accept_proxy", scope, listener.accept_proxy);
        const toml::array* trusted =
            read_cidrs(table, "proxy_trusted", scope, listener.proxy_trusted);
        // A PROXY header rewrites who the client is: only named peers may send one, and a
        // trusted list without accept_proxy suggests the operator believes it is on.
        if (listener.accept_proxy && trusted == nullptr && table.get("proxy_trusted") == nullptr) {
            add_error(place_of(*accept_proxy),
                      fmt::format("{}accept_proxy = true requires proxy_trusted, the address "
                                  "blocks of the peers allowed to send a PROXY header",
                                  scope.owner));
        } else if (listener.accept_proxy && trusted != nullptr && trusted->empty()) {
            add_error(place_of(*trusted),
                      fmt::format("{}proxy_trusted must not be empty when accept_proxy = true",
                                  scope.owner));
        } else if (!listener.accept_proxy && trusted != nullptr &&
                   (accept_proxy != nullptr || table.get("accept_proxy") == nullptr)) {
            add_error(place_of(*trusted),
                      fmt::format("{}proxy_trusted has no effect unless accept_proxy = true",
                                  scope.owner));
        }
        read_unsigned(table, "proxy_timeout_ms", kProxyTimeoutMs, scope, listener.proxy_timeout_ms);

        if (const toml::array* allow = read_cidrs(table, "allow", scope, listener.allow);
            allow != nullptr && allow->empty()) {
            // An empty list would have to mean "everyone" (the absent key) or "no one" (an
            // unusable listener); neither reading is safe to guess.
            add_error(place_of(*allow),
                      fmt::format("{}allow must not be empty; remove it to accept every client",
                                  scope.owner));
        }
        read_cidrs(table, "deny", scope, listener.deny);

        read_unsigned(table, "max_connections_per_client", kPerClient, scope,
                      listener.max_connections_per_client);
        read_unsigned(table, "new_connections_per_client_per_s", kPerClient, scope,
                      listener.new_connections_per_client_per_s);
        if (read_unsigned(table, "new_connections_per_client_burst", kPerClient, scope,
                          listener.new_connections_per_client_burst) &&
            listener.new_connections_per_client_burst > 0 &&
            listener.new_connections_per_client_per_s == 0) {
            add_error(place_of(*table.get("new_connections_per_client_burst")),
                      fmt::format("{}new_connections_per_client_burst has no effect while "
                                  "new_connections_per_client_per_s is 0 (no rate limit)",
                                  scope.owner));
        }

        if (const auto* access_log = string_at(table, "access_log", scope)) {
            if (access_log->get().empty()) {
                add_error(place_of(*access_log),
                          fmt::format("{}access_log must not be empty; use \"off\", \"stderr\" "
                                      "or a file path",
                                      scope.owner));
            } else if (access_log->get().find('\0') != std::string::npos) {
                // The path goes to open(2), which would stop at the NUL: another file.
                add_error(
                    place_of(*access_log),
                    fmt::format("{}access_log must not contain a NUL character", scope.owner));
            } else {
                listener.access_log = access_log->get();
            }
        }
    }

    std::string source_;
    HostNames host_names_;
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
        return Loader(source, host_names).load(text);
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
