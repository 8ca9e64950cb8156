// SPDX-License-Identifier: MIT
// The lock-free per-client table: keyed hashing, slot claiming and GCRA rate limiting.
#include "ringlb/access/client_table.hpp"

#include <netinet/in.h>
#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

#include "ringlb/base/hash.hpp"

namespace ringlb {

namespace {

// Slot state word: the key tag in the high 40 bits, open connections in the low 24.
constexpr unsigned kCountBits = 24;
constexpr std::uint64_t kCountMask = (std::uint64_t{1} << kCountBits) - 1;
constexpr std::size_t kProbeWindow = 16;
// The slot index takes the hash's low 24 bits and the tag its high 40, so the two never
// share bits and the tag collision rate stays 2^-40 whatever the table size.
constexpr std::size_t kMaxCapacity = std::size_t{1} << kCountBits;
// Each lost compare-and-swap means another thread made progress; after this many rescans the
// client is let through rather than spinning on.
constexpr int kMaxAttempts = 8;

std::uint64_t count_of(std::uint64_t state) noexcept {
    return state & kCountMask;
}
std::uint64_t tag_of(std::uint64_t state) noexcept {
    return state >> kCountBits;
}

std::uint64_t rotate_left(std::uint64_t value, unsigned bits) noexcept {
    return (value << bits) | (value >> (64 - bits));
}

void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2,
               std::uint64_t& v3) noexcept {
    v0 += v1;
    v1 = rotate_left(v1, 13);
    v1 ^= v0;
    v0 = rotate_left(v0, 32);
    v2 += v3;
    v3 = rotate_left(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotate_left(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotate_left(v1, 17);
    v1 ^= v2;
    v2 = rotate_left(v2, 32);
}

std::uint64_t load_le64(const std::uint8_t* bytes, std::size_t count) noexcept {
    std::uint64_t value = 0;
    for (std::size_t i = 0; i < count; ++i) {
        value |= std::uint64_t{bytes[i]} << (8 * i);
    }
    return value;
}

// SipHash-2-4 (Aumasson and Bernstein): a keyed hash, so that without the key nobody can
// choose addresses that crowd one probe window or share a tag.
std::uint64_t siphash24(const std::uint64_t key[2], const std::uint8_t* data,
                        std::size_t length) noexcept {
    std::uint64_t v0 = key[0] ^ 0x736f6d6570736575;
    std::uint64_t v1 = key[1] ^ 0x646f72616e646f6d;
    std::uint64_t v2 = key[0] ^ 0x6c7967656e657261;
    std::uint64_t v3 = key[1] ^ 0x7465646279746573;
    std::size_t whole = length - length % 8;
    for (std::size_t offset = 0; offset < whole; offset += 8) {
        std::uint64_t word = load_le64(data + offset, 8);
        v3 ^= word;
        sip_round(v0, v1, v2, v3);
        sip_round(v0, v1, v2, v3);
        v0 ^= word;
    }
    std::uint64_t last = (std::uint64_t{length & 0xFF} << 56) | load_le64(data + whole, length % 8);
    v3 ^= last;
    sip_round(v0, v1, v2, v3);
    sip_round(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xFF;
    for (int i = 0; i < 4; ++i) {
        sip_round(v0, v1, v2, v3);
    }
    return v0 ^ v1 ^ v2 ^ v3;
}

}  // namespace

ClientTable::ClientTable(std::size_t capacity) {
    if (capacity > kMaxCapacity) {
        throw std::invalid_argument("client table: capacity " + std::to_string(capacity) +
                                    " exceeds " + std::to_string(kMaxCapacity));
    }
    std::size_t slots = 1;
    while (slots < capacity) {
        slots *= 2;
    }
    slots_ = std::make_unique<Slot[]>(slots);
    mask_ = slots - 1;
    if (::getrandom(hash_key_, sizeof(hash_key_), 0) != static_cast<ssize_t>(sizeof(hash_key_))) {
        // No entropy source (very old kernel, seccomp): a clock-derived key still differs per
        // process, which is all the collision resistance needs against casual aiming.
        timespec now{};
        clock_gettime(CLOCK_MONOTONIC, &now);
        hash_key_[0] =
            mix64(static_cast<std::uint64_t>(now.tv_nsec) ^ reinterpret_cast<std::uintptr_t>(this));
        hash_key_[1] = mix64(hash_key_[0] ^ static_cast<std::uint64_t>(now.tv_sec));
    }
}

ClientTable::Admission ClientTable::untracked_overflow() noexcept {
    overflows_.fetch_add(1, std::memory_order_relaxed);
    return {Verdict::admitted, kUntracked};
}

ClientTable::Admission ClientTable::admit(const SocketAddress& client, std::uint64_t scope,
                                          std::uint64_t now_ns, unsigned max_connections,
                                          unsigned rate_per_s, unsigned burst) noexcept {
    if (max_connections == 0 && rate_per_s == 0) {
        return {Verdict::admitted, kUntracked};  // no limit to enforce: no need to count
    }
    const IpBytes ip = client.ip_bytes();
    if (ip.size == 0) {
        return {Verdict::admitted, kUntracked};  // not an IP client: nothing to key on
    }
    std::uint8_t key[16 + sizeof(scope)];
    std::memcpy(key, ip.bytes.data(), ip.size);
    std::size_t key_length = ip.size;
    std::memcpy(key + key_length, &scope, sizeof(scope));  // each scope counts on its own
    key_length += sizeof(scope);
    std::uint64_t hash = siphash24(hash_key_, key, key_length);
    std::uint64_t tag = std::max<std::uint64_t>(hash >> kCountBits, 1);  // 0 marks "never used"
    std::size_t home = hash & mask_;
    std::size_t window = std::min(kProbeWindow, mask_ + 1);

    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
        std::size_t match = SIZE_MAX;
        std::uint64_t match_state = 0;
        std::size_t vacant = SIZE_MAX;  // first never-used slot, or idle one of another address
        std::uint64_t vacant_state = 0;
        for (std::size_t i = 0; i < window; ++i) {
            std::size_t index = (home + i) & mask_;
            std::uint64_t state = slots_[index].state.load(std::memory_order_acquire);
            if (state == 0) {
                // Slots are only ever claimed at or before the first never-used one and never
                // become unused again, so this address cannot sit further on.
                if (vacant == SIZE_MAX) {
                    vacant = index;
                    vacant_state = 0;
                }
                break;
            }
            if (tag_of(state) == tag) {
                match = index;
                match_state = state;
                break;
            }
            // Idle: no open connection, and its rate history has run out, so taking it over
            // loses nothing (a fresh arrival time would behave exactly the same).
            if (vacant == SIZE_MAX && count_of(state) == 0 &&
                slots_[index].theoretical_arrival_ns.load(std::memory_order_relaxed) <= now_ns) {
                vacant = index;
                vacant_state = state;
            }
        }

        std::size_t taken = SIZE_MAX;
        if (match != SIZE_MAX) {
            Slot& slot = slots_[match];
            for (;;) {
                std::uint64_t count = count_of(match_state);
                if (max_connections != 0 && count >= max_connections) {
                    return {Verdict::too_many_connections, kUntracked};
                }
                if (count == kCountMask) {
                    return untracked_overflow();
                }
                if (slot.state.compare_exchange_weak(match_state, match_state + 1,
                                                     std::memory_order_acq_rel,
                                                     std::memory_order_acquire)) {
                    taken = match;
                    break;
                }
                if (tag_of(match_state) != tag) {
                    break;  // taken over by another address meanwhile: look again
                }
            }
        } else if (vacant != SIZE_MAX) {
            if (slots_[vacant].state.compare_exchange_strong(vacant_state, (tag << kCountBits) | 1,
                                                             std::memory_order_acq_rel,
                                                             std::memory_order_acquire)) {
                taken = vacant;
            }
        } else {
            return untracked_overflow();
        }
        if (taken == SIZE_MAX) {
            continue;
        }
        if (rate_per_s != 0 && !take_rate_token(slots_[taken], now_ns, rate_per_s, burst)) {
            release(static_cast<std::uint32_t>(taken));
            return {Verdict::too_fast, kUntracked};
        }
        return {Verdict::admitted, static_cast<std::uint32_t>(taken)};
    }
    return untracked_overflow();
}

// GCRA: each admission pushes the theoretical arrival time one interval further; a client
// may run at most (burst - 1) intervals ahead of now. Only the holder of a count on the slot
// calls this, and the arrival time is its own single variable, so relaxed order suffices.
bool ClientTable::take_rate_token(Slot& slot, std::uint64_t now_ns, unsigned rate_per_s,
                                  unsigned burst) noexcept {
    std::uint64_t interval = 1'000'000'000 / rate_per_s;
    if (interval == 0) {
        return true;  // more than 10^9 per second: no limit at nanosecond resolution
    }
    std::uint64_t allowed_burst = burst != 0 ? burst : rate_per_s;
    std::uint64_t tolerance = (allowed_burst - 1) * interval;
    std::uint64_t arrival = slot.theoretical_arrival_ns.load(std::memory_order_relaxed);
    for (;;) {
        std::uint64_t start = std::max(arrival, now_ns);
        if (start - now_ns > tolerance) {
            return false;
        }
        if (slot.theoretical_arrival_ns.compare_exchange_weak(
                arrival, start + interval, std::memory_order_relaxed, std::memory_order_relaxed)) {
            return true;
        }
    }
}

void ClientTable::release(std::uint32_t slot) noexcept {
    if (slot > mask_) {
        return;  // kUntracked, or garbage: never touch memory for it
    }
    auto& state = slots_[slot].state;
    std::uint64_t current = state.load(std::memory_order_relaxed);
    // Never below zero, even for a release without an admission: the tag must survive.
    while (count_of(current) > 0 &&
           !state.compare_exchange_weak(current, current - 1, std::memory_order_acq_rel,
                                        std::memory_order_relaxed)) {
    }
}

std::size_t ClientTable::in_use() const noexcept {
    std::size_t used = 0;
    for (std::size_t i = 0; i <= mask_; ++i) {
        used += count_of(slots_[i].state.load(std::memory_order_relaxed)) > 0 ? 1 : 0;
    }
    return used;
}

}  // namespace ringlb
