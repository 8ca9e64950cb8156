// SPDX-License-Identifier: MIT
// Connection: one proxied client, from admission and backend connect to teardown.
#pragma once

#include <linux/time_types.h>
#include <netinet/in.h>

#include <cstdint>
#include <span>

#include "ringlb/access/access_log.hpp"
#include "ringlb/access/client_table.hpp"
#include "ringlb/access/termination.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/token_bucket.hpp"
#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/buffer_ring.hpp"
#include "ringlb/io/pipe_pool.hpp"
#include "ringlb/io/ring.hpp"
#include "ringlb/pool/pool_queue.hpp"
#include "ringlb/runtime/generation.hpp"
#include "ringlb/runtime/shard_stats.hpp"
#include "ringlb/shard/user_data.hpp"

namespace ringlb {

// What a connection needs of its shard while it handles one completion.
struct RelayContext final {
    Ring& ring;
    PipePool& pipes;
    ShardStats& stats;
    unsigned shard;                   // this shard's index: its row in per-shard statistics
    bool cancel_by_fd;                // the kernel has IORING_ASYNC_CANCEL_FD | _ALL (5.19)
    std::uint64_t now_ms;             // coarse monotonic time of this loop pass
    ClientTable& clients;             // per-client limits, shared by all shards
    AccessLogBuffer* access_log;      // this shard's, or null when no listener logs
    std::span<std::uint8_t> scratch;  // the shard's buffer for PROXY headers and ClientHellos
    BufferRing* buffers;              // small messages are copied through it; null: splice only
    std::span<const int> wake_fds;    // every shard's eventfd, by id (PoolQueue::wake_others)
};

// A slot of the shard's slab. All methods run on the owning shard's thread only; none
// blocks, allocates or throws.
//
// The life of a connection: admission (PROXY header when the listener expects one,
// allow/deny, per-client limits) → a backend with room from the pool's algorithm → connect
// with a linked timeout, retrying the next backend → PROXY header to the backend when the
// pool sends one → the relay. Each direction of the relay waits for readiness with a
// one-shot io_uring poll, then moves bytes with splice(2) from the source socket into a
// pooled pipe and from the pipe into the destination socket, both non-blocking. -EAGAIN
// arms the matching poll again; a pipe goes back to the pool as soon as it is empty and the
// source has nothing more to read, so an idle connection holds no pipe.
//
// A listener with [[listener.route]]s reads the client's TLS ClientHello with MSG_PEEK before
// it picks the pool, so the backend still receives every byte.
//
// Its member functions live in files of one concern each: src/shard/connection.cpp (the
// life: start, connect and retries, teardown, access record), src/shard/admission.cpp,
// src/shard/tls_inspect.cpp (routing by server name), src/shard/relay.cpp (splice) and
// src/shard/relay_copy.cpp (small messages).
class Connection final {
  public:
    enum class Progress { running, finished };  // finished: the slot may be reused
    enum class Ending { graceful, reset };      // how the sockets are closed

    // Gives the slot its index, which its requests carry in user_data. Called once.
    void set_index(std::uint32_t index) noexcept { index_ = index; }

    // Takes ownership of an accepted client of `listener` (of `generation`, which must stay
    // alive while Generation::connections counts this connection).
    Progress start(int client_fd, ListenerRuntime& listener, Generation& generation,
                   RelayContext& context) noexcept;
    // Handles the completion of one of this slot's requests (`flags`: the CQE's).
    Progress on_completion(Op op, int result, unsigned flags, RelayContext& context) noexcept;
    // Ends the connection: cancels what is in flight; the slot is free once it returns
    // finished, or once a later on_completion does. `why` goes to the access log and to
    // ringlb_connections_closed_total.
    Progress close(RelayContext& context, Ending ending, Termination why) noexcept;
    // The shard's periodic scan: an interim access-log line when the connection has been
    // relaying for another listener.access_log_interval_ms.
    void log_interim(RelayContext& context) noexcept;

    [[nodiscard]] bool in_use() const noexcept { return state_ != State::free; }
    [[nodiscard]] bool closing() const noexcept { return state_ == State::closing; }
    [[nodiscard]] unsigned idle_timeout_ms() const noexcept;
    [[nodiscard]] std::uint64_t last_active_ms() const noexcept { return last_active_ms_; }
    // pool.max_connection_duration_ms of the pool it relays to (0 = none, also before a pool
    // is chosen), counted from started_ms().
    [[nodiscard]] std::uint64_t max_duration_ms() const noexcept;
    [[nodiscard]] std::uint64_t started_ms() const noexcept { return started_ms_; }
    // Whether it relays to a backend that health checks marked down, in a pool whose
    // on_backend_down is "close".
    [[nodiscard]] bool relays_to_down_backend() const noexcept;

