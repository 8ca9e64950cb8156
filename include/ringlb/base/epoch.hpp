// SPDX-License-Identifier: MIT
// EpochDomain: quiescent-state reclamation of objects that shards read without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

namespace ringlb {

// Anything handed to EpochDomain::retire; deleted through this base once safe.
class Retirable {
  public:
    virtual ~Retirable() = default;
};

// A value that readers reach through an atomic pointer and that is replaced as a whole (a
// backend's resolved address): the old one is retired, never changed in place.
template <class T>
struct Published final : Retirable {
    explicit Published(const T& initial) : value(initial) {}
    const T value;
};

// How it works: a writer swaps a shared pointer, then advances the global epoch to E and
// retires the old object tagged E. Each reader (shard) publishes, at the start of every loop
// pass, the epoch it saw before it loads any shared pointer, and publishes "offline" before
// it blocks in the kernel. A reader that published E or later, or is offline, cannot hold
// the old object: it loaded the pointer after the swap. So the object is freed once every
// reader is offline or at E or later. All of it is seq_cst, which is what makes the
// "published epoch, then load pointer" order visible to the writer; it costs one store per
// loop pass, not per connection. `std::atomic<std::shared_ptr>` is no alternative: it is
// not lock-free in libstdc++ 12.
class EpochDomain final {
  public:
    explicit EpochDomain(std::size_t readers);

    // Reader `reader` starts a loop pass: after this it may load shared pointers.
    void enter(std::size_t reader) noexcept {
        slots_[reader].epoch.store(global_.load(std::memory_order_seq_cst),
                                   std::memory_order_seq_cst);
    }
    // Reader `reader` will block or stop: it holds no shared pointer until its next enter().
    void leave(std::size_t reader) noexcept {
        slots_[reader].epoch.store(kOffline, std::memory_order_seq_cst);
    }

    // Writer side (any control-plane thread): call after swapping the pointer to `old`.
    void retire(std::unique_ptr<Retirable> old);
    // Writer side: frees every retired object no reader can still hold. Returns how many
    // are still waiting.
    std::size_t reclaim() noexcept;
    // Writer side, for objects that cannot simply be retired (a backend that may still hold
    // connections): call after swapping the pointer; passed(fence()) is true once no reader can
    // hold anything it loaded before the call.
    [[nodiscard]] std::uint64_t fence() noexcept { return advance(); }
    [[nodiscard]] bool passed(std::uint64_t epoch) const noexcept;
    // How many retired objects have been freed so far (diagnostics, tests).
    [[nodiscard]] std::uint64_t freed() const noexcept {
        return freed_.load(std::memory_order_relaxed);
    }

  private:
    static constexpr std::uint64_t kOffline = UINT64_MAX;
    // Starts a new epoch and returns it.
    std::uint64_t advance() noexcept { return global_.fetch_add(1, std::memory_order_seq_cst) + 1; }
    struct alignas(64) Slot {
        std::atomic<std::uint64_t> epoch{kOffline};
    };
    struct Retired {
        std::uint64_t epoch;
        std::unique_ptr<Retirable> object;
    };

    alignas(64) std::atomic<std::uint64_t> global_{1};
    std::unique_ptr<Slot[]> slots_;
    std::size_t readers_;
    std::mutex writers_;            // control plane only: shards never take it
    std::vector<Retired> retired_;  // guarded by writers_
    std::atomic<std::uint64_t> freed_{0};
};

}  // namespace ringlb
