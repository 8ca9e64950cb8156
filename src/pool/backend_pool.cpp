// SPDX-License-Identifier: MIT
// Backend pools: membership (static and discovered backends), live-set building and
// publication, and the release of backends that left.
#include "ringlb/pool/backend_pool.hpp"

#include <sys/socket.h>

#include <algorithm>

#include "ringlb/pool/eligibility.hpp"

namespace ringlb {

BackendPool::BackendPool(const config::PoolConfig& config,
                         std::vector<std::shared_ptr<Backend>> backends, PrepareLiveSet prepare,
                         std::uint64_t now_ms, unsigned shards, MembersChanged members_changed)
    : config_(config),
      shards_(shards),
      prepare_(std::move(prepare)),
      members_changed_(std::move(members_changed)),
      queue_(shards),
      members_(std::move(backends)) {
    for (const SocketAddress& source : config_.source) {
        sources_[source.family() == AF_INET6 ? 1 : 0].push_back(source);
    }
    static_count_ = static_cast<std::size_t>(std::count_if(
        members_.begin(), members_.end(),
        [](const auto& backend) { return backend->origin == BackendOrigin::config; }));
    announce_members();
    bool ramping = false;
    std::unique_ptr<LiveSet> first = build(now_ms, ramping);
    prepare_(*first);
    live_count_.store(first->entries.size(), std::memory_order_relaxed);
    live_.store(first.release(), std::memory_order_seq_cst);
}

const SocketAddress* BackendPool::next_source(int family) noexcept {
    const std::vector<SocketAddress>& sources = sources_[family == AF_INET6 ? 1 : 0];
    switch (sources.size()) {
        case 0:
            return nullptr;
        case 1:
            return &sources.front();
        default:
            return &sources[source_turn_.fetch_add(1, std::memory_order_relaxed) % sources.size()];
    }
}

BackendPool::~BackendPool() {
    delete live_.load(std::memory_order_seq_cst);
}

std::vector<std::shared_ptr<Backend>> BackendPool::members() const {
    std::lock_guard lock(control_);
    return members_;
}

std::vector<std::shared_ptr<Backend>> BackendPool::discovered() const {
    std::lock_guard lock(control_);
    return {members_.begin() + static_cast<std::ptrdiff_t>(static_count_), members_.end()};
}

std::size_t BackendPool::size() const {
    std::lock_guard lock(control_);
    return members_.size();
}

std::shared_ptr<Backend> BackendPool::find(std::string_view name) const {
    std::lock_guard lock(control_);
    for (const auto& backend : members_) {
        if (backend->name == name) {
            return backend;
        }
    }
    return nullptr;
}

void BackendPool::announce_members() {
    if (!members_changed_) {
        return;
    }
    std::vector<std::string> names;
    names.reserve(members_.size());
    for (const auto& backend : members_) {
        names.push_back(backend->name);
    }
    members_changed_(names);
}

std::unique_ptr<LiveSet> BackendPool::build(std::uint64_t now_ms, bool& ramping) const {
    std::vector<BackendStates> states;
    states.reserve(members_.size());
    for (const auto& backend : members_) {
        states.push_back(
            BackendStates{backend->state.load(std::memory_order_relaxed),
                          backend->healthy.load(std::memory_order_relaxed),
                          backend->priority.load(std::memory_order_relaxed),
                          backend->backup.load(std::memory_order_relaxed),
                          backend->ejected.load(std::memory_order_relaxed),
                          backend->agent_state.load(std::memory_order_relaxed),
                          backend->agent_down.load(std::memory_order_relaxed),
                          backend->agent_weight_percent.load(std::memory_order_relaxed)});
    }
    const std::vector<bool> takes = takes_new_connections(states);
    bool backups_serve = false;
    for (std::size_t i = 0; i < states.size(); ++i) {
        backups_serve = backups_serve || (takes[i] && states[i].backup);
    }
    auto set = std::make_unique<LiveSet>();
    ramping = false;
    for (std::uint32_t i = 0; i < members_.size(); ++i) {
        if (!takes[i]) {
            if (usable(states[i]) && (!states[i].backup || backups_serve)) {
                set->standby.push_back(LiveEntry{i, 1, members_[i].get()});
            }
            continue;
        }
        Backend& backend = *members_[i];
        std::uint32_t weight = agent_weight(backend.weight.load(std::memory_order_relaxed),
                                            states[i].agent_weight_percent);
        const std::uint64_t since = backend.up_since_ms.load(std::memory_order_relaxed);
        if (config_.slow_start_ms > 0 && since > 0 && now_ms < since + config_.slow_start_ms) {
            // Linear ramp from 1/weight to the full weight over slow_start_ms.
            const std::uint64_t elapsed = now_ms - since;
            weight = static_cast<std::uint32_t>(
                std::max<std::uint64_t>(1, weight * elapsed / config_.slow_start_ms));
            ramping = true;
        }
        set->entries.push_back(LiveEntry{i, weight, &backend});
    }
    std::stable_sort(set->standby.begin(), set->standby.end(),
                     [&](const LiveEntry& a, const LiveEntry& b) {
                         return tier_of(states[a.backend]) < tier_of(states[b.backend]);
                     });
    return set;
}

bool BackendPool::publish(std::uint64_t now_ms, EpochDomain& epochs, bool force) {
    bool ramping = false;
    std::unique_ptr<LiveSet> next = build(now_ms, ramping);
    const LiveSet& current = live();
    const auto same_entry = [](const LiveEntry& a, const LiveEntry& b) {
        return a.weight == b.weight && a.state == b.state;
    };
    const bool same = std::equal(next->entries.begin(), next->entries.end(),
                                 current.entries.begin(), current.entries.end(), same_entry) &&
                      std::equal(next->standby.begin(), next->standby.end(),
                                 current.standby.begin(), current.standby.end(), same_entry);
    if (force || !same) {
        // Only a set that will be published is prepared: Maglev's table and the weighted
        // sequence are the costly part, and slow start refreshes often.
        prepare_(*next);
        live_count_.store(next->entries.size(), std::memory_order_relaxed);
        const LiveSet* old = live_.exchange(next.release(), std::memory_order_seq_cst);
        // LiveSet is only ever created non-const here; the const is the readers' view.
        epochs.retire(std::unique_ptr<Retirable>(const_cast<LiveSet*>(old)));
    }
    return ramping;
}

bool BackendPool::refresh(std::uint64_t now_ms, EpochDomain& epochs) {
    std::lock_guard lock(control_);
    return publish(now_ms, epochs, false);
}

MembershipChange BackendPool::set_discovered(std::span<const DiscoveredBackend> backends,
                                             bool healthy, std::uint64_t now_ms,
                                             EpochDomain& epochs) {
    std::lock_guard lock(control_);
    MembershipChange change;
    std::vector<std::shared_ptr<Backend>> next(
        members_.begin(), members_.begin() + static_cast<std::ptrdiff_t>(static_count_));
    std::vector<std::shared_ptr<Backend>> old(
        members_.begin() + static_cast<std::ptrdiff_t>(static_count_), members_.end());
    for (const DiscoveredBackend& found : backends) {
        const std::string name = found.address.to_string();
        const auto same_name = [&](const auto& backend) { return backend->name == name; };
        if (std::any_of(next.begin(), next.end(), same_name)) {
            continue;  // a static backend, or an earlier record, has this address
        }
        auto kept = std::find_if(old.begin(), old.end(), same_name);
        if (kept != old.end()) {
            // A new record weight applies; an unchanged one leaves an admin API change alone.
            Backend& backend = **kept;
            bool updated = false;
            if (backend.srv_weight.load(std::memory_order_relaxed) != found.weight) {
                backend.srv_weight.store(found.weight, std::memory_order_relaxed);
                backend.weight.store(found.weight, std::memory_order_relaxed);
                updated = true;
            }
            if (backend.priority.exchange(found.priority, std::memory_order_relaxed) !=
                found.priority) {
                updated = true;
            }
            change.updated += updated ? 1 : 0;
            next.push_back(std::move(*kept));
            old.erase(kept);
            continue;
        }
        config::BackendConfig settings;
        settings.address = found.address;
        settings.address_text = name;
        settings.port = found.address.port();
        settings.weight = found.weight;
        auto backend =
            std::make_shared<Backend>(settings, config_.name, shards_, BackendOrigin::dns_srv);
        backend->priority.store(found.priority, std::memory_order_relaxed);
        backend->srv_weight.store(found.weight, std::memory_order_relaxed);
        backend->healthy.store(healthy, std::memory_order_relaxed);
        if (healthy) {
            backend->up_since_ms.store(now_ms, std::memory_order_relaxed);
        }
        change.added.push_back(backend);
        next.push_back(std::move(backend));
    }
    // Discovered members in address order: the answer's order carries no meaning, and a
    // stable order keeps the live set (and round robin's turn) the same for the same answer.
    std::sort(next.begin() + static_cast<std::ptrdiff_t>(static_count_), next.end(),
              [](const auto& a, const auto& b) { return a->name < b->name; });
    const bool membership_changed = !change.added.empty() || !old.empty();
    members_ = std::move(next);
    if (membership_changed) {
        announce_members();
    }
    // Published before the removed backends are fenced: a reader that passed the fence has
    // loaded this set or a later one, none of which lists them.
    publish(now_ms, epochs, membership_changed);
    if (!old.empty()) {
        const std::uint64_t fence = epochs.fence();
        for (auto& backend : old) {
            change.removed.push_back(backend);
            departed_.push_back(Departed{std::move(backend), fence});
        }
    }
    return change;
}

std::size_t BackendPool::release_departed(EpochDomain& epochs) {
    std::lock_guard lock(control_);
    std::erase_if(departed_, [&](const Departed& departed) {
        // Acquire pairs with Backend::release: the last connection's uses of it came before.
        return epochs.passed(departed.fence) &&
               departed.backend->active.load(std::memory_order_acquire) == 0;
    });
    return departed_.size();
}

}  // namespace ringlb
