// SPDX-License-Identifier: MIT
// Admin routes: Prometheus metrics, health, JSON status and backend state/weight actions.
#include "ringlb/admin/admin_api.hpp"

#include <charconv>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "connection_metrics.hpp"
#include "ringlb/admin/stats_page.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/escape.hpp"
#include "ringlb/base/log.hpp"
#include "status_settings.hpp"

namespace ringlb {

namespace {

// Percent-decodes a path segment ("%5B%3A%3A1%5D%3A80" -> "[::1]:80"); nullopt when malformed.
std::optional<std::string> decode_segment(std::string_view segment) {
    std::string out;
    for (std::size_t i = 0; i < segment.size(); ++i) {
        if (segment[i] != '%') {
            out += segment[i];
            continue;
        }
        unsigned value = 0;
        if (i + 2 >= segment.size()) {
            return std::nullopt;
        }
        auto [end, error] =
            std::from_chars(segment.data() + i + 1, segment.data() + i + 3, value, 16);
        if (error != std::errc{} || end != segment.data() + i + 3) {
            return std::nullopt;
        }
        out += static_cast<char>(value);
        i += 2;
    }
    return out;
}

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> parts;
    while (!path.empty()) {
        if (path.front() == '/') {
            path.remove_prefix(1);
            continue;
        }
        const std::size_t slash = path.find('/');
        parts.push_back(path.substr(0, slash));
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash);
    }
    return parts;
}

HttpResponse reply(int status, std::string_view content_type, std::string body) {
    HttpResponse response;
    response.status = status;
    response.content_type = content_type;
    response.body = std::move(body);
    return response;
}

HttpResponse text(int status, std::string body) {
    return reply(status, "text/plain; charset=utf-8", std::move(body));
}

HttpResponse json(int status, std::string body) {
    return reply(status, "application/json", std::move(body));
}

HttpResponse error_json(int status, std::string_view message) {
    return json(status, fmt::format("{{\"error\":\"{}\"}}\n", json_escape(message)));
}

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// The agent check's words for a drain or maint of its own: "ready", "drain", "maint".
std::string_view agent_state_name(config::BackendState state) noexcept {
    switch (state) {
        case config::BackendState::active:
            return "ready";
        case config::BackendState::drain:
            return "drain";
        case config::BackendState::disabled:
            return "maint";
    }
    return "ready";
}

// `,"agent":"75% drain up","agent_weight_percent":…,"agent_state":…,"agent_down":…,
// "agent_check":…,"agent_check_reason":…,"agent_unknown_words":…` (a leading comma): the agent
// check's last verdict and how its last probe ended ("none" before the first).
std::string agent_fields(const Backend& backend) {
    const std::uint32_t percent = backend.agent_weight_percent.load();
    const std::string_view state = agent_state_name(backend.agent_state.load());
    const bool down = backend.agent_down.load();
    return fmt::format(
        ",\"agent\":\"{}% {} {}\",\"agent_weight_percent\":{},\"agent_state\":\"{}\","
        "\"agent_down\":{},\"agent_check\":\"{}\",\"agent_check_reason\":\"{}\","
        "\"agent_unknown_words\":{}",
        percent, state, down ? "down" : "up", percent, state, down ? "true" : "false",
        check_result_name(backend.last_agent_check()),
        json_escape(backend.last_agent_check_reason()), backend.agent_unknown_words.load());
}

