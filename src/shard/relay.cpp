// SPDX-License-Identifier: MIT
// A connection's relay: poll for readiness, then splice(2) through a pooled pipe, each way
// (small messages may take the copy path of relay_copy.cpp instead). Member functions of
// Connection, whose life is in connection.cpp.
#include "ringlb/shard/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {
// A pump moves at most kPumpBudget pipefuls before it yields to other connections (by
// arming a poll that completes at once).
constexpr int kPumpBudget = 16;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// Waits in a row after small bursts before a direction switches to copy mode.
constexpr int kSmallBursts = 2;
// A direction paused by its bandwidth limit reads again when half its bucket (50 ms of the
// rate), at most this much, has accumulated: 20 wake-ups a second up to 20 MiB/s. Half, not
// all: a timer that fires late would otherwise find the bucket full and lose what it earned
// meanwhile (measured: waiting for the whole depth made 2 MiB at 512 KiB/s take 8-18 % long).
constexpr std::uint64_t kMaxResumeBytes = 1048576;
}  // namespace

// The backend is connected (and has its PROXY header): both directions start moving bytes.
Connection::Progress Connection::start_relay(RelayContext& context) noexcept {
    state_ = State::relaying;
    last_active_ms_ = context.now_ms;
    upstream_.src = client_fd_.get();
    upstream_.dst = backend_fd_.get();
    upstream_.read_poll = Op::client_in;
    upstream_.write_poll = Op::backend_out;
    upstream_.recv_op = Op::client_recv;
    upstream_.send_op = Op::backend_send;
    upstream_.backend_counter = &backend_->bytes_in;
    downstream_.src = backend_fd_.get();
    downstream_.dst = client_fd_.get();
    downstream_.read_poll = Op::backend_in;
    downstream_.write_poll = Op::client_out;
    downstream_.recv_op = Op::backend_recv;
    downstream_.send_op = Op::client_send;
    downstream_.backend_counter = &backend_->bytes_out;
    upstream_.wait_op = Op::upload_wait;
    downstream_.wait_op = Op::download_wait;
    const config::ListenerConfig& limits = listener_->config;
    if (limits.upload_bytes_per_s != 0 || limits.download_bytes_per_s != 0) {
        const std::uint64_t now_ns = monotonic_ns();
        upstream_.limit.reset(limits.upload_bytes_per_s, now_ns);
        downstream_.limit.reset(limits.download_bytes_per_s, now_ns);
    }
    if (pump(upstream_, context) == Progress::finished) {
        return Progress::finished;
    }
    if (state_ == State::closing) {
        return Progress::running;
    }
    return pump(downstream_, context);
}

// Moves bytes src -> pipe -> dst until one side would block, EOF, or the budget is spent.
Connection::Progress Connection::pump(Direction& direction, RelayContext& context) noexcept {
    if (direction.done) {
        return Progress::running;
    }
    if (direction.copying) {
        return pump_copy(direction, context);
    }
    for (int budget = kPumpBudget; budget > 0; --budget) {
        if (direction.in_pipe > 0) {
            ssize_t moved = ::splice(direction.pipe.read_fd, nullptr, direction.dst, nullptr,
                                     direction.in_pipe, kSpliceFlags);
            if (moved > 0) {
                const auto bytes = static_cast<std::uint64_t>(moved);
                direction.in_pipe -= static_cast<std::uint32_t>(moved);
                note_delivered(direction);
                direction.delivered += bytes;
                direction.backend_counter->fetch_add(bytes, std::memory_order_relaxed);
                last_active_ms_ = context.now_ms;
                continue;
            }
            if (moved < 0 && errno == EINTR) {
                continue;
            }
            if (moved < 0 && errno == EAGAIN) {
                return arm_poll(direction.write_poll, direction.dst, POLLOUT, context);
            }
            return reset_by(direction.dst, context);  // dst reset or gone: tell the other side
        }
        if (direction.eof) {
            // Everything read has been delivered: pass the EOF on, keep the other way open.
            context.pipes.release(direction.pipe, true);
            if (::shutdown(direction.dst, SHUT_WR) < 0 && errno != ENOTCONN) {
                return reset_by(direction.dst, context);
            }
            direction.done = true;
            if (upstream_.done && downstream_.done) {
                return close(context, Ending::graceful, closer_);
            }
            return Progress::running;
        }
        if (direction.drained) {
            // The last read emptied the socket: asking again would only return -EAGAIN, so
            // wait for readiness now (the poll completes at once if more has arrived).
            direction.drained = false;
            context.pipes.release(direction.pipe, true);
            return wait_readable(direction, context);
        }
        std::size_t room = context.pipes.capacity();
        if (direction.limit.limited()) {
            // The bandwidth limit: read no more than the bucket holds; with nothing in it,
            // leave the bytes in the socket (TCP slows the sender down) until it refills.
            const std::uint64_t tokens = direction.limit.available(monotonic_ns());
            if (tokens == 0) {
                context.pipes.release(direction.pipe, true);  // empty: the loop flushed it
                return arm_wait(direction, context);
            }
            room = std::min<std::uint64_t>(room, tokens);
        }
        if (!direction.pipe.valid()) {
            int result = context.pipes.acquire(direction.pipe);
            if (result < 0) {
                ShardStats::add(context.stats.errors, 1);
                log_debug("no pipe for a connection: {}", std::strerror(-result));
                return close(context, Ending::reset, Termination::internal_error);
            }
        }
        ssize_t moved =
            ::splice(direction.src, nullptr, direction.pipe.write_fd, nullptr, room, kSpliceFlags);
        if (moved > 0) {
            direction.limit.take(static_cast<std::uint64_t>(moved));
            note_read(direction, context);
            direction.in_pipe += static_cast<std::uint32_t>(moved);
            direction.burst += static_cast<std::uint32_t>(std::min<std::size_t>(
                static_cast<std::size_t>(moved), UINT32_MAX - direction.burst));
            direction.drained = static_cast<std::size_t>(moved) < room;
            continue;
        }
        if (moved == 0) {
            note_eof(direction);
            direction.eof = true;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            context.pipes.release(direction.pipe, true);  // idle: hold no pipe
            return wait_readable(direction, context);
        }
        return reset_by(direction.src, context);  // src reset: reset the other side too
    }
    // Budget spent with both sides still ready: a poll that completes at once puts this
    // connection back in line behind the others.
    if (direction.in_pipe > 0) {
        return arm_poll(direction.write_poll, direction.dst, POLLOUT, context);
    }
    return arm_poll(direction.read_poll, direction.src, POLLIN, context);
}

