// SPDX-License-Identifier: MIT
// The loader's generic TOML readers and the collector of their diagnostics.
#include "readers.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

#include "ringlb/base/escape.hpp"

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

namespace loader {

namespace {

// Why parse_cidr refused `text`, phrased to follow "<key> entry ".
std::string why_not_cidr(const std::string& text) {
    // Host bits set is the one mistake worth a precise hint: the network it likely meant.
    auto slash = text.find('/');
    if (slash != std::string::npos) {
        auto address = parse_cidr(std::string_view(text).substr(0, slash));
        auto prefix_text = std::string_view(text).substr(slash + 1);
        unsigned prefix = 0;
        auto [end, error] =
            std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), prefix);
        if (address && error == std::errc{} && end == prefix_text.data() + prefix_text.size() &&
            !prefix_text.empty() && prefix <= address->prefix) {
            auto network_bytes = address->bytes;
            for (unsigned bit = prefix; bit < address->prefix; ++bit) {
                network_bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
            }
            std::array<char, INET6_ADDRSTRLEN> network{};
            if (network_bytes != address->bytes &&
                inet_ntop(address->family, network_bytes.data(), network.data(), network.size()) !=
                    nullptr) {
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

}  // namespace

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

void TomlReader::add_error(Place place, std::string message) {
    errors_.push_back(Diagnostic{source_, place.line, place.column, std::move(message)});
}

void TomlReader::check_keys(const toml::table& table, std::span<const std::string_view> allowed,
                            std::string_view table_name) {
    for (auto&& [key, node] : table) {
        if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
            add_error(place_of(key),
                      fmt::format("unknown key \"{}\" in {}", key.str(), table_name));
        }
    }
}

void TomlReader::report_missing(const toml::table& table, std::string_view key,
                                const Scope& scope) {
    add_error(place_of(table),
              fmt::format("{}missing required key \"{}\" in {}", scope.owner, key, scope.table));
}

void TomlReader::report_type(const toml::node& node, std::string_view key,
                             std::string_view expected, const Scope& scope) {
    add_error(place_of(node), fmt::format("{}{}key \"{}\" must be {}, got {}", scope.owner,
                                          scope.subject, key, expected, type_name(node)));
}

const toml::value<std::string>* TomlReader::string_at(const toml::table& table,
                                                      std::string_view key, const Scope& scope) {
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

const toml::node* TomlReader::read_bool(const toml::table& table, std::string_view key,
                                        const Scope& scope, bool& out) {
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

const toml::array* TomlReader::read_cidrs(const toml::table& table, std::string_view key,
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
            add_error(place_of(element),
                      fmt::format("{}{} entry {}", scope.owner, key, why_not_cidr(text->get())));
        }
    }
    return array;
}

std::vector<const toml::table*> TomlReader::tables_at(const toml::table& parent,
                                                      std::string_view key,
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
                  fmt::format("{}key \"{}\" must be an array of tables ({}), got {}", scope.owner,
                              key, table_name, type_name(*node)));
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

std::optional<SocketAddress> TomlReader::read_address(const toml::value<std::string>& node,
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

void TomlReader::check_name_characters(const toml::node& node, const std::string& name,
                                       const Scope& scope) {
    if (auto found = find_control_character(name)) {
        add_error(place_of(node),
                  fmt::format("{}name \"{}\" contains the control character U+{:04X} (byte "
                              "{}); names appear in logs and metrics and may not",
                              scope.owner, json_escape(name),
                              static_cast<unsigned>(found->code_point), found->offset + 1));
    }
}

}  // namespace loader

}  // namespace ringlb::config