// The fields of a backend's object, without the braces; the agent's only in a pool with an
// agent check (the stats page shows its agent column when they are there).
std::string backend_fields(const BackendPool& pool, const Backend& backend) {
    const auto& health = pool.config().health;
    const bool has_agent = health && health->agent_port != 0;
    const std::uint64_t connect_failures =
        backend.connect_refused.load() + backend.connect_timeout.load() +
        backend.connect_error.load() + backend.connect_no_port.load() +
        backend.connect_no_source.load();
    return fmt::format(
               "\"address\":\"{}\",\"resolved\":\"{}\",\"state\":\"{}\",\"healthy\":{},"
               "\"weight\":{},\"active\":{},\"max_connections\":{},\"connections_total\":{},"
               "\"bytes_in\":{},\"bytes_out\":{},\"pool\":\"{}\",\"origin\":\"{}\",\"priority\":{},"
               "\"backup\":{},\"ejected\":{},\"passive_failures\":{},\"ejections_total\":{},"
               "\"check\":\"{}\",\"check_reason\":\"{}\",\"connect_failures\":{}",
               json_escape(backend.name), json_escape(backend.address_snapshot().to_string()),
               config::backend_state_name(backend.state.load()),
               backend.healthy.load() ? "true" : "false", backend.weight.load(),
               backend.active.load(), backend.max_connections.load(),
               backend.connections_total.load(), backend.bytes_in.load(), backend.bytes_out.load(),
               json_escape(pool.name()), backend_origin_name(backend.origin),
               backend.priority.load(), backend.backup.load() ? "true" : "false",
               backend.ejected.load() ? "true" : "false", backend.passive_failures.load(),
               backend.ejections_total.load(), check_result_name(backend.last_check()),
               json_escape(backend.last_check_reason()), connect_failures) +
           (has_agent ? agent_fields(backend) : std::string());
}

std::string backend_json(const BackendPool& pool, const Backend& backend) {
    return "{" + backend_fields(pool, backend) + "}";
}

// `,"last_check":{"result":"ok"|"<why it failed>","age_ms":N}` (a leading comma); null while
// no check has finished (or the pool has none).
std::string last_check_field(const Backend& backend, std::uint64_t now_ms) {
    const CheckResult result = backend.last_check();
    if (result == CheckResult::none) {
        return ",\"last_check\":null";
    }
    const std::uint64_t at = backend.last_check_ms.load(std::memory_order_relaxed);
    return fmt::format(
        ",\"last_check\":{{\"result\":\"{}\",\"age_ms\":{}}}",
        result == CheckResult::passed ? "ok" : json_escape(backend.last_check_reason()),
        now_ms > at ? now_ms - at : 0);
}

// `,"new_connections_per_s":…,"bytes_in_per_s":…,"bytes_out_per_s":…` (a leading comma).
std::string rate_fields(const StatusRates::Rate& rate) {
    return fmt::format(
        ",\"new_connections_per_s\":{:.2f},\"bytes_in_per_s\":{:.0f},"
        "\"bytes_out_per_s\":{:.0f}",
        rate.connections, rate.bytes_in, rate.bytes_out);
}

// Connections of the listener that ended in an error rather than a close, a rule or a limit
// (docs/ADMIN.md, /status): resets, failed connects, no backend, a full ring, internal errors,
// and the clients closed before they had a slot.
std::uint64_t listener_errors(const ListenerStats& stats) {
    std::uint64_t errors = stats.rejected[static_cast<std::size_t>(Rejection::no_fd)].load() +
                           stats.rejected[static_cast<std::size_t>(Rejection::no_slot)].load();
    for (Termination reason :
         {Termination::client_reset, Termination::backend_reset, Termination::connect_failed,
          Termination::no_backend, Termination::ring_full, Termination::internal_error}) {
        errors += stats.closed(reason);
    }
    return errors;
}