// Waits until src has bytes. After kSmallBursts waits in a row each preceded by less than one
// buffer of the shard's ring (messages, not a stream), with a multishot receive into that
// ring (copy mode, relay_copy.cpp); otherwise with a poll, then splice. HAProxy's
// splice-auto makes the same choice on the size of what it read. Counting a whole burst, and
// two in a row, keeps a bulk transfer whose last read happens to be short on splice: every
// switch to copy costs the next large burst up to a ring-ful of copies before it is back.
Connection::Progress Connection::wait_readable(Direction& direction,
                                               RelayContext& context) noexcept {
    if (context.buffers != nullptr) {
        const bool small = direction.burst < context.buffers->buffer_size();
        direction.small_bursts =
            small ? static_cast<std::uint8_t>(std::min(direction.small_bursts + 1, kSmallBursts))
                  : 0;
        direction.burst = 0;
        if (direction.in_pipe == 0 && direction.small_bursts >= kSmallBursts) {
            return start_copying(direction, context);
        }
    }
    return arm_poll(direction.read_poll, direction.src, POLLIN, context);
}

// Sleeps until the direction's bandwidth limit lets it read again (then pump).
Connection::Progress Connection::arm_wait(Direction& direction, RelayContext& context) noexcept {
    if ((armed_ & bit(direction.wait_op)) != 0) {
        return Progress::running;
    }
    io_uring_sqe* sqe = context.ring.next_sqe();
    if (sqe == nullptr) {
        return ring_full(context);
    }
    const std::uint64_t ns =
        direction.limit.wait_ns(std::min(direction.limit.depth() / 2 + 1, kMaxResumeBytes));
    direction.wait_for.tv_sec = static_cast<long long>(ns / TokenBucket::kNsPerS);
    direction.wait_for.tv_nsec = static_cast<long long>(ns % TokenBucket::kNsPerS);
    io_uring_prep_timeout(sqe, &direction.wait_for, 0, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(direction.wait_op, index_));
    armed_ |= bit(direction.wait_op);
    ++pending_;
    return Progress::running;
}

Connection::Progress Connection::reset_by(int fd, RelayContext& context) noexcept {
    ShardStats::add(context.stats.errors, 1);
    if (fd == backend_fd_.get() && !response_seen_ && backend_ != nullptr &&
        target_.pool->config().passive.consecutive_failures > 0) {
        backend_->note_passive_failure();  // it took the connection and dropped it unanswered
    }
    return close(context, Ending::reset,
                 fd == client_fd_.get() ? Termination::client_reset : Termination::backend_reset);
}

// A backend that speaks first (a greeting) gives no sample: there was no request to answer.
void Connection::note_first_response(RelayContext& context) noexcept {
    response_seen_ = true;
    if (target_.pool->config().passive.consecutive_failures > 0) {
        backend_->note_passive_success();
    }
    if (request_sent_ns_ != 0) {
        backend_->shard_stats(context.shard)
            .first_byte.record((monotonic_ns() - request_sent_ns_) / 1000);
    }
}

void Connection::note_eof(const Direction& direction) noexcept {
    if (!upstream_.eof && !downstream_.eof) {
        closer_ =
            &direction == &upstream_ ? Termination::client_closed : Termination::backend_closed;
    }
}

Connection::Progress Connection::arm_poll(Op op, int fd, unsigned events,
                                          RelayContext& context) noexcept {
    if ((armed_ & bit(op)) != 0) {
        return Progress::running;
    }
    io_uring_sqe* sqe = context.ring.next_sqe();
    if (sqe == nullptr) {
        return ring_full(context);
    }
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, encode_user_data(op, index_));
    armed_ |= bit(op);
    ++pending_;
    return Progress::running;
}

}  // namespace ringlb
