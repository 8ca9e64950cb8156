// SPDX-License-Identifier: MIT
// Ring: one io_uring instance, set up with the best flags this kernel accepts.
#pragma once

#include <liburing.h>

#include <string>

namespace ringlb {

// What the kernel accepted when a ring was set up; probed once in main, reused by shards.
struct RingFeatures final {
    unsigned setup_flags = 0;       // IORING_SETUP_* that the kernel accepted
    unsigned kernel_features = 0;   // IORING_FEAT_* the kernel reported (for the log)
    bool multishot_accept = false;  // IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT (5.19)
    bool cancel_fd_all = false;     // IORING_ASYNC_CANCEL_FD | _ALL (5.19)
    // Multishot receive into a registered buffer ring (IORING_RECV_MULTISHOT, 6.0) and
    // IORING_OP_SEND: what the relay copies small messages with.
    bool recv_multishot = false;
    // IORING_OP_MSG_RING with IORING_MSG_DATA (5.18) reaches another ring set up with these
    // flags (tried, not guessed): how a full shard hands a client to one with room.
    bool msg_ring = false;
    // io_uring_enter can wait a minimum time for a batch of completions before it settles for
    // fewer (IORING_FEAT_MIN_TIMEOUT, 6.12): what global.batch_wait_us needs.
    bool min_wait = false;

    // For the start-up log: single_issuer (6.0), defer_taskrun (6.1), coop_taskrun (5.19),
    // fast_poll (5.7), multishot_accept, cancel_fd_all, recv_multishot, msg_ring, min_wait.
    [[nodiscard]] std::string describe() const;
};

class Ring final {
  public:
    // Sets up a ring with `entries` submission slots and the given IORING_SETUP_* flags;
    // throws std::system_error if the kernel refuses.
    Ring(unsigned entries, unsigned setup_flags);
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring();

    // Tries the preferred flags and falls back one by one, logging each refusal. Throws
    // std::system_error when io_uring is unavailable altogether.
    [[nodiscard]] static RingFeatures probe();

    // Returns a submission slot, flushing the queue to the kernel first if it is full; null
    // when a few flushes in a row free none (the kernel refuses submissions: out of memory,
    // an overflowing completion queue, a ring in a bad state). The caller then fails the one
    // request it wanted the slot for. Bounded: at most kFlushAttempts system calls.
    [[nodiscard]] io_uring_sqe* next_sqe() noexcept;
    // Makes sure `count` slots are free, flushing as next_sqe does, so that requests that
    // must reach the kernel together (a request and its linked timeout) get their slots
    // from next_sqe; false, with nothing taken, when they cannot be had.
    [[nodiscard]] bool make_room(unsigned count) noexcept;

    // Submits what is queued and waits for at least `wait_nr` completions; returns what
    // io_uring_enter returned (the number submitted) or -errno.
    int submit_and_wait(unsigned wait_nr) noexcept;
    // Submits what is queued and waits until `wait_nr` completions are there or `min_wait_us`
    // has passed with at least one, whichever comes first; with none, until the first.
    // Needs RingFeatures::min_wait (liburing 2.3 has no helper: the arguments are filled in
    // here). Returns as submit_and_wait does.
    int submit_and_wait_batch(unsigned wait_nr, unsigned min_wait_us) noexcept;

    // Limits io-wq to `bounded` + `unbounded` threads for this ring; returns 0 or -errno.
    int limit_workers(unsigned bounded, unsigned unbounded) noexcept;

    [[nodiscard]] io_uring* raw() noexcept { return &ring_; }

    // Flushes a full queue at most this many times before giving up on a slot.
    static constexpr int kFlushAttempts = 3;

  private:
    io_uring ring_{};
    bool registered_fd_ = false;  // io_uring_register_ring_fd succeeded: enter_ring_fd works
};

}  // namespace ringlb
