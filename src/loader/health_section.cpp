// SPDX-License-Identifier: MIT
// Loads a [pool.health] table: interval, timeout, rise/fall, and what a probe checks (connect,
// send_expect, http) with the keys each type takes.
#include "health_section.hpp"

#include <algorithm>
#include <string_view>

#include <fmt/format.h>

#include "ringlb/base/escape.hpp"
#include "schema.hpp"

namespace ringlb::config::loader {

namespace {

constexpr Range kHealthIntervalMs{100, 3600000};
constexpr Range kHealthTimeoutMs{1, 3600000};
constexpr Range kRiseFall{1, 1000};
constexpr Range kHealthPort{1, 65535};
constexpr Range kAgentPort{0, 65535};  // 0 = no agent
constexpr unsigned kDefaultHealthTimeoutMs = 1000;
// An agent's reply is one line of at most kMaxAgentReply bytes (health/agent_reply.hpp); what
// it is sent is held to the same size.
constexpr std::size_t kMaxAgentSend = 1024;
// A probe reads at most this much of a reply, so a longer `expect` could never match; `send`
// is held to the same size.
constexpr std::size_t kMaxCheckText = 16384;

constexpr HealthCheckType kCheckTypes[] = {HealthCheckType::connect, HealthCheckType::send_expect,
                                           HealthCheckType::http};
constexpr SendProxy kSendProxyVersions[] = {SendProxy::none, SendProxy::v1, SendProxy::v2};

bool has_control_or_space(std::string_view text) noexcept {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte <= 0x20 || byte == 0x7f;
    });
}

// Reports each key of `keys` present in `table` when the check type is not `type`.
void only_with(TomlReader& reader, const toml::table& table, HealthCheckType actual,
               HealthCheckType type, std::initializer_list<std::string_view> keys,
               const std::string& owner) {
    if (actual == type) {
        return;
    }
    for (std::string_view key : keys) {
        if (const toml::node* node = table.get(key)) {
            reader.add_error(
                place_of(*node),
                fmt::format("{}health {} is only for type = \"{}\" (type is \"{}\")", owner, key,
                            health_check_type_name(type), health_check_type_name(actual)));
        }
    }
}

// The string at `key` into `out`, at most kMaxCheckText bytes; returns its node when stored.
const toml::value<std::string>* read_check_text(TomlReader& reader, const toml::table& table,
                                                std::string_view key, const Scope& scope,
                                                std::string& out) {
    const auto* text = reader.string_at(table, key, scope);
    if (text == nullptr) {
        return nullptr;
    }
    if (text->get().size() > kMaxCheckText) {
        reader.add_error(place_of(*text),
                         fmt::format("{}health {} is {} bytes long; at most {}", scope.owner, key,
                                     text->get().size(), kMaxCheckText));
        return nullptr;
    }
    out = text->get();
    return text;
}

void load_protocol(TomlReader& reader, const toml::table& table, const Scope& scope,
                   HealthConfig& health) {
    const std::string& owner = scope.owner;
    reader.read_enum(table, "type", kCheckTypes, health_check_type_name, scope, health.type);
    only_with(reader, table, health.type, HealthCheckType::send_expect, {"send", "expect"}, owner);
    only_with(reader, table, health.type, HealthCheckType::http,
              {"http_path", "http_host", "expect_status"}, owner);
    if (health.type == HealthCheckType::send_expect) {
        (void)read_check_text(reader, table, "send", scope, health.send);
        const auto* expect = read_check_text(reader, table, "expect", scope, health.expect);
        if (expect != nullptr && health.expect.empty()) {
            reader.add_error(place_of(*expect),
                             fmt::format("{}health expect must not be empty: every reply would "
                                         "pass; use type = \"connect\" for that",
                                         owner));
        } else if (table.get("expect") == nullptr) {
            reader.report_missing(table, "expect", scope);
        }
    }
    if (health.type == HealthCheckType::http) {
        if (const auto* path = reader.string_at(table, "http_path", scope)) {
            const std::string& text = path->get();
            if (text.empty() || text.front() != '/' || has_control_or_space(text)) {
                reader.add_error(place_of(*path),
                                 fmt::format("{}health http_path \"{}\" must start with \"/\" and "
                                             "hold no space or control character",
                                             owner, json_escape(text)));
            } else {
                health.http_path = text;
            }
        }
        if (const auto* host = reader.string_at(table, "http_host", scope)) {
            const std::string& text = host->get();
            if (text.empty() || has_control_or_space(text)) {
                reader.add_error(place_of(*host),
                                 fmt::format("{}health http_host \"{}\" must be non-empty and hold "
                                             "no space or control character",
                                             owner, json_escape(text)));
            } else {
                health.http_host = text;
            }
        }
        if (const auto* statuses = reader.string_at(table, "expect_status", scope)) {
            std::string error;
            if (auto ranges = parse_status_ranges(statuses->get(), error)) {
                health.expect_status = std::move(*ranges);
            } else {
                reader.add_error(place_of(*statuses),
                                 fmt::format("{}health expect_status: {}", owner, error));
            }
        }
    }
    reader.read_unsigned(table, "port", kHealthPort, scope, health.port);
    SendProxy send_proxy = SendProxy::none;
    if (table.get("send_proxy") != nullptr) {
        reader.read_enum(table, "send_proxy", kSendProxyVersions, send_proxy_name, scope,
                         send_proxy);
        health.send_proxy = send_proxy;
    }
}