std::string render_status(const Control& control, StatusRates& rates) {
    std::shared_ptr<Generation> generation = control.generation();
    const std::uint64_t now_ms = monotonic_ms();
    rates.sample(*generation, now_ms);
    const std::uint64_t open = control.open_connections.load(std::memory_order_relaxed);
    std::string out = fmt::format(
        "{{\"version\":\"{}\",\"generation\":{},\"shutting_down\":{},\"connections_open\":{},"
        "\"max_connections\":{},\"shard_steering\":\"{}\",\"reloads_succeeded\":{},"
        "\"reloads_failed\":{},\"rate_window_ms\":{},\"listeners\":[",
        RINGLB_VERSION, generation->id, control.shutting_down.load() ? "true" : "false", open,
        control.max_connections.load(),
        config::shard_steering_name(generation->config.global.shard_steering),
        control.reloads_succeeded.load(), control.reloads_failed.load(), rates.window_ms());
    bool first = true;
    for (const ListenerRuntime& listener : generation->listeners) {
        fmt::format_to(
            std::back_inserter(out),
            "{}{{\"name\":\"{}\",\"bind\":\"{}\",\"pool\":\"{}\",\"accepted\":{},"
            "\"errors\":{},\"new_connections_per_s\":{:.2f}{}}}",
            first ? "" : ",", json_escape(listener.config.name),
            json_escape(listener.config.bind.to_string()), json_escape(listener.config.pool),
            listener.stats->accepted.load(), listener_errors(*listener.stats),
            rates.listener(listener.config.name).connections, listener_settings_json(listener));
        first = false;
    }
    out += "],\"pools\":[";
    first = true;
    for (std::size_t p = 0; p < generation->pools.size(); ++p) {
        const BackendPool& pool = *generation->pools[p];
        fmt::format_to(std::back_inserter(out),
                       "{}{{\"name\":\"{}\",\"algorithm\":\"{}\",\"health_checks\":{},"
                       "\"live\":{},\"max_connection_duration_ms\":{},\"on_backend_down\":\"{}\","
                       "\"queue_timeout_ms\":{},\"queue_length\":{},\"queued_total\":{},"
                       "\"queue_timeouts\":{},",
                       first ? "" : ",", json_escape(pool.name()),
                       config::algorithm_name(pool.config().algorithm),
                       pool.config().health ? "true" : "false", pool.live_count(),
                       pool.config().max_connection_duration_ms,
                       config::on_backend_down_name(pool.config().on_backend_down),
                       pool.config().queue_timeout_ms, pool.queue().length(),
                       pool.queue().queued_total.load(std::memory_order_relaxed),
                       pool.queue().timeouts_total.load(std::memory_order_relaxed));
        out += pool_socket_settings_json(pool.config());
        first = false;
        if (const auto& discovery = pool.config().discovery) {
            const DiscoveryStats& stats = *generation->discovery[p];
            const auto last = static_cast<DiscoveryResult>(stats.last.load());
            fmt::format_to(std::back_inserter(out),
                           "\"discovery\":{{\"dns_srv\":\"{}\",\"answered\":{},"
                           "\"last_result\":\"{}\"}},",
                           json_escape(discovery->dns_srv),
                           stats.answered.load() ? "true" : "false",
                           last == DiscoveryResult::count_ ? "none" : discovery_result_name(last));
        }
        out += "\"backends\":[";
        bool first_backend = true;
        StatusRates::Rate pool_rate;
        for (const auto& backend : pool.members()) {
            const StatusRates::Rate rate = rates.backend(pool.name(), backend->name);
            pool_rate.connections += rate.connections;
            pool_rate.bytes_in += rate.bytes_in;
            pool_rate.bytes_out += rate.bytes_out;
            out += (first_backend ? "{" : ",{");
            out += backend_fields(pool, *backend);
            out += rate_fields(rate);
            out += last_check_field(*backend, now_ms);
            out += "}";
            first_backend = false;
        }
        out += "]";
        out += rate_fields(pool_rate);
        out += "}";
    }
    out += "]}\n";
    return out;
}

// GET /healthz: 503 while shutting down (from the signal on: global.shutdown_delay_ms keeps
// the listeners open meanwhile), and while a pool with DNS discovery has had no answer
// yet, so that a routing layer that follows it sends clients only to a host that can serve
// them.
HttpResponse healthz(const Control& control) {
    if (control.shutting_down.load()) {
        return text(503, "shutting down\n");
    }
    std::shared_ptr<Generation> generation = control.generation();
    for (std::size_t p = 0; p < generation->pools.size(); ++p) {
        const auto& stats = generation->discovery[p];
        if (stats && !stats->answered.load()) {
            return text(503, fmt::format("starting: pool {} has no DNS answer yet\n",
                                         generation->pools[p]->name()));
        }
    }
    return text(200, "ok\n");
}