    // pool.queue_timeout_ms: a client that found every live backend of its pool full waits,
    // its bytes unread and nothing in flight, in its shard's list of the pool's waiters
    // (src/shard/pool_waiters.cpp), linked through these fields.
    struct QueueLink final {
        std::uint32_t next = PoolQueue::kNoSlot;  // the next waiter of the pool on this shard
        std::uint64_t ticket = 0;                 // its place in the pool's order
        std::uint64_t deadline_ms = 0;            // when it gives up
    };
    [[nodiscard]] bool queued() const noexcept { return state_ == State::queued; }
    // True once, right after the connection started waiting: the shard then links it in.
    [[nodiscard]] bool take_queue_request() noexcept {
        const bool requested = queue_requested_;
        queue_requested_ = false;
        return requested;
    }
    [[nodiscard]] QueueLink& queue_link() noexcept { return queue_link_; }
    // The pool it waits for (or was routed to); null before one is chosen.
    [[nodiscard]] BackendPool* pool() const noexcept { return target_.pool; }
    // The waiter's turn: tries for a place again. Still queued() when there was none.
    Progress retry_from_queue(RelayContext& context) noexcept { return connect_next(context); }
    // The waiter's queue_timeout_ms ran out: closed and counted.
    Progress give_up_waiting(RelayContext& context) noexcept;

  private:
    enum class State : std::uint8_t {
        free,
        proxy_header,
        inspecting,
        queued,  // waiting for a place (pool.queue_timeout_ms)
        connecting,
        relaying,
        closing
    };

    // One way of the relay: bytes read from `src` wait in `pipe` until `dst` takes them.
    struct Direction {
        int src = -1;
        int dst = -1;
        Op read_poll = Op::client_in;     // poll that says src is readable
        Op write_poll = Op::backend_out;  // poll that says dst is writable
        Op recv_op = Op::client_recv;     // multishot receive from src
        Op send_op = Op::backend_send;    // send of the queue's head to dst
        Op wait_op = Op::upload_wait;     // timer until the bandwidth limit has bytes again
        TokenBucket limit;                // listener.upload/download_bytes_per_s
        __kernel_timespec wait_for{};     // that timer's length, read by the kernel
        Pipe pipe;
        BufferQueue queue;              // received (copy mode), not yet sent; oldest first
        std::uint32_t sent = 0;         // bytes of the queue's head already sent
        std::uint32_t burst = 0;        // bytes spliced from src since it last waited
        std::uint8_t small_bursts = 0;  // waits in a row after less than a buffer: -> copy
        bool copying = false;           // copy mode: a multishot receive feeds the queue
        bool leaving = false;           // copy mode: the receive's cancel is in flight
        std::uint32_t in_pipe = 0;      // bytes spliced into the pipe, not yet out of it
        bool eof = false;               // src said EOF
        bool done = false;              // eof, pipe drained and dst shut down for writing
        bool drained = false;           // the last read took less than a pipeful: src is empty
        std::uint64_t delivered = 0;    // bytes written to dst
        std::atomic<std::uint64_t>* backend_counter = nullptr;  // Backend bytes_in/out
    };

    // An IPv4 or IPv6 address in the space of a sockaddr_in6.
    union Address {
        sockaddr base;
        sockaddr_in v4;
        sockaddr_in6 v6;
    };

