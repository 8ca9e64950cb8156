// SPDX-License-Identifier: MIT
// Shard: one worker thread with its own ring, listeners, connection slab and pipe pool.
#pragma once

#include <linux/time_types.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringlb/io/pipe_pool.hpp"
#include "ringlb/io/ring.hpp"
#include "ringlb/io/unique_fd.hpp"
#include "ringlb/pool/backend_pool.hpp"
#include "ringlb/pool/epoch.hpp"
#include "ringlb/shard/connection.hpp"
#include "ringlb/shard/shard_stats.hpp"

namespace ringlb {

// Pipes each shard creates at start-up (more on demand, trimmed back to this when idle).
inline constexpr std::size_t kShardInitialPipes = 16;

// A listening socket owned by one shard, and where its clients go.
struct ShardListener final {
    UniqueFd fd;
    BackendPool* pool = nullptr;
    std::string name;
};

struct ShardOptions final {
    unsigned id = 0;           // also this shard's reader slot in the EpochDomain
    int cpu = -1;              // CPU to pin to; -1 = no pinning
    RingFeatures features;     // flags main probed once for all shards
    std::size_t slots = 4096;  // connections this shard can hold at once
    unsigned shutdown_grace_ms = 10000;
    unsigned pipe_size = 0;  // bytes asked of each pipe with F_SETPIPE_SZ; 0 = kernel default
};

class Shard final {
  public:
    Shard(ShardOptions options, std::vector<ShardListener> listeners, EpochDomain& epochs);
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;
    ~Shard();

    // Starts the thread and waits until it accepts on every listener; throws what stopped
    // it from getting there (e.g. the ring could not be set up).
    void start();
    // Any thread: close the listeners now, let connections finish for the grace period,
    // then close the rest and end the thread. Returns at once.
    void request_stop() noexcept;
    // Waits for the thread to end.
    void join() noexcept;

    [[nodiscard]] const ShardStats& stats() const noexcept { return stats_; }

  private:
    void run() noexcept;
    void loop();
    void arm_accept(std::uint32_t listener) noexcept;
    void arm_wake() noexcept;
    void arm_tick() noexcept;
    void dispatch(std::uint64_t user_data, int result, unsigned flags) noexcept;
    void on_accept(std::uint32_t listener, int result, unsigned flags) noexcept;
    void on_tick() noexcept;
    void begin_stop() noexcept;
    void shed_load(std::uint32_t listener) noexcept;
    void release(std::uint32_t slot) noexcept;
    [[nodiscard]] RelayContext context() noexcept;

    ShardOptions options_;
    std::vector<ShardListener> listeners_;
    EpochDomain& epochs_;
    ShardStats stats_;
    UniqueFd wake_fd_;     // eventfd: request_stop() writes it
    UniqueFd reserve_fd_;  // /dev/null, given up for a moment to turn clients away on EMFILE
    std::atomic<bool> stop_requested_{false};
    std::promise<void> started_;
    std::thread thread_;

    // Everything below belongs to the shard thread alone.
    std::unique_ptr<Ring> ring_;
    std::unique_ptr<PipePool> pipes_;
    std::vector<Connection> slab_;
    std::vector<std::uint32_t> free_slots_;  // reserved to slab size: never allocates
    std::uint64_t now_ms_ = 0;
    std::uint64_t wake_value_ = 0;  // target of the eventfd read
    __kernel_timespec tick_interval_{};
    __kernel_timespec accept_retry_delay_{};
    std::uint64_t next_idle_scan_ms_ = 0;
    std::uint64_t idle_scan_interval_ms_ = 1000;
    std::uint64_t stop_deadline_ms_ = 0;
    std::size_t listeners_open_ = 0;
    bool stopping_ = false;
    RateLimiter accept_error_log_{5000};
};

}  // namespace ringlb