// POST /pools/{pool}/backends/{address}/{drain|enable|disable|weight}
HttpResponse backend_action(Control& control, const HttpRequest& request,
                            const std::vector<std::string_view>& parts) {
    std::optional<std::string> pool_name = decode_segment(parts[1]);
    std::optional<std::string> address = decode_segment(parts[3]);
    if (!pool_name || !address) {
        return error_json(400, "malformed percent-encoding in the path");
    }
    const std::string_view action = parts[4];
    if (action != "drain" && action != "enable" && action != "disable" && action != "weight") {
        return error_json(404, "unknown action; use drain, enable, disable or weight");
    }
    if (request.method != "POST") {
        HttpResponse response = error_json(405, "use POST");
        response.headers.emplace_back("Allow", "POST");
        return response;
    }
    std::shared_ptr<Generation> generation = control.generation();
    BackendPool* pool = generation->find_pool(*pool_name);
    if (pool == nullptr) {
        return error_json(404, fmt::format("no pool named {}", *pool_name));
    }
    const std::shared_ptr<Backend> found = pool->find(*address);
    if (!found) {
        return error_json(404, fmt::format("pool {} has no backend {}", *pool_name, *address));
    }
    Backend& backend = *found;
    const std::uint64_t now = monotonic_ms();
    if (action == "weight") {
        std::optional<std::string_view> value = query_param(request.query, "value");
        unsigned weight = 0;
        if (!value || value->empty() ||
            std::from_chars(value->data(), value->data() + value->size(), weight).ptr !=
                value->data() + value->size() ||
            weight < 1 || weight > 1000) {
            return error_json(400, "weight needs ?value=N with N in 1..1000");
        }
        backend.weight.store(weight, std::memory_order_relaxed);
    } else {
        const config::BackendState next = action == "drain"    ? config::BackendState::drain
                                          : action == "enable" ? config::BackendState::active
                                                               : config::BackendState::disabled;
        const config::BackendState before = backend.state.exchange(next);
        if (next == config::BackendState::active && before != config::BackendState::active) {
            backend.up_since_ms.store(now, std::memory_order_relaxed);  // slow start again
        }
    }
    pool->refresh(now, control.epochs);  // new connections see it from now on
    log_info("admin: {} pool={} backend={} state={} weight={}", action, pool->name(), backend.name,
             config::backend_state_name(backend.state.load()), backend.weight.load());
    return json(200, backend_json(*pool, backend) + "\n");
}

}  // namespace