    // Admission (admission.cpp): the client's address, its PROXY header, rules and limits.
    Progress begin_admission(RelayContext& context) noexcept;
    Progress admit(RelayContext& context) noexcept;
    Progress read_proxy_header(RelayContext& context) noexcept;
    Progress arm_proxy_wait(RelayContext& context) noexcept;
    // Routing by TLS server name (tls_inspect.cpp).
    Progress begin_inspection(RelayContext& context) noexcept;
    // timed_out: tls_inspect_timeout_ms has passed; ended: the client shut down its side
    // (or failed), so no more bytes will come. Either way this look decides.
    Progress inspect_client_hello(RelayContext& context, bool timed_out, bool ended) noexcept;
    Progress arm_hello_wait(RelayContext& context, std::size_t needed) noexcept;
    Progress route_to(PoolTarget target, RelayContext& context) noexcept;
    // The relay (relay.cpp).
    Progress start_relay(RelayContext& context) noexcept;
    Progress pump(Direction& direction, RelayContext& context) noexcept;
    Progress arm_poll(Op op, int fd, unsigned events, RelayContext& context) noexcept;
    Progress wait_readable(Direction& direction, RelayContext& context) noexcept;
    Progress arm_wait(Direction& direction, RelayContext& context) noexcept;
    // Copy mode (relay_copy.cpp).
    Progress start_copying(Direction& direction, RelayContext& context) noexcept;
    Progress leave_copying(Direction& direction, RelayContext& context) noexcept;
    Progress pump_copy(Direction& direction, RelayContext& context) noexcept;
    Progress on_received(Direction& direction, int result, unsigned flags,
                         RelayContext& context) noexcept;
    Progress on_sent(Direction& direction, int result, RelayContext& context) noexcept;
    // The rest of the life (connection.cpp).
    Progress connect_next(RelayContext& context) noexcept;
    Progress on_connect(int result, RelayContext& context) noexcept;
    Progress retry_or_close(RelayContext& context) noexcept;
    bool send_proxy_header(RelayContext& context) noexcept;
    Progress ring_full(RelayContext& context) noexcept;
    // Closes with a reset after a failed socket call on `fd` (the client's or the backend's):
    // that side reset or vanished. Counted as a connection error.
    Progress reset_by(int fd, RelayContext& context) noexcept;
    // `direction`'s source said EOF: the first of the two names who closed (closer_).
    void note_eof(const Direction& direction) noexcept;
    // The two ends of the first-byte latency: `bytes` more delivered by `direction` (the
    // client's first, when it is upstream), and bytes read by `direction` (the backend's
    // first, when it is downstream). Cheap enough to call on every move: one compare.
    void note_delivered(const Direction& direction) noexcept {
        if (request_sent_ns_ == 0 && &direction == &upstream_) {
            request_sent_ns_ = monotonic_ns();
        }
    }
    void note_read(const Direction& direction, RelayContext& context) noexcept {
        if (!response_seen_ && &direction == &downstream_) {
            note_first_response(context);
        }
    }
    void note_first_response(RelayContext& context) noexcept;
    void cancel_in_flight(RelayContext& context) noexcept;
    void release_backend() noexcept;
    void fill_access_record(AccessRecord& record, RelayContext& context) const noexcept;
    void log_access(RelayContext& context) noexcept;
    Progress finish(RelayContext& context) noexcept;
    [[nodiscard]] static unsigned bit(Op op) noexcept { return 1u << static_cast<unsigned>(op); }

    UniqueFd client_fd_;
    UniqueFd backend_fd_;
    Direction upstream_;    // client -> backend
    Direction downstream_;  // backend -> client
    ListenerRuntime* listener_ = nullptr;
    PoolTarget target_;  // the pool chosen for it: the listener's, or a route's
    Generation* generation_ = nullptr;
    Backend* backend_ = nullptr;  // set exactly while it holds a place there (see connect_next)
    std::uint32_t index_ = 0;     // this slot's index in the slab
    std::uint32_t pending_ = 0;   // requests submitted whose completion has not come yet
    std::uint32_t armed_ = 0;     // bit(op) for each poll/connect now in flight
    std::uint32_t client_slot_ = ClientTable::kUntracked;  // place in the client table
    std::uint16_t attempts_ = 0;                           // backend connects tried
    State state_ = State::free;
    bool has_client_address_ = false;
    bool queue_requested_ = false;  // entered the queue; the shard has not linked it yet
    QueueLink queue_link_;
    Termination ending_ = Termination::client_closed;  // why it ended
    Termination closer_ = Termination::client_closed;  // whose FIN came first, once one came
    std::uint64_t started_ms_ = 0;
    std::uint64_t next_interim_ms_ = 0;     // the next interim access-log line; 0: none
    bool relayed_ = false;                  // the backend connect succeeded
    bool response_seen_ = false;            // the backend's first byte has been read
    std::uint64_t started_ns_ = 0;          // accept (precise monotonic clock)
    std::uint64_t connect_started_ns_ = 0;  // the backend connect in flight was submitted
    std::uint64_t request_sent_ns_ = 0;  // the client's first byte reached the backend; 0: not yet
    std::uint64_t last_active_ms_ = 0;
    std::uint64_t proxy_deadline_ms_ = 0;  // also the ClientHello's deadline
    std::uint32_t hello_lowat_ = 0;        // SO_RCVLOWAT set while a ClientHello is awaited
    Address client_{};             // the client: the peer, or the source of its PROXY header
    Address local_{};              // where the client connected to (or the header's destination)
    Address backend_address_{};    // the backend's address, read by the kernel at submission
    __kernel_timespec timeout_{};  // read by the kernel at submission
};

}  // namespace ringlb
