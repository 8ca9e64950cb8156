// SPDX-License-Identifier: MIT
// StatusRates: samples of the backends' and listeners' counters, and rates between them.
#include "ringlb/admin/status_rates.hpp"

namespace ringlb {

namespace {

// Keys of one map for both kinds: a listener's name cannot hold a control character, so
// "\x01" + name never meets "pool\x02backend".
std::string backend_key(std::string_view pool, std::string_view backend) {
    std::string key(pool);
    key += '\x02';
    key += backend;
    return key;
}

std::string listener_key(std::string_view listener) {
    std::string key = "\x01";
    key += listener;
    return key;
}

double per_second(std::uint64_t newer, std::uint64_t older, std::uint64_t ms) {
    return newer < older ? 0.0
                         : static_cast<double>(newer - older) * 1000.0 / static_cast<double>(ms);
}

}  // namespace

void StatusRates::sample(const Generation& generation, std::uint64_t now_ms) {
    if (!samples_.empty() && now_ms - samples_.back().at_ms < kSpacingMs) {
        return;
    }
    Sample sample;
    sample.at_ms = now_ms;
    for (const auto& pool : generation.pools) {
        for (const auto& backend : pool->members()) {
            sample.totals[backend_key(pool->name(), backend->name)] =
                Totals{backend->connections_total.load(std::memory_order_relaxed),
                       backend->bytes_in.load(std::memory_order_relaxed),
                       backend->bytes_out.load(std::memory_order_relaxed)};
        }
    }
    for (const ListenerRuntime& listener : generation.listeners) {
        sample.totals[listener_key(listener.config.name)] =
            Totals{listener.stats->accepted.load(std::memory_order_relaxed), 0, 0};
    }
    samples_.push_back(std::move(sample));
    while (samples_.size() > 2 && now_ms - samples_[1].at_ms >= kWindowMs) {
        samples_.pop_front();
    }
}

std::uint64_t StatusRates::window_ms() const noexcept {
    return samples_.size() < 2 ? 0 : samples_.back().at_ms - samples_.front().at_ms;
}

StatusRates::Rate StatusRates::rate(const std::string& key) const {
    const std::uint64_t ms = window_ms();
    if (ms == 0) {
        return Rate{};
    }
    const auto older = samples_.front().totals.find(key);
    const auto newer = samples_.back().totals.find(key);
    if (older == samples_.front().totals.end() || newer == samples_.back().totals.end()) {
        return Rate{};
    }
    return Rate{per_second(newer->second.connections, older->second.connections, ms),
                per_second(newer->second.bytes_in, older->second.bytes_in, ms),
                per_second(newer->second.bytes_out, older->second.bytes_out, ms)};
}

StatusRates::Rate StatusRates::backend(std::string_view pool, std::string_view backend) const {
    return rate(backend_key(pool, backend));
}

StatusRates::Rate StatusRates::listener(std::string_view listener) const {
    return rate(listener_key(listener));
}

}  // namespace ringlb
