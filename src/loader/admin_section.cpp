// SPDX-License-Identifier: MIT
// Loads [admin]: its bind, the bearer tokens read from their files, and the TLS certificate
// and key, read and checked as a pair.
#include "admin_section.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "lookups.hpp"
#include "ringlb/io/tls.hpp"
#include "schema.hpp"

namespace ringlb::config::loader {

namespace {

// A token is one line; the cap keeps a wrong path (a log file, an image) from being read whole.
constexpr std::size_t kMaxTokenFileBytes = 65536;
// A certificate chain or a key in PEM; a long chain is a few tens of kilobytes.
constexpr std::size_t kMaxPemFileBytes = 1024 * 1024;

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

// Reads a PEM file named at `path_node` into `text`; false (with the error added) when it
// cannot be read.
bool read_pem(TomlReader& reader, const toml::value<std::string>& path_node, std::string_view key,
              std::string& text) {
    const std::string& path = path_node.get();
    if (path.empty() || path.find('\0') != std::string::npos) {
        reader.add_error(place_of(path_node),
                         fmt::format("admin {} must be a path without NUL characters", key));
        return false;
    }
    if (std::string problem = read_file(path, text, kMaxPemFileBytes, true); !problem.empty()) {
        reader.add_error(place_of(path_node),
                         fmt::format("admin {} \"{}\": cannot read: {}", key, path, problem));
        return false;
    }
    return true;
}

// Reads the bearer token from the file named at `path_node` (the value of `key`) into
// `token`.
void read_token(TomlReader& reader, const toml::value<std::string>& path_node, std::string_view key,
                std::string& token) {
    const std::string& path = path_node.get();
    if (path.empty()) {
        reader.add_error(place_of(path_node), fmt::format("admin {} must not be empty", key));
        return;
    }
    if (path.find('\0') != std::string::npos) {
        reader.add_error(place_of(path_node),
                         fmt::format("admin {} must not contain a NUL character", key));
        return;
    }
    std::string text;
    if (std::string problem = read_file(path, text, kMaxTokenFileBytes, true); !problem.empty()) {
        reader.add_error(place_of(path_node),
                         fmt::format("admin {} \"{}\": cannot read: {}", key, path, problem));
        return;
    }
    std::string_view line = first_line_trimmed(text);
    if (line.empty()) {
        reader.add_error(place_of(path_node),
                         fmt::format("admin {} \"{}\": the first line holds no token", key, path));
        return;
    }
    // The token is compared with an HTTP header value: it must survive being typed there.
    bool printable =
        std::all_of(line.begin(), line.end(), [](char c) { return c > ' ' && c < '\x7f'; });
    if (!printable) {
        reader.add_error(place_of(path_node),
                         fmt::format("admin {} \"{}\": the token must be printable ASCII "
                                     "without spaces",
                                     key, path));
        return;
    }
    token = std::string(line);
}

// tls_cert_file and tls_key_file: both or neither, read and checked as a pair.
void load_admin_tls(TomlReader& reader, const toml::table& table, const Scope& scope,
                    AdminConfig& admin) {
    const toml::value<std::string>* cert = reader.string_at(table, "tls_cert_file", scope);
    const toml::value<std::string>* key = reader.string_at(table, "tls_key_file", scope);
    if (cert != nullptr && key == nullptr && table.get("tls_key_file") == nullptr) {
        reader.add_error(place_of(*cert), "admin tls_cert_file needs tls_key_file as well");
    }
    if (key != nullptr && cert == nullptr && table.get("tls_cert_file") == nullptr) {
        reader.add_error(place_of(*key), "admin tls_key_file needs tls_cert_file as well");
    }
    if (cert == nullptr || key == nullptr) {
        return;
    }
    bool cert_read = read_pem(reader, *cert, "tls_cert_file", admin.tls_cert_pem);
    bool key_read = read_pem(reader, *key, "tls_key_file", admin.tls_key_pem);
    if (!cert_read || !key_read) {
        return;
    }
    if (auto problem = tls_check_pair(admin.tls_cert_pem, admin.tls_key_pem)) {
        const auto& at = problem->in_key() ? *key : *cert;
        reader.add_error(
            place_of(at),
            fmt::format("admin {} \"{}\": {}", problem->in_key() ? "tls_key_file" : "tls_cert_file",
                        at.get(), problem->what()));
        return;
    }
    admin.tls_cert_file = cert->get();
    admin.tls_key_file = key->get();
}

}  // namespace

void load_admin(TomlReader& reader, const toml::table& root, const ListenerBinds& listener_binds,
                std::optional<AdminConfig>& admin) {
    const toml::node* node = root.get("admin");
    if (node == nullptr) {
        return;
    }
    const auto* table = node->as_table();
    if (table == nullptr) {
        reader.report_type(*node, "admin", "a table ([admin])", Scope{});
        return;
    }
    Scope scope{"", "[admin]", "admin "};
    reader.check_keys(*table, kAdminKeys, scope.table);
    AdminConfig loaded;
    if (const auto* bind = reader.string_at(*table, "bind", scope)) {
        if (auto address = reader.read_address(*bind, "bind", 0, scope)) {
            loaded.bind = *address;
            auto listener = std::find_if(listener_binds.begin(), listener_binds.end(),
                                         [&](const auto& b) { return b.first == *address; });
            if (address->port() != 0 && listener != listener_binds.end()) {
                reader.add_error(place_of(*bind),
                                 fmt::format("admin bind address {} is already used by listener "
                                             "\"{}\"",
                                             address->to_string(), listener->second));
            }
        }
    } else if (table->get("bind") == nullptr) {
        reader.report_missing(*table, "bind", scope);
    }
    const toml::value<std::string>* token_file = reader.string_at(*table, "token_file", scope);
    if (token_file != nullptr) {
        loaded.token_file = token_file->get();
        read_token(reader, *token_file, "token_file", loaded.token);
    }
    const toml::value<std::string>* read_token_file =
        reader.string_at(*table, "read_token_file", scope);
    if (read_token_file != nullptr) {
        loaded.read_token_file = read_token_file->get();
        read_token(reader, *read_token_file, "read_token_file", loaded.read_token);
        if (!loaded.read_token.empty() && loaded.read_token == loaded.token) {
            reader.add_error(place_of(*read_token_file),
                             "admin read_token_file holds the same token as token_file: the read "
                             "token must differ, or it would allow everything");
        }
    }
    reader.read_bool(*table, "allow_without_token", scope, loaded.allow_without_token);
    const toml::node* bind_node = table->get("bind");
    if (bind_node != nullptr && loaded.bind.family() != AF_UNSPEC && loaded.open_to_network() &&
        !loaded.allow_without_token) {
        reader.add_error(place_of(*bind_node),
                         fmt::format("admin bind {} is not a loopback address and no token is "
                                     "set: anyone who reaches it could drain or disable every "
                                     "backend. Set token_file (and read_token_file for scrapers), "
                                     "or write allow_without_token = true to serve it open",
                                     loaded.bind.to_string()));
    }
    load_admin_tls(reader, *table, scope, loaded);
    admin = std::move(loaded);
}

}  // namespace ringlb::config::loader
