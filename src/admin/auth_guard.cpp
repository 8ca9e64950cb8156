// SPDX-License-Identifier: MIT
// Per-address accounting of failed admin authentications: log rate and hold-back.
#include "ringlb/admin/auth_guard.hpp"

#include <algorithm>
#include <cstring>

namespace ringlb {

namespace {
constexpr std::uint64_t kWindowMs = 1000;  // failures are counted per second
constexpr std::uint64_t kLogEveryMs = 1000;
}  // namespace

AuthGuard::AuthGuard(unsigned failures_per_s, std::uint64_t delay_ms, std::size_t capacity)
    : failures_per_s_(failures_per_s),
      delay_ms_(delay_ms),
      entries_(std::max<std::size_t>(capacity, 1)) {}

const AuthGuard::Entry* AuthGuard::find(const IpBytes& key) const noexcept {
    for (const Entry& entry : entries_) {
        if (entry.used && entry.key == key) {
            return &entry;
        }
    }
    return nullptr;
}

AuthGuard::Verdict AuthGuard::record_failure(const SocketAddress& peer,
                                             std::uint64_t now_ms) noexcept {
    const IpBytes key = peer.ip_bytes();
    auto* entry = const_cast<Entry*>(find(key));
    if (entry == nullptr) {
        // A free entry, else the one seen longest ago (its history is the least useful).
        entry = &*std::min_element(entries_.begin(), entries_.end(),
                                   [](const Entry& a, const Entry& b) {
                                       if (a.used != b.used) {
                                           return !a.used;
                                       }
                                       return a.last_seen_ms < b.last_seen_ms;
                                   });
        *entry = Entry{};
        entry->key = key;
        entry->used = true;
        entry->window_start_ms = now_ms;
    }
    entry->last_seen_ms = now_ms;
    if (now_ms - entry->window_start_ms >= kWindowMs) {
        entry->window_start_ms = now_ms;
        entry->window_failures = 0;
    }
    ++entry->window_failures;

    Verdict verdict;
    const bool was_held = now_ms < entry->held_until_ms;
    if (was_held || entry->window_failures > failures_per_s_) {
        entry->held_until_ms = now_ms + delay_ms_;
        verdict.started_holding = !was_held;
    }
    if (!entry->logged || now_ms - entry->last_log_ms >= kLogEveryMs) {
        verdict.log = true;
        verdict.suppressed = entry->suppressed;
        entry->suppressed = 0;
        entry->last_log_ms = now_ms;
        entry->logged = true;
    } else {
        ++entry->suppressed;
    }
    return verdict;
}

bool AuthGuard::held(const SocketAddress& peer, std::uint64_t now_ms) const noexcept {
    const Entry* entry = find(peer.ip_bytes());
    return entry != nullptr && now_ms < entry->held_until_ms;
}

}  // namespace ringlb
