// SPDX-License-Identifier: MIT
// The loader's generic TOML readers: typed values out of a table, each problem collected with
// its place as a Diagnostic. Private to src/loader/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "ringlb/base/cidr.hpp"
#include "ringlb/base/socket_address.hpp"
#include "ringlb/loader/loader.hpp"

namespace ringlb::config::loader {

// The inclusive bounds of an integer key.
struct Range final {
    std::int64_t min;
    std::int64_t max;
};

struct Place final {
    unsigned line = 0;
    unsigned column = 0;
};

[[nodiscard]] inline Place place_of(const toml::source_region& region) noexcept {
    return {region.begin.line, region.begin.column};
}
[[nodiscard]] inline Place place_of(const toml::node& node) noexcept {
    return place_of(node.source());
}
[[nodiscard]] inline Place place_of(const toml::key& key) noexcept {
    return place_of(key.source());
}

// The TOML type of a node, as a user would name it in a message.
[[nodiscard]] std::string_view type_name(const toml::node& node) noexcept;

// The port of "host:port" text when it ends in ":<digits>", saturated at UINT64_MAX; lets an
// out-of-range port get its own message instead of "not a valid address".
[[nodiscard]] std::optional<std::uint64_t> trailing_port(std::string_view text) noexcept;

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

// Who a message is about. `owner` prefixes every message ("pool \"api\": "), `table` names the
// TOML table in unknown/missing key messages, `subject` qualifies a key in value messages
// ("backend " gives "backend weight must be ...").
struct Scope final {
    std::string owner;
    std::string_view table;
    std::string_view subject;
};

// Reads typed values out of the tables of one config and collects every problem it meets,
// with its place in `source`. A reader reports and carries on, so that one load reports every
// problem; a read stores only what it accepted, and an absent key leaves the default.
class TomlReader final {
  public:
    explicit TomlReader(std::string source) : source_(std::move(source)) {}

    [[nodiscard]] const std::string& source() const noexcept { return source_; }

    // The problems reported so far, in the order they were found; empties the reader.
    [[nodiscard]] std::vector<Diagnostic> take_errors() noexcept {
        return std::exchange(errors_, {});
    }

    void add_error(Place place, std::string message);

    // Reports every key of `table` that is not one of `allowed` (the schema, schema.hpp).
    void check_keys(const toml::table& table, std::span<const std::string_view> allowed,
                    std::string_view table_name);

    void report_missing(const toml::table& table, std::string_view key, const Scope& scope);

    void report_type(const toml::node& node, std::string_view key, std::string_view expected,
                     const Scope& scope);

    // The string at `key`, or nullptr when it is absent or (reported) not a string.
    [[nodiscard]] const toml::value<std::string>* string_at(const toml::table& table,
                                                            std::string_view key,
                                                            const Scope& scope);

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
                                bool& out);

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
                                  const Scope& scope, std::vector<Cidr>& out);

    // The tables of the array of tables at `key`. Reports a value of another shape, entries
    // that are not tables, and (with `required`) an absent or empty array.
    [[nodiscard]] std::vector<const toml::table*> tables_at(const toml::table& parent,
                                                            std::string_view key,
                                                            std::string_view table_name,
                                                            bool required, const Scope& scope);

    // Parses the address string at `key`; `min_port` is 0 for binds and 1 for backends.
    [[nodiscard]] std::optional<SocketAddress> read_address(const toml::value<std::string>& node,
                                                            std::string_view key, unsigned min_port,
                                                            const Scope& scope);

    // Names go into log lines, Prometheus labels and JSON: a control character in one could
    // forge a log line or break a scrape (the Prometheus format cannot escape most of them),
    // so it is an error at the name. Messages show the name JSON-escaped.
    void check_name_characters(const toml::node& node, const std::string& name, const Scope& scope);

  private:
    std::string source_;
    std::vector<Diagnostic> errors_;
};

}  // namespace ringlb::config::loader
