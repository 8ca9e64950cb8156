// SPDX-License-Identifier: MIT
// Shard: one worker thread with its own ring, listeners, connection slab and pipe pool.
#pragma once

#include <linux/time_types.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ringlb/access/access_log.hpp"
#include "ringlb/access/client_table.hpp"
#include "ringlb/base/epoch.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/buffer_ring.hpp"
#include "ringlb/io/pipe_pool.hpp"
#include "ringlb/io/ring.hpp"
#include "ringlb/runtime/generation.hpp"
#include "ringlb/runtime/shard_stats.hpp"
#include "ringlb/shard/connection.hpp"

namespace ringlb {

// Pipes each shard creates at start-up (more on demand, trimmed back to this when idle).
inline constexpr std::size_t kShardInitialPipes = 16;
// Each shard's buffer ring for small messages (global.splice = "auto"): a read smaller than
// one buffer stays in copy mode. Faulted in at start-up: 2 MiB per shard.
inline constexpr unsigned kShardBuffers = 256;
inline constexpr unsigned kShardBufferSize = 8192;

// A generation for a shard to adopt, with its listening sockets: a listener whose key (its
// bind address) the shard already has keeps its socket (fd invalid here); a new one comes
// with its own SO_REUSEPORT socket; the shard closes listeners whose key is not listed.
struct ShardUpdate final {
    struct Listener {
        std::string key;
        UniqueFd fd;                // new socket, or invalid to keep the shard's own
        std::uint32_t runtime = 0;  // index in generation->listeners
    };
    Generation* generation = nullptr;  // kept alive by the caller until adopted() moves past it
    std::vector<Listener> listeners;
    // This shard's access log buffer once an access log exists (a reload may add the first
    // one); null keeps the one the shard has.
    AccessLogBuffer* access_log = nullptr;
};

// The shards that hold a client they could not serve because global.max_connections was
// reached, and how to wake them when a place frees up anywhere.
struct AcceptWaiters final {
    std::atomic<std::uint64_t> waiting{0};  // bit i: shard i waits (shards 0..63; others tick)
    std::vector<int> wake_fds;              // shard i's eventfd; filled before shards start

    // Any shard: a place has freed up; wakes every waiting shard but `self`.
    void wake(unsigned self) noexcept;
};

// What a shard publishes for the others, so that one whose slots are full can hand a client
// to one with room (IORING_OP_MSG_RING). Written by its shard (ring_fd, room) or claimed by
// senders (incoming), relaxed: a hint, checked again by the receiver.
struct alignas(64) ShardPeer final {
    std::atomic<int> ring_fd{-1};        // its ring while it serves; -1 before and once stopping
    std::atomic<std::uint64_t> room{0};  // its free connection slots
    std::atomic<std::uint64_t> incoming{0};  // clients sent to it, not yet taken
};

// Process-wide objects every shard uses; they outlive the shards.
struct ShardServices final {
    ClientTable* clients = nullptr;
    AccessLogBuffer* access_log = nullptr;  // this shard's buffer; null when no access log
    // Connections open in the whole process: each takes its place when its accept completes
    // and gives it back when its slot is free again. What global.max_connections limits,
    // and what the metrics report.
    std::atomic<std::uint64_t>* open_connections = nullptr;
    // global.max_connections; 0 = no limit. Changed by reloads.
    std::atomic<std::uint64_t>* max_connections = nullptr;
    AcceptWaiters* waiters = nullptr;
    // Every shard's ShardPeer (index = shard id); null or one: no hand-offs.
    ShardPeer* peers = nullptr;
    unsigned peer_count = 0;
};

// Thrown by Shard::start when the thread has not reported within its time.
class ShardStuck final : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct ShardOptions final {
    unsigned id = 0;           // also this shard's reader slot in the EpochDomain
    int cpu = -1;              // CPU to pin to; -1 = no pinning
    RingFeatures features;     // flags main probed once for all shards
    std::size_t slots = 4096;  // connections this shard can hold at once
    unsigned pipe_size = 0;    // bytes asked of each pipe with F_SETPIPE_SZ; 0 = kernel default
    // Copy small messages through a buffer ring (global.splice = "auto" and a kernel with
    // features.recv_multishot); false: splice everything. (Hand-offs need features.msg_ring.)
    bool copy_small_messages = false;
    // global.batch_wait_us where the kernel has RingFeatures::min_wait, else 0: after a loop
    // pass that handled two completions or more, wait up to this long for kBatchCompletions
    // before handling the next ones; 0 = wake for each.
    unsigned batch_wait_us = 0;
};

class Shard final {
  public:
    Shard(ShardOptions options, std::unique_ptr<ShardUpdate> initial, EpochDomain& epochs,
          ShardServices services);
    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;
    ~Shard();

