// SPDX-License-Identifier: MIT
// Loads [global]: workers, limits, log level, and the user and group to run as.
#include "global_section.hpp"

#include <fmt/format.h>

#include "lookups.hpp"
#include "schema.hpp"

namespace ringlb::config::loader {

namespace {

constexpr Range kWorkers{0, 1024};
constexpr Range kShutdownGraceMs{0, 3600000};
constexpr Range kShutdownDelayMs{0, 3600000};
constexpr Range kPipeSize{4096, 16 * 1024 * 1024};
constexpr Range kGlobalMaxConnections{0, 10000000};
constexpr Range kBatchWaitUs{0, 10000};
constexpr Splice kSpliceModes[] = {Splice::automatic, Splice::always};
constexpr ShardSteering kSteerings[] = {ShardSteering::random, ShardSteering::cpu,
                                        ShardSteering::hash};

}  // namespace

void load_global(TomlReader& reader, const toml::table& root, GlobalConfig& global) {
    const toml::node* node = root.get("global");
    if (node == nullptr) {
        return;
    }
    const auto* table = node->as_table();
    if (table == nullptr) {
        reader.report_type(*node, "global", "a table ([global])", Scope{});
        return;
    }
    Scope scope{"", "[global]", ""};
    reader.check_keys(*table, kGlobalKeys, scope.table);
    reader.read_unsigned(*table, "workers", kWorkers, scope, global.workers);
    reader.read_unsigned(*table, "shutdown_grace_ms", kShutdownGraceMs, scope,
                         global.shutdown_grace_ms);
    reader.read_unsigned(*table, "shutdown_delay_ms", kShutdownDelayMs, scope,
                         global.shutdown_delay_ms);
    reader.read_unsigned(*table, "pipe_size", kPipeSize, scope, global.pipe_size);
    reader.read_unsigned(*table, "max_connections", kGlobalMaxConnections, scope,
                         global.max_connections);
    reader.read_enum(*table, "splice", kSpliceModes, splice_name, scope, global.splice);
    reader.read_unsigned(*table, "batch_wait_us", kBatchWaitUs, scope, global.batch_wait_us);
    reader.read_enum(*table, "shard_steering", kSteerings, shard_steering_name, scope,
                     global.shard_steering);
    if (const auto* user = reader.string_at(*table, "user", scope)) {
        if (auto ids = lookup_user(user->get())) {
            global.user = user->get();
            global.uid = ids->first;
            global.gid = ids->second;
        } else {
            reader.add_error(
                place_of(*user),
                fmt::format("user \"{}\" does not exist on this machine", user->get()));
        }
    }
    if (const auto* group = reader.string_at(*table, "group", scope)) {
        if (auto gid = lookup_group(group->get())) {
            global.group = group->get();
            global.gid = *gid;
        } else {
            reader.add_error(
                place_of(*group),
                fmt::format("group \"{}\" does not exist on this machine", group->get()));
        }
    }
    if (const auto* level = reader.string_at(*table, "log_level", scope)) {
        if (auto parsed = parse_log_level(level->get())) {
            global.log_level = *parsed;
        } else {
            reader.add_error(place_of(*level),
                             fmt::format("log_level \"{}\" is not one of trace, debug, info, warn, "
                                         "error",
                                         level->get()));
        }
    }
}

}  // namespace ringlb::config::loader