std::string render_metrics(const Control& control, const HttpServerStats& admin_stats) {
    std::shared_ptr<Generation> generation = control.generation();
    std::string out;
    auto line = [&out](std::string_view name, std::string_view labels, std::uint64_t value) {
        fmt::format_to(std::back_inserter(out), "{}{{{}}} {}\n", name, labels, value);
    };

    family(out, "ringlb_build_info", "gauge", "Version of the running ringlb.");
    line("ringlb_build_info", fmt::format("version=\"{}\"", RINGLB_VERSION), 1);

    family(out, "ringlb_connections_accepted_total", "counter",
           "Client connections accepted, by listener.");
    for (const ListenerRuntime& listener : generation->listeners) {
        line("ringlb_connections_accepted_total",
             fmt::format("listener=\"{}\"", prometheus_escape(listener.config.name)),
             listener.stats->accepted.load(std::memory_order_relaxed));
    }
    family(out, "ringlb_connections_rejected_total", "counter",
           "Client connections closed without being relayed, by listener and reason.");
    for (const ListenerRuntime& listener : generation->listeners) {
        for (std::size_t i = 0; i < static_cast<std::size_t>(Rejection::count_); ++i) {
            line("ringlb_connections_rejected_total",
                 fmt::format("listener=\"{}\",reason=\"{}\"",
                             prometheus_escape(listener.config.name),
                             rejection_name(static_cast<Rejection>(i))),
                 listener.stats->rejected[i].load(std::memory_order_relaxed));
        }
    }
    append_closed_metrics(out, *generation);
    append_backend_latency_metrics(out, *generation);
    family(out, "ringlb_tls_routing_total", "counter",
           "Clients of listeners with routes, by listener and result: routed (a route took "
           "it), default (no route took it: the listener's pool), timeout (its ClientHello was not "
           "whole "
           "within tls_inspect_timeout_ms: the listener's pool).");
    for (const ListenerRuntime& listener : generation->listeners) {
        if (listener.routes.empty()) {
            continue;
        }
        const std::string name = prometheus_escape(listener.config.name);
        line("ringlb_tls_routing_total", fmt::format("listener=\"{}\",result=\"routed\"", name),
             listener.stats->routed.load(std::memory_order_relaxed));
        line("ringlb_tls_routing_total", fmt::format("listener=\"{}\",result=\"default\"", name),
             listener.stats->unrouted.load(std::memory_order_relaxed));
        line("ringlb_tls_routing_total", fmt::format("listener=\"{}\",result=\"timeout\"", name),
             listener.stats->inspect_timeouts.load(std::memory_order_relaxed));
    }

    // One snapshot of each pool's members for the whole scrape: DNS discovery may change them
    // meanwhile, and every family must list the same backends.
    std::vector<std::vector<std::shared_ptr<Backend>>> members;
    for (const auto& pool : generation->pools) {
        members.push_back(pool->members());
    }
    auto per_backend = [&](std::string_view name, std::string_view type, std::string_view help,
                           auto&& emit) {
        family(out, name, type, help);
        for (std::size_t p = 0; p < generation->pools.size(); ++p) {
            const BackendPool& pool = *generation->pools[p];
            for (const auto& backend : members[p]) {
                const std::string labels =
                    fmt::format("pool=\"{}\",backend=\"{}\"", prometheus_escape(pool.name()),
                                prometheus_escape(backend->name));
                emit(labels, *backend);
            }
        }
    };
    per_backend("ringlb_connections_active", "gauge", "Connections open to each backend now.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_connections_active", labels, backend.active.load());
                });
    per_backend(
        "ringlb_backend_connections_total", "counter", "Connections established to each backend.",
        [&](const std::string& labels, const Backend& backend) {
            line("ringlb_backend_connections_total", labels, backend.connections_total.load());
        });
    per_backend("ringlb_backend_bytes_total", "counter",
                "Bytes relayed: in = client to backend, out = backend to client.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_bytes_total", labels + ",direction=\"in\"",
                         backend.bytes_in.load());
                    line("ringlb_backend_bytes_total", labels + ",direction=\"out\"",
                         backend.bytes_out.load());
                });
    per_backend("ringlb_backend_connect_failures_total", "counter",
                "Failed connects to each backend, by reason.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_connect_failures_total", labels + ",reason=\"refused\"",
                         backend.connect_refused.load());
                    line("ringlb_backend_connect_failures_total", labels + ",reason=\"timeout\"",
                         backend.connect_timeout.load());
                    line("ringlb_backend_connect_failures_total", labels + ",reason=\"error\"",
                         backend.connect_error.load());
                    // pool.source: no local port left (EADDRNOTAVAIL), no usable source.
                    line("ringlb_backend_connect_failures_total", labels + ",reason=\"no_port\"",
                         backend.connect_no_port.load());
                    line("ringlb_backend_connect_failures_total", labels + ",reason=\"no_source\"",
                         backend.connect_no_source.load());
                });
    per_backend("ringlb_backend_up", "gauge", "1 when health checks find the backend up.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_up", labels, backend.healthy.load() ? 1 : 0);
                });
    per_backend("ringlb_backend_ejected", "gauge",
                "1 while passive ejection (pool.passive) keeps the backend out.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_ejected", labels, backend.ejected.load() ? 1 : 0);
                });
    per_backend("ringlb_backend_ejections_total", "counter",
                "Passive ejections of each backend (failures in a row reached "
                "pool.passive.consecutive_failures).",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_ejections_total", labels, backend.ejections_total.load());
                });
    per_backend("ringlb_backend_ejections_overflow_total", "counter",
                "Failure streaks that did not eject the backend because "
                "pool.passive.max_ejected_percent of its pool was out already.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_ejections_overflow_total", labels,
                         backend.ejections_overflow.load());
                });
    // One sample per probe result (every one but the first, "none", which is never counted).
    auto per_result = [&](std::string_view name, const std::string& labels, auto&& count) {
        for (std::size_t r = 1; r < kCheckResults; ++r) {
            const auto result = static_cast<CheckResult>(r);
            line(name, labels + fmt::format(",result=\"{}\"", check_result_name(result)),
                 count(result));
        }
    };
    per_backend("ringlb_health_checks_total", "counter",
                "Health probes of each backend, by result.",
                [&](const std::string& labels, const Backend& backend) {
                    per_result("ringlb_health_checks_total", labels,
                               [&](CheckResult result) { return backend.checks(result); });
                });
    per_backend("ringlb_agent_checks_total", "counter",
                "Agent check probes of each backend (pool.health.agent_port), by result.",
                [&](const std::string& labels, const Backend& backend) {
                    per_result("ringlb_agent_checks_total", labels,
                               [&](CheckResult result) { return backend.agent_checks(result); });
                });
    per_backend("ringlb_backend_agent_weight_percent", "gauge",
                "The agent check's share of the backend's weight, in percent (100 without an "
                "agent).",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_agent_weight_percent", labels,
                         backend.agent_weight_percent.load());
                });
    per_backend("ringlb_backend_agent_state", "gauge",
                "1 for each part of the agent check's verdict: ready, drain or maint, and down "
                "(ready 1, down 0 without an agent).",
                [&](const std::string& labels, const Backend& backend) {
                    const config::BackendState state = backend.agent_state.load();
                    for (auto each : {config::BackendState::active, config::BackendState::drain,
                                      config::BackendState::disabled}) {
                        line("ringlb_backend_agent_state",
                             labels + fmt::format(",state=\"{}\"", agent_state_name(each)),
                             state == each ? 1 : 0);
                    }
                    line("ringlb_backend_agent_state", labels + ",state=\"down\"",
                         backend.agent_down.load() ? 1 : 0);
                });
    per_backend("ringlb_backend_weight", "gauge", "Weight from the config or the admin API.",
                [&](const std::string& labels, const Backend& backend) {
                    line("ringlb_backend_weight", labels, backend.weight.load());
                });
    per_backend(
        "ringlb_backend_state", "gauge", "1 for the backend's state: active, drain or disabled.",
        [&](const std::string& labels, const Backend& backend) {
            const config::BackendState state = backend.state.load();
            for (auto each : {config::BackendState::active, config::BackendState::drain,
                              config::BackendState::disabled}) {
                line("ringlb_backend_state",
                     labels + fmt::format(",state=\"{}\"", config::backend_state_name(each)),
                     state == each ? 1 : 0);
            }
        });

    per_backend(
        "ringlb_backend_info", "gauge",
        "1 for each backend, with where it came from (config or dns_srv) and its SRV "
        "priority (0 for static backends).",
        [&](const std::string& labels, const Backend& backend) {
            line("ringlb_backend_info",
                 labels + fmt::format(",origin=\"{}\",priority=\"{}\"",
                                      backend_origin_name(backend.origin), backend.priority.load()),
                 1);
        });
    auto per_pool = [&](std::string_view name, std::string_view type, std::string_view help,
                        auto&& value) {
        family(out, name, type, help);
        for (const auto& pool : generation->pools) {
            line(name, fmt::format("pool=\"{}\"", prometheus_escape(pool->name())), value(*pool));
        }
    };
    // pool.queue_timeout_ms: per pool object, so they start again at a reload.
    per_pool("ringlb_pool_queue_length", "gauge",
             "Clients waiting for a place on a full pool now (pool.queue_timeout_ms).",
             [](const BackendPool& pool) { return pool.queue().length(); });
    per_pool("ringlb_pool_queued_total", "counter",
             "Clients that waited for a place on a full pool, since the last reload.",
             [](const BackendPool& pool) {
                 return pool.queue().queued_total.load(std::memory_order_relaxed);
             });
    per_pool("ringlb_pool_queue_timeouts_total", "counter",
             "Waiting clients closed after pool.queue_timeout_ms without a place, since the last "
             "reload.",
             [](const BackendPool& pool) {
                 return pool.queue().timeouts_total.load(std::memory_order_relaxed);
             });
    family(out, "ringlb_discovery_queries_total", "counter",
           "DNS SRV discovery queries, by pool and result (success, empty = NXDOMAIN or no "
           "record, timeout, error).");
    for (std::size_t p = 0; p < generation->pools.size(); ++p) {
        if (const auto& stats = generation->discovery[p]) {
            for (std::size_t r = 0; r < static_cast<std::size_t>(DiscoveryResult::count_); ++r) {
                line("ringlb_discovery_queries_total",
                     fmt::format("pool=\"{}\",result=\"{}\"",
                                 prometheus_escape(generation->pools[p]->name()),
                                 discovery_result_name(static_cast<DiscoveryResult>(r))),
                     stats->queries[r].load(std::memory_order_relaxed));
            }
        }
    }

    const std::uint64_t open = control.open_connections.load(std::memory_order_relaxed);
    std::uint64_t idle_timeouts = 0;
    std::uint64_t max_duration_closes = 0;
    std::uint64_t errors = 0;
    std::uint64_t ring_full = 0;
    std::uint64_t copy_sends = 0;
    std::uint64_t copy_to_splice = 0;
    for (const ShardStats* stats : control.shard_stats) {
        copy_sends += stats->copy_sends.load(std::memory_order_relaxed);
        copy_to_splice += stats->copy_to_splice.load(std::memory_order_relaxed);
        idle_timeouts += stats->idle_timeouts.load(std::memory_order_relaxed);
        max_duration_closes += stats->max_duration_closes.load(std::memory_order_relaxed);
        errors += stats->errors.load(std::memory_order_relaxed);
        ring_full += stats->ring_full.load(std::memory_order_relaxed);
    }
    family(out, "ringlb_connections_open", "gauge", "Client connections open in the process.");
    fmt::format_to(std::back_inserter(out), "ringlb_connections_open {}\n", open);
    family(out, "ringlb_connections_max", "gauge", "global.max_connections (0 = no limit).");
    fmt::format_to(std::back_inserter(out), "ringlb_connections_max {}\n",
                   control.max_connections.load());
    family(out, "ringlb_idle_timeouts_total", "counter", "Connections closed for idleness.");
    fmt::format_to(std::back_inserter(out), "ringlb_idle_timeouts_total {}\n", idle_timeouts);
    family(out, "ringlb_max_duration_closes_total", "counter",
           "Connections closed because they reached pool.max_connection_duration_ms.");
    fmt::format_to(std::back_inserter(out), "ringlb_max_duration_closes_total {}\n",
                   max_duration_closes);
    family(out, "ringlb_connection_errors_total", "counter",
           "Connections ended by an I/O error (a reset, no socket or pipe to be had).");
    fmt::format_to(std::back_inserter(out), "ringlb_connection_errors_total {}\n", errors);
    family(out, "ringlb_ring_full_total", "counter",
           "Requests that found a worker's io_uring submission queue full and could not flush "
           "it (each ended its connection, or was retried).");
    fmt::format_to(std::back_inserter(out), "ringlb_ring_full_total {}\n", ring_full);
    family(out, "ringlb_relay_copy_sends_total", "counter",
           "Small messages relayed by copy: received into a worker's buffer ring and sent "
           "with IORING_OP_SEND (global.splice = \"auto\").");
    fmt::format_to(std::back_inserter(out), "ringlb_relay_copy_sends_total {}\n", copy_sends);
    family(out, "ringlb_relay_copy_to_splice_total", "counter",
           "Times a direction went back from copy to splice: a full buffer (bulk), a slow "
           "destination, or no free buffer.");
    fmt::format_to(std::back_inserter(out), "ringlb_relay_copy_to_splice_total {}\n",
                   copy_to_splice);
    // Per shard: how evenly the shards share the clients (global.shard_steering, hand-offs).
    const auto per_shard = [&](const char* name, const char* type, const char* help,
                               std::atomic<std::uint64_t> ShardStats::*counter) {
        family(out, name, type, help);
        for (std::size_t shard = 0; shard < control.shard_stats.size(); ++shard) {
            line(name, fmt::format("shard=\"{}\"", shard),
                 (control.shard_stats[shard]->*counter).load(std::memory_order_relaxed));
        }
    };
    per_shard("ringlb_shard_connections_total", "counter",
              "Clients a worker started serving (accepted there or handed to it).",
              &ShardStats::connections);
    per_shard("ringlb_shard_connections_open", "gauge", "Client connections a worker holds now.",
              &ShardStats::open);
    per_shard("ringlb_shard_handoffs_total", "counter",
              "Clients a worker with no free slot handed to another worker with room.",
              &ShardStats::handed_off);
    per_shard("ringlb_shard_handoff_failures_total", "counter",
              "Hand-offs that ended in closing the client (not delivered, the receiver full or "
              "reloading).",
              &ShardStats::handoff_failures);
    per_shard("ringlb_shard_loop_passes_total", "counter",
              "Event loop passes of a worker: one io_uring_enter each.", &ShardStats::loop_passes);
    per_shard("ringlb_shard_completions_total", "counter",
              "io_uring completions a worker handled; divided by its passes, how many it "
              "handles per wake-up.",
              &ShardStats::completions);
    per_shard("ringlb_shard_batched_waits_total", "counter",
              "Passes that waited up to global.batch_wait_us for a batch of completions.",
              &ShardStats::batched_waits);
    family(out, "ringlb_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    line("ringlb_reloads_total", "result=\"success\"", control.reloads_succeeded.load());
    line("ringlb_reloads_total", "result=\"failure\"", control.reloads_failed.load());
    family(out, "ringlb_config_generation", "gauge", "Id of the configuration in force.");
    fmt::format_to(std::back_inserter(out), "ringlb_config_generation {}\n", generation->id);
    if (const AccessLogWriter* access_log = control.access_log.load(std::memory_order_acquire)) {
        family(out, "ringlb_access_log_dropped_total", "counter",
               "Access log lines dropped because a shard's buffer was full.");
        fmt::format_to(std::back_inserter(out), "ringlb_access_log_dropped_total {}\n",
                       access_log->dropped());
        family(out, "ringlb_access_log_write_errors_total", "counter",
               "Writes of access log lines that failed (the lines are lost), e.g. on a full disk.");
        fmt::format_to(std::back_inserter(out), "ringlb_access_log_write_errors_total {}\n",
                       access_log->write_errors());
    }
    family(out, "ringlb_admin_auth_failures_total", "counter",
           "Admin requests refused 401: no bearer token, or a wrong one.");
    fmt::format_to(std::back_inserter(out), "ringlb_admin_auth_failures_total {}\n",
                   admin_stats.auth_failures.load(std::memory_order_relaxed));
    family(out, "ringlb_admin_tls_handshake_failures_total", "counter",
           "Admin TLS handshakes that failed or did not finish in time.");
    fmt::format_to(std::back_inserter(out), "ringlb_admin_tls_handshake_failures_total {}\n",
                   admin_stats.tls_handshake_failures.load(std::memory_order_relaxed));
    if (control.clients != nullptr) {
        family(out, "ringlb_client_table_overflows_total", "counter",
               "Clients admitted without per-client limits because the table was full.");
        fmt::format_to(std::back_inserter(out), "ringlb_client_table_overflows_total {}\n",
                       control.clients->overflows());
    }
    return out;
}