    // Starts the thread and waits until it accepts on every listener; throws what stopped
    // it from getting there (e.g. the ring could not be set up), or a ShardStuck when it has
    // not got there within `timeout_ms` (the thread then still runs: see finished()).
    void start(std::uint64_t timeout_ms);
    // Any thread: close the listeners now, let connections finish for the grace period of
    // the generation in use (none when `immediately`), then close the rest and end the
    // thread. Returns at once.
    void request_stop(bool immediately = false) noexcept;
    // Waits for the thread to end. Call it once finished() is true, or to wait without a
    // bound (the destructor does, so a Shard whose thread may never end must not be
    // destroyed: the process exits instead).
    void join() noexcept;
    // Whether the thread has ended (or never started), for any reason.
    [[nodiscard]] bool finished() const noexcept {
        return finished_.load(std::memory_order_acquire);
    }
    // Why the thread ended although it was not asked to stop ("" when it was, or while it
    // runs): the shard is dead. Valid once finished() is true.
    [[nodiscard]] const std::string& failure() const noexcept { return failure_; }

    // Main thread: hands over a new generation. The shard adopts it at its next loop pass;
    // returns false (and keeps nothing) while a previous update is still waiting.
    bool post_update(std::unique_ptr<ShardUpdate>& update) noexcept;
    // The id of the generation this shard uses for new connections.
    [[nodiscard]] std::uint64_t adopted() const noexcept {
        return adopted_.load(std::memory_order_acquire);
    }

    [[nodiscard]] const ShardStats& stats() const noexcept { return stats_; }
    // The eventfd that wakes this shard (AcceptWaiters).
    [[nodiscard]] int wake_fd() const noexcept { return wake_fd_.get(); }

  private:
    // A listening socket of this shard and where its clients go.
    struct ListenerSlot {
        UniqueFd fd;
        std::string key;
        ListenerRuntime* runtime = nullptr;
        UniqueFd parked;         // a client accepted while global.max_connections was reached
        bool armed = false;      // an accept is in flight
        bool multishot = false;  // that accept is multishot (no limit in force when armed)
        bool removing = false;   // cancelled by an update or the stop: close when settled
    };

    // The thread, its loop, its own requests and the slab (src/shard/shard.cpp).
    void run() noexcept;
    void loop();
    // How many completions a batched wait (ShardOptions::batch_wait_us) waits for at most.
    static constexpr unsigned kBatchCompletions = 64;
    void rearm_own();
    void check_ring_error(int error);
    void apply(std::unique_ptr<ShardUpdate> update);
    void dispatch(std::uint64_t user_data, int result, unsigned flags) noexcept;
    void arm_wake() noexcept;
    void arm_tick() noexcept;
    void begin_stop() noexcept;
    void on_tick() noexcept;
    // pool.on_backend_down = "close": closes the connections of backends gone down since the
    // last tick (a count per pool tells, so a tick without one costs a load per such pool).
    void close_for_down_backends() noexcept;
    void serve(std::uint32_t listener, UniqueFd client, bool handed = false) noexcept;
    void publish_room() noexcept;

    // A client this shard has no slot for goes to the shard with the most room
    // (src/shard/handoff.cpp).
    [[nodiscard]] bool hand_off(std::uint32_t listener, UniqueFd& client) noexcept;
    void on_handoff(std::uint64_t user_data, int fd) noexcept;
    void on_handoff_sent(std::uint64_t user_data, int result) noexcept;
    void release(std::uint32_t slot) noexcept;
    [[nodiscard]] RelayContext context() noexcept;

    // The listening sockets (src/shard/listeners.cpp).
    void adopt_listeners(Generation& generation, std::vector<ShardUpdate::Listener>& listeners);
    void reconfigure(ListenerSlot& slot, const config::ListenerConfig& wanted) noexcept;
    void arm_accept(std::uint32_t listener) noexcept;
    void cancel_accept(std::uint32_t listener) noexcept;
    // Asks the kernel to cancel the listener's accept (its final completion then comes as
    // Op::accept_cancel's); false, counted in ring_full, when no submission slot was free.
    [[nodiscard]] bool submit_accept_cancel(std::uint32_t listener) noexcept;
    void close_listener(std::uint32_t listener) noexcept;
    void on_accept(std::uint32_t listener, int result, unsigned flags) noexcept;
    void shed_load(std::uint32_t listener) noexcept;

