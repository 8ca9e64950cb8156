// SPDX-License-Identifier: MIT
// Maglev: consistent hashing of client addresses onto backends through a prime-sized lookup
// table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
// NSDI 2016).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ringlb/balance/balancer.hpp"

namespace ringlb {

// Each backend walks its own permutation of the table's slots (offset and skip derived from a
// fixed hash of its address text, Backend::name) and the backends take turns claiming the
// next free slot of their permutation until the table is full: every backend owns M/N slots
// (±1), and a client (PickContext::client_hash) always lands on table[hash % M].
//
// Backends take their turns in order of name, so every process with the same config builds
// the same table whatever the order of the pool's entries. The table is first filled with
// every backend of the pool (the config's, and those DNS discovery found); a live set that lacks
// some of them keeps every slot of the others and hands only the missing backends' slots on (the
// backends left take turns claiming them, again through their permutations). So a backend going
// down or draining moves only its own clients, spread evenly over the rest, and they come back when
// it does; plain Maglev, which rebuilds over the live backends alone, would also move a few others.
// A config reload or a DNS answer that adds or removes backends gets plain Maglev's
// near-minimal movement.
//
// Weights are ignored: every backend owns an equal share of the table, since weighting the
// turns would make a backend's share, and so its clients, shift on every slow-start step.
// A client whose backend is full goes to the next slot with room, the same one every time.
class Maglev final : public Balancer {
  public:
    static constexpr std::uint32_t kMaxTableSize = 1000003;

    // Fills the table for every backend `pool` lists (O(M log M) typical). Throws
    // std::invalid_argument when pool.maglev_table_size is not a prime in 2..kMaxTableSize
    // (the loader has already rejected those): only a prime makes each permutation cover
    // every slot.
    explicit Maglev(const config::PoolConfig& pool);

    // Writes the lookup table (maglev_table_size positions into `set.entries`) to
    // `set.table`. Live entries whose name the config does not list (never the case for a
    // BackendPool) are handled by building the full table over config and live names here.
    void prepare(LiveSet& set) const override;
    // Fills the table again for a new membership (DNS discovery): the same names in any order
    // give the same table, so every ringlb host with the same answer agrees.
    void set_members(const std::vector<std::string>& names) override;
    [[nodiscard]] std::uint32_t pick(const LiveSet& set,
                                     const PickContext& context) noexcept override;

    [[nodiscard]] std::uint32_t table_size() const noexcept { return table_size_; }

  private:
    // A table filled by every backend of a set of names, in identity space.
    struct Population {
        std::vector<std::string> names;     // sorted, distinct: an identity is its index here
        std::vector<std::uint32_t> offset;  // per identity: its permutation's first slot
        std::vector<std::uint32_t> skip;    // per identity: its permutation's step, 1..M-1
        std::vector<std::uint32_t> slots;   // per slot: the identity that owns it
    };
    [[nodiscard]] Population populate(std::vector<std::string> names) const;

    std::uint32_t table_size_;
    Population members_;  // every backend of the pool: the config's, then set_members
};

}  // namespace ringlb