// agent_port, agent_interval_ms (default: interval_ms) and agent_send.
void load_agent(TomlReader& reader, const toml::table& table, const Scope& scope,
                HealthConfig& health, bool interval_valid) {
    const std::string& owner = scope.owner;
    reader.read_unsigned(table, "agent_port", kAgentPort, scope, health.agent_port);
    if (reader.read_unsigned(table, "agent_interval_ms", kHealthIntervalMs, scope,
                             health.agent_interval_ms) &&
        interval_valid && health.agent_interval_ms < health.timeout_ms) {
        reader.add_error(place_of(*table.get("agent_interval_ms")),
                         fmt::format("{}health agent_interval_ms ({}) must not be less than "
                                     "timeout_ms ({}), which agent probes follow too",
                                     owner, health.agent_interval_ms, health.timeout_ms));
    }
    if (const auto* send = reader.string_at(table, "agent_send", scope)) {
        if (send->get().size() > kMaxAgentSend) {
            reader.add_error(place_of(*send),
                             fmt::format("{}health agent_send is {} bytes long; at most {}", owner,
                                         send->get().size(), kMaxAgentSend));
        } else {
            health.agent_send = send->get();
        }
    }
    // A forgotten agent_port would leave the agent silently off; an explicit 0 turns it off
    // and may keep the rest (a reload can turn it on again).
    if (table.get("agent_port") == nullptr) {
        for (std::string_view key : {"agent_interval_ms", "agent_send"}) {
            if (const toml::node* node = table.get(key)) {
                reader.add_error(place_of(*node),
                                 fmt::format("{}health {} needs agent_port", owner, key));
            }
        }
    }
    if (health.agent_interval_ms == 0) {
        health.agent_interval_ms = health.interval_ms;
    }
}

}  // namespace

HealthConfig load_health(TomlReader& reader, const toml::table& table, const std::string& owner) {
    Scope scope{owner, "[pool.health]", "health "};
    HealthConfig health;
    reader.check_keys(table, kHealthKeys, scope.table);
    // A rejected interval must not make a sound timeout look too long as well.
    bool interval_valid =
        reader.read_unsigned(table, "interval_ms", kHealthIntervalMs, scope, health.interval_ms) ||
        table.get("interval_ms") == nullptr;
    // Without an explicit timeout, a short interval shortens the default timeout with it,
    // so that `interval_ms = 500` alone is a valid section.
    health.timeout_ms = std::min(kDefaultHealthTimeoutMs, health.interval_ms);
    if (reader.read_unsigned(table, "timeout_ms", kHealthTimeoutMs, scope, health.timeout_ms) &&
        interval_valid && health.timeout_ms > health.interval_ms) {
        reader.add_error(place_of(*table.get("timeout_ms")),
                         fmt::format("{}health timeout_ms ({}) must not exceed interval_ms ({})",
                                     owner, health.timeout_ms, health.interval_ms));
    }
    reader.read_unsigned(table, "rise", kRiseFall, scope, health.rise);
    reader.read_unsigned(table, "fall", kRiseFall, scope, health.fall);
    load_protocol(reader, table, scope, health);
    load_agent(reader, table, scope, health, interval_valid);
    return health;
}

}  // namespace ringlb::config::loader
