// SPDX-License-Identifier: MIT
// The /metrics families of how connections ended and how long their parts took: closed
// counts by reason and per-backend latency histograms.
#include "connection_metrics.hpp"

#include <fmt/format.h>

#include <iterator>

#include "ringlb/base/escape.hpp"
#include "ringlb/base/histogram.hpp"

namespace ringlb {

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// One histogram's series for one label set: cumulative buckets, +Inf, sum and count.
void append_histogram(std::string& out, std::string_view name, const std::string& labels,
                      const HistogramTotals& totals);

// A backend's histogram `member` (of BackendShardStats) summed over its shards' rows.
template <typename Histogram>
HistogramTotals sum_rows(const Backend& backend, Histogram BackendShardStats::*member) {
    HistogramTotals totals = Histogram::empty_totals();
    for (unsigned shard = 0; shard < backend.shards(); ++shard) {
        (backend.shard_stats(shard).*member).add_to(totals);
    }
    return totals;
}

template <typename Histogram>
void append_family(std::string& out, const Generation& generation, std::string_view name,
                   std::string_view help, Histogram BackendShardStats::*member) {
    family(out, name, "histogram", help);
    for (const auto& pool : generation.pools) {
        for (const std::shared_ptr<Backend>& backend : pool->members()) {
            const std::string labels =
                fmt::format("pool=\"{}\",backend=\"{}\"", prometheus_escape(pool->name()),
                            prometheus_escape(backend->name));
            append_histogram(out, name, labels, sum_rows(*backend, member));
        }
    }
}

void append_histogram(std::string& out, std::string_view name, const std::string& labels,
                      const HistogramTotals& totals) {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < totals.bounds_us.size(); ++i) {
        cumulative += totals.counts[i];
        fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                       seconds_text(totals.bounds_us[i]), cumulative);
    }
    cumulative += totals.counts.back();
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels,
                   cumulative);
    fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n", name, labels,
                   seconds_text(totals.sum_us));
    fmt::format_to(std::back_inserter(out), "{}_count{{{}}} {}\n", name, labels, cumulative);
}

}  // namespace

void append_backend_latency_metrics(std::string& out, const Generation& generation) {
    append_family(out, generation, "ringlb_backend_connect_seconds",
                  "Time from submitting a connect to the backend until it is established "
                  "(successful connects).",
                  &BackendShardStats::connect);
    append_family(out, generation, "ringlb_first_byte_seconds",
                  "Time from delivering the client's first byte to the backend until the "
                  "backend's first byte comes back (connections where the client speaks first).",
                  &BackendShardStats::first_byte);
    append_family(out, generation, "ringlb_connection_duration_seconds",
                  "Time from accepting the client to closing the connection, for connections "
                  "relayed to the backend.",
                  &BackendShardStats::duration);
}

std::string seconds_text(std::uint64_t microseconds) {
    const std::uint64_t whole = microseconds / 1000000;
    std::uint64_t fraction = microseconds % 1000000;
    if (fraction == 0) {
        return fmt::format("{}", whole);
    }
    int digits = 6;
    while (fraction % 10 == 0) {
        fraction /= 10;
        --digits;
    }
    return fmt::format("{}.{:0{}}", whole, fraction, digits);
}

void append_closed_metrics(std::string& out, const Generation& generation) {
    family(out, "ringlb_connections_closed_total", "counter",
           "Client connections that ended, by listener and termination reason (the access "
           "log's end= field).");
    for (const ListenerRuntime& listener : generation.listeners) {
        const std::string name = prometheus_escape(listener.config.name);
        for (std::size_t i = 0; i < kTerminationCount; ++i) {
            const auto reason = static_cast<Termination>(i);
            fmt::format_to(std::back_inserter(out),
                           "ringlb_connections_closed_total{{listener=\"{}\",reason=\"{}\"}} {}\n",
                           name, termination_name(reason), listener.stats->closed(reason));
        }
    }
}

}  // namespace ringlb
