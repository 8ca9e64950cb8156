// SPDX-License-Identifier: MIT
// Loads one [[pool]]: its settings, its health checks and its backends, each backend address
// numeric or a host name resolved here.
#include "pool_section.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "health_section.hpp"
#include "ringlb/base/escape.hpp"
#include "ringlb/base/name_lookup.hpp"
#include "ringlb/base/primes.hpp"
#include "schema.hpp"
#include "socket_options_section.hpp"

namespace ringlb::config::loader {

namespace {

constexpr Range kConnectTimeoutMs{1, 600000};
constexpr Range kIdleTimeoutMs{0, 86400000};
constexpr Range kRetries{0, 100};
constexpr Range kWeight{1, 1000};
constexpr Range kMaglevTableSize{7, 1000003};
constexpr Range kSlowStartMs{0, 3600000};
constexpr Range kResolveIntervalMs{1000, 86400000};
constexpr Range kBackendMaxConnections{0, 1000000};
constexpr Range kDiscoveryIntervalMs{1000, 86400000};
constexpr Range kMaxConnectionDurationMs{0, 31536000000};  // up to a year
constexpr Range kQueueTimeoutMs{0, 3600000};               // up to an hour
constexpr Range kConsecutiveFailures{0, 1000};
constexpr Range kEjectionMs{100, 3600000};
constexpr Range kMaxEjectedPercent{0, 100};

constexpr Algorithm kAlgorithms[] = {Algorithm::round_robin, Algorithm::weighted_round_robin,
                                     Algorithm::least_connections, Algorithm::random_two,
                                     Algorithm::maglev};
constexpr BackendState kBackendStates[] = {BackendState::active, BackendState::drain,
                                           BackendState::disabled};
constexpr SendProxy kSendProxyVersions[] = {SendProxy::none, SendProxy::v1, SendProxy::v2};
constexpr OnBackendDown kOnBackendDown[] = {OnBackendDown::keep, OnBackendDown::close};

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

DiscoveryConfig load_discovery(TomlReader& reader, const toml::table& table,
                               const std::string& owner) {
    Scope scope{owner, "[pool.discovery]", "discovery "};
    DiscoveryConfig discovery;
    reader.check_keys(table, kDiscoveryKeys, scope.table);
    if (const auto* name = reader.string_at(table, "dns_srv", scope)) {
        discovery.dns_srv = name->get();
        // Only the name's form is checked: --check must not depend on the DNS (it is queried
        // by the running process).
        if (!is_host_name(discovery.dns_srv)) {
            reader.add_error(place_of(*name),
                             fmt::format("{}discovery dns_srv \"{}\" is not a DNS name, e.g. "
                                         "\"_app._tcp.service.consul\"",
                                         owner, json_escape(discovery.dns_srv)));
        }
    } else if (table.get("dns_srv") == nullptr) {
        reader.report_missing(table, "dns_srv", scope);
    }
    if (const auto* resolver = reader.string_at(table, "resolver", scope)) {
        if (auto address = reader.read_address(*resolver, "resolver", 1, scope)) {
            discovery.resolver = *address;
        }
    }
    reader.read_unsigned(table, "interval_ms", kDiscoveryIntervalMs, scope, discovery.interval_ms);
    return discovery;
}

// Reads maglev_table_size, which must be a prime in range; returns false when it is
// present and was rejected.
bool read_maglev_table_size(TomlReader& reader, const toml::table& table, const Scope& scope,
                            unsigned& out) {
    const toml::node* node = table.get("maglev_table_size");
    if (node == nullptr) {
        return true;
    }
    unsigned size = 0;
    if (!reader.read_unsigned(table, "maglev_table_size", kMaglevTableSize, scope, size)) {
        return false;
    }
    if (!is_prime(size)) {
        // Maglev's permutations cover every slot only when the table size is prime.
        reader.add_error(place_of(*node),
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
bool read_backend_address(TomlReader& reader, const toml::value<std::string>& node,
                          const Scope& scope, HostNames host_names, BackendConfig& backend) {
    const std::string& text = node.get();
    auto port = trailing_port(text);
    if (port && (*port < 1 || *port > 65535)) {
        reader.add_error(place_of(node),
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
        reader.add_error(place_of(node),
                         fmt::format("{}backend address \"{}\" is not a valid address; expected a "
                                     "numeric \"IPv4:port\", \"[IPv6]:port\" or \"hostname:port\"",
                                     scope.owner, text));
        return false;
    }
    backend.host = std::string(host);
    backend.port = static_cast<unsigned>(*port);
    if (host_names == HostNames::keep_unresolved) {
        return true;  // tests and fuzzing: no resolver traffic
    }
    auto resolved = look_up_host(backend.host, backend.port);
    if (const auto* reason = std::get_if<std::string>(&resolved)) {
        reader.add_error(place_of(node), fmt::format("{}cannot resolve host \"{}\": {}",
                                                     scope.owner, backend.host, *reason));
        return false;
    }
    backend.address = std::get<SocketAddress>(resolved);
    return true;
}

}  // namespace

void load_pool(TomlReader& reader, const toml::table& table, std::size_t index,
               HostNames host_names, PoolNames& pool_names, PoolConfig& pool) {
    Scope scope{fmt::format("pool #{}: ", index + 1), "[[pool]]", ""};
    reader.check_keys(table, kPoolKeys, scope.table);
    if (const auto* name = reader.string_at(table, "name", scope)) {
        pool.name = name->get();
        if (pool.name.empty()) {
            reader.add_error(place_of(*name), fmt::format("{}name must not be empty", scope.owner));
        } else {
            reader.check_name_characters(*name, pool.name, scope);
            scope.owner = fmt::format("pool \"{}\": ", json_escape(pool.name));
            auto [it, inserted] = pool_names.try_emplace(pool.name, index, place_of(*name));
            if (!inserted) {
                reader.add_error(place_of(*name),
                                 fmt::format("duplicate pool name \"{}\" (first at line {})",
                                             json_escape(pool.name), it->second.second.line));
            }
        }
    } else if (table.get("name") == nullptr) {
        reader.report_missing(table, "name", scope);
    }

    reader.read_enum(table, "algorithm", kAlgorithms, algorithm_name, scope, pool.algorithm);
    reader.read_unsigned(table, "connect_timeout_ms", kConnectTimeoutMs, scope,
                         pool.connect_timeout_ms);
    reader.read_unsigned(table, "idle_timeout_ms", kIdleTimeoutMs, scope, pool.idle_timeout_ms);
    reader.read_unsigned(table, "retries", kRetries, scope, pool.retries);
    bool table_size_valid = read_maglev_table_size(reader, table, scope, pool.maglev_table_size);
    reader.read_unsigned(table, "slow_start_ms", kSlowStartMs, scope, pool.slow_start_ms);
    reader.read_enum(table, "send_proxy", kSendProxyVersions, send_proxy_name, scope,
                     pool.send_proxy);
    reader.read_unsigned(table, "max_connection_duration_ms", kMaxConnectionDurationMs, scope,
                         pool.max_connection_duration_ms);
    reader.read_enum(table, "on_backend_down", kOnBackendDown, on_backend_down_name, scope,
                     pool.on_backend_down);
    reader.read_unsigned(table, "queue_timeout_ms", kQueueTimeoutMs, scope, pool.queue_timeout_ms);
    reader.read_unsigned(table, "resolve_interval_ms", kResolveIntervalMs, scope,
                         pool.resolve_interval_ms);

    if (const toml::node* node = table.get("health")) {
        if (const auto* health = node->as_table()) {
            pool.health = load_health(reader, *health, scope.owner);
        } else {
            reader.report_type(*node, "health", "a table ([pool.health])", scope);
        }
    }

    if (const toml::node* node = table.get("passive")) {
        if (const auto* passive = node->as_table()) {
            Scope passive_scope{scope.owner, "[pool.passive]", "passive "};
            reader.check_keys(*passive, kPassiveKeys, passive_scope.table);
            reader.read_unsigned(*passive, "consecutive_failures", kConsecutiveFailures,
                                 passive_scope, pool.passive.consecutive_failures);
            reader.read_unsigned(*passive, "ejection_ms", kEjectionMs, passive_scope,
                                 pool.passive.ejection_ms);
            reader.read_unsigned(*passive, "max_ejected_percent", kMaxEjectedPercent, passive_scope,
                                 pool.passive.max_ejected_percent);
        } else {
            reader.report_type(*node, "passive", "a table ([pool.passive])", scope);
        }
    }

    if (const toml::node* node = table.get("discovery")) {
        if (const auto* discovery = node->as_table()) {
            pool.discovery = load_discovery(reader, *discovery, scope.owner);
        } else {
            reader.report_type(*node, "discovery", "a table ([pool.discovery])", scope);
        }
    }

    // Static backends, discovered ones or both: a pool needs at least one of the two.
    Scope backend_scope{scope.owner, "[[pool.backend]]", "backend "};
    auto backend_tables = reader.tables_at(table, "backend", "[[pool.backend]]",
                                           table.get("discovery") == nullptr, scope);
    pool.backends.resize(backend_tables.size());
    // The first mention of each address, with its line, to name it in a duplicate: numeric
    // addresses by value ("[::1]:80" is "[0::1]:80"), host names by their lower-case text.
    std::vector<std::pair<SocketAddress, unsigned>> seen_numeric;
    std::map<std::string, unsigned, std::less<>> seen_hosts;
    for (std::size_t i = 0; i < backend_tables.size(); ++i) {
        const toml::table& backend_table = *backend_tables[i];
        BackendConfig& backend = pool.backends[i];
        reader.check_keys(backend_table, kBackendKeys, backend_scope.table);
        if (const auto* address = reader.string_at(backend_table, "address", backend_scope)) {
            backend.address_text = address->get();
            if (read_backend_address(reader, *address, backend_scope, host_names, backend)) {
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
                    reader.add_error(
                        place_of(*address),
                        fmt::format("{}duplicate backend address \"{}\" (first at line "
                                    "{})",
                                    scope.owner, backend.address_text, *first));
                }
            }
        } else if (backend_table.get("address") == nullptr) {
            reader.report_missing(backend_table, "address", backend_scope);
        }
        reader.read_unsigned(backend_table, "weight", kWeight, backend_scope, backend.weight);
        reader.read_unsigned(backend_table, "max_connections", kBackendMaxConnections,
                             backend_scope, backend.max_connections);
        reader.read_enum(backend_table, "state", kBackendStates, backend_state_name, backend_scope,
                         backend.state);
        reader.read_bool(backend_table, "backup", backend_scope, backend.backup);
    }

    load_sources(reader, table, scope, backend_tables, pool);
    load_tcp_options(reader, table, scope, pool.tcp);

    // Maglev gives each backend a share of the table's slots: it needs one slot per
    // backend at the very least.
    if (pool.algorithm == Algorithm::maglev && table_size_valid &&
        pool.backends.size() > pool.maglev_table_size) {
        const toml::node* size_node = table.get("maglev_table_size");
        reader.add_error(size_node != nullptr ? place_of(*size_node) : place_of(table),
                         fmt::format("{}maglev_table_size ({}) must be at least the number of "
                                     "backends ({})",
                                     scope.owner, pool.maglev_table_size, pool.backends.size()));
    }
}

}  // namespace ringlb::config::loader