namespace {
// GET /: the stats page. It holds no data (it reads /status with the token the user gives
// it), so the server serves it without a token (HttpAuthorizer). Its CSP allows only its
// own inline blocks and fetches to this origin.
HttpResponse stats_page() {
    HttpResponse response = reply(200, "text/html; charset=utf-8", std::string(kStatsPage));
    response.headers.emplace_back("Content-Security-Policy", std::string(kStatsPageCsp));
    response.headers.emplace_back("X-Content-Type-Options", "nosniff");
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
}
}  // namespace

HttpHandler make_admin_handler(Control& control, const HttpServerStats& admin_stats,
                               StatusRates& rates) {
    return [&control, &admin_stats, &rates](const HttpRequest& request) -> HttpResponse {
        const std::vector<std::string_view> parts = split_path(request.path);
        const bool read_only = request.method == "GET" || request.method == "HEAD";
        if (parts.empty() && read_only) {
            return stats_page();
        }
        if (parts.size() == 1 &&
            (parts[0] == "metrics" || parts[0] == "healthz" || parts[0] == "status")) {
            if (!read_only) {
                HttpResponse response = error_json(405, "use GET");
                response.headers.emplace_back("Allow", "GET, HEAD");
                return response;
            }
            if (parts[0] == "metrics") {
                return reply(200, "text/plain; version=0.0.4; charset=utf-8",
                             render_metrics(control, admin_stats));
            }
            if (parts[0] == "healthz") {
                return healthz(control);
            }
            return json(200, render_status(control, rates));
        }
        if (parts.size() == 5 && parts[0] == "pools" && parts[2] == "backends") {
            return backend_action(control, request, parts);
        }
        return error_json(404,
                          "not found; see /metrics, /healthz, /status, "
                          "POST /pools/{pool}/backends/{address}/{drain|enable|disable|weight}");
    };
}

}  // namespace ringlb
