// SPDX-License-Identifier: MIT
// Maglev lookup-table population per live set, and the hashed pick with a bounded walk.
#include "ringlb/balance/maglev.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "ringlb/base/hash.hpp"
#include "ringlb/base/primes.hpp"

namespace ringlb {

namespace {

constexpr std::uint32_t kEmpty = UINT32_MAX;

// How many slots a pick walks past backends without room before it falls back to a scan of
// the entries: enough that the walk almost never ends without a backend unless nearly all
// are full, small enough to keep a pick cheap.
constexpr std::size_t kMaxTableWalk = 64;

// Fixed (FNV-1a, then mixed): the same in every process and on every run, unlike std::hash.
std::uint64_t hash_name(std::string_view name) noexcept {
    return mix64(fnv1a64(name));
}

// Lets the identities in `turns` take turns claiming the next empty slot of their
// permutations, from their first preference, until no slot is empty. `slots` holds identity
// numbers or kEmpty.
void claim_empty_slots(std::vector<std::uint32_t>& slots, const std::vector<std::uint32_t>& offset,
                       const std::vector<std::uint32_t>& skip,
                       const std::vector<std::uint32_t>& turns) {
    const std::uint64_t size = slots.size();
    std::size_t empty = static_cast<std::size_t>(std::count(slots.begin(), slots.end(), kEmpty));
    if (turns.empty() || size == 0) {
        return;
    }
    // How far along its permutation each identity has looked.
    std::vector<std::uint64_t> next(offset.size(), 0);
    while (empty > 0) {
        bool claimed = false;
        for (const std::uint32_t identity : turns) {
            // With a prime size the permutation visits every slot, so an empty one is found
            // before `next` runs out; the bound only guards against a broken invariant.
            while (next[identity] < size) {
                const std::uint64_t slot =
                    (offset[identity] + next[identity] * skip[identity]) % size;
                ++next[identity];
                if (slots[slot] == kEmpty) {
                    slots[slot] = identity;
                    claimed = true;
                    --empty;
                    break;
                }
            }
            if (empty == 0) {
                return;
            }
        }
        if (!claimed) {
            break;
        }
    }
    // Unreachable with a prime size; keeps every slot valid if it ever were reached.
    std::size_t turn = 0;
    for (std::uint32_t& slot : slots) {
        if (slot == kEmpty) {
            slot = turns[turn++ % turns.size()];
        }
    }
}

}  // namespace

Maglev::Maglev(const config::PoolConfig& pool) : table_size_(pool.maglev_table_size) {
    if (table_size_ > kMaxTableSize || !is_prime(table_size_)) {
        throw std::invalid_argument("pool " + pool.name + ": maglev_table_size " +
                                    std::to_string(table_size_) + " is not a prime in 2.." +
                                    std::to_string(kMaxTableSize));
    }
    std::vector<std::string> names;
    names.reserve(pool.backends.size());
    for (const config::BackendConfig& backend : pool.backends) {
        names.push_back(backend.address_text);
    }
    members_ = populate(std::move(names));
}

void Maglev::set_members(const std::vector<std::string>& names) {
    std::vector<std::string> sorted = names;
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    if (sorted != members_.names) {
        members_ = populate(std::move(sorted));
    }
}

Maglev::Population Maglev::populate(std::vector<std::string> names) const {
    Population population;
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    population.names = std::move(names);
    const std::size_t count = population.names.size();
    population.offset.resize(count);
    population.skip.resize(count);
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint64_t hash = hash_name(population.names[i]);
        // Two independent values from one hash: the mix makes them unrelated.
        population.offset[i] =
            static_cast<std::uint32_t>(mix64(hash ^ 0x6f66667365740000ull) % table_size_);
        population.skip[i] =
            static_cast<std::uint32_t>(mix64(hash ^ 0x736b697000000000ull) % (table_size_ - 1)) + 1;
    }
    population.slots.assign(count == 0 ? 0 : table_size_, kEmpty);
    std::vector<std::uint32_t> turns(count);
    for (std::uint32_t i = 0; i < count; ++i) {
        turns[i] = i;
    }
    claim_empty_slots(population.slots, population.offset, population.skip, turns);
    return population;
}

void Maglev::prepare(LiveSet& set) const {
    set.table.clear();
    if (set.entries.empty()) {
        return;
    }
    auto identity_of = [](const Population& population, const std::string& name) {
        const auto found = std::lower_bound(population.names.begin(), population.names.end(), name);
        return found != population.names.end() && *found == name
                   ? static_cast<std::uint32_t>(found - population.names.begin())
                   : kEmpty;
    };
    const Population* base = &members_;
    Population unlisted;
    const bool all_listed = std::all_of(
        set.entries.begin(), set.entries.end(),
        [&](const LiveEntry& entry) { return identity_of(members_, entry.state->name) != kEmpty; });
    if (!all_listed) {
        std::vector<std::string> names = members_.names;
        for (const LiveEntry& entry : set.entries) {
            names.push_back(entry.state->name);
        }
        unlisted = populate(std::move(names));
        base = &unlisted;
    }

    // The live entry of each identity, or kEmpty for a backend that is not live.
    std::vector<std::uint32_t> entry_of(base->names.size(), kEmpty);
    for (std::uint32_t position = 0; position < set.entries.size(); ++position) {
        std::uint32_t& entry = entry_of[identity_of(*base, set.entries[position].state->name)];
        if (entry == kEmpty) {
            entry = position;
        }
    }
    std::vector<std::uint32_t> slots = base->slots;
    bool any_missing = false;
    for (std::uint32_t& slot : slots) {
        if (entry_of[slot] == kEmpty) {
            slot = kEmpty;
            any_missing = true;
        }
    }
    if (any_missing) {
        std::vector<std::uint32_t> turns;
        for (std::uint32_t identity = 0; identity < entry_of.size(); ++identity) {
            if (entry_of[identity] != kEmpty) {
                turns.push_back(identity);
            }
        }
        claim_empty_slots(slots, base->offset, base->skip, turns);
    }
    set.table.resize(slots.size());
    for (std::size_t i = 0; i < slots.size(); ++i) {
        set.table[i] = entry_of[slots[i]];
    }
}

std::uint32_t Maglev::pick(const LiveSet& set, const PickContext& context) noexcept {
    if (set.entries.empty() || set.table.empty()) {
        return kNoPick;
    }
    return walk_table(set, static_cast<std::size_t>(context.client_hash % set.table.size()),
                      kMaxTableWalk);
}

}  // namespace ringlb