    // global.max_connections: places and parked clients (src/shard/accept_gate.cpp).
    bool take_place() noexcept;
    void return_place() noexcept;
    void park(std::uint32_t listener, UniqueFd client) noexcept;
    void resume_paused() noexcept;

    // pool.queue_timeout_ms: this shard's waiters, one list per pool (src/shard/pool_waiters.cpp).
    // Links the connection in `slot`, which has just started waiting, at the back of its pool's.
    void enqueue(std::uint32_t slot) noexcept;
    // Serves the waiters of every pool, or of `queue`, that are the oldest of all shards, while
    // places are free.
    void serve_waiters() noexcept;
    void serve_waiters(PoolQueue& queue) noexcept;
    // Closes the waiters whose queue_timeout_ms has run out (every tick).
    void expire_waiters() noexcept;
    // Closes every waiter (the stop's grace is over).
    void close_waiters() noexcept;
    // Unlinks the oldest waiter of `queue` here and returns its slot.
    std::uint32_t pop_waiter(PoolQueue& queue) noexcept;

    ShardOptions options_;
    EpochDomain& epochs_;
    ShardServices services_;
    ShardStats stats_;
    UniqueFd wake_fd_;     // eventfd: request_stop() and post_update() write it
    UniqueFd reserve_fd_;  // /dev/null, given up for a moment to turn clients away on EMFILE
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> stop_immediately_{false};
    std::atomic<bool> finished_{true};  // false from start() until the thread ends
    std::string failure_;               // written by the thread before finished_
    std::atomic<ShardUpdate*> mailbox_{nullptr};
    std::atomic<std::uint64_t> adopted_{0};
    std::unique_ptr<ShardUpdate> initial_;
    std::promise<void> started_;
    std::thread thread_;

    // Everything below belongs to the shard thread alone.
    std::unique_ptr<Ring> ring_;
    std::unique_ptr<PipePool> pipes_;
    std::unique_ptr<BufferRing> buffers_;  // null: small messages are spliced too
    Generation* generation_ = nullptr;
    std::vector<ListenerSlot> listeners_;
    std::vector<Connection> slab_;
    std::vector<std::uint32_t> free_slots_;  // reserved to slab size: never allocates
    std::vector<std::uint8_t> scratch_;      // PROXY headers in and out, ClientHellos
    std::uint64_t now_ms_ = 0;
    std::uint64_t wake_value_ = 0;  // target of the eventfd read
    __kernel_timespec tick_interval_{};
    __kernel_timespec accept_retry_delay_{};
    std::uint64_t next_idle_scan_ms_ = 0;
    std::uint64_t seen_backend_downs_ = 0;  // sum of BackendPool::backend_downs() last tick
    std::uint64_t idle_scan_interval_ms_ = 1000;
    std::uint64_t stop_deadline_ms_ = 0;
    std::size_t listeners_open_ = 0;
    std::size_t parked_ = 0;  // listeners holding a parked client (not accepting meanwhile)
    PoolQueue* busy_queues_ = nullptr;  // pools with waiters here, through Row::next_busy
    std::size_t waiting_ = 0;           // connections waiting in them
    bool serving_waiters_ = false;      // serve_waiters is on the stack: not again
    bool stopping_ = false;
    bool wake_armed_ = false;             // the eventfd read is in flight
    bool tick_armed_ = false;             // the tick timeout is in flight
    bool tick_due_ = false;               // the tick completed in this pass: on_tick at its end
    std::uint64_t failing_since_ms_ = 0;  // io_uring_enter has failed since then; 0 = it works
    RateLimiter accept_error_log_{5000};

    // Logs at `level` at most once per 5 s for the whole shard, so that a storm of refused
    // clients or failed calls costs one line; the number of lines held back since the last
    // one is the format's last argument.
    template <typename... Args>
    void log_throttled(LogLevel level, fmt::format_string<Args..., std::uint64_t&> format,
                       Args&&... args) noexcept {
        std::uint64_t suppressed = 0;
        if (accept_error_log_.allow(now_ms_ * 1000000, suppressed)) {
            log(level, format, std::forward<Args>(args)..., suppressed);
        }
    }
};

}  // namespace ringlb
