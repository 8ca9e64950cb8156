// SPDX-License-Identifier: MIT
// A connection's relay: poll for readiness, then splice(2) through a pooled pipe, each way.
// Member functions of Connection, whose life is in connection.cpp.
#include "ringlb/shard/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ringlb/base/log.hpp"

namespace ringlb {

namespace {
// A pump moves at most kPumpBudget pipefuls before it yields to other connections (by
// arming a poll that completes at once).
constexpr int kPumpBudget = 16;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
}  // namespace

// The backend is connected (and has its PROXY header): both directions start moving bytes.
Connection::Progress Connection::start_relay(RelayContext& context) noexcept {
    state_ = State::relaying;
    last_active_ms_ = context.now_ms;
    upstream_.src = client_fd_.get();
    upstream_.dst = backend_fd_.get();
    upstream_.read_poll = Op::client_in;
    upstream_.write_poll = Op::backend_out;
    upstream_.backend_counter = &backend_->bytes_in;
    downstream_.src = backend_fd_.get();
    downstream_.dst = client_fd_.get();
    downstream_.read_poll = Op::backend_in;
    downstream_.write_poll = Op::client_out;
    downstream_.backend_counter = &backend_->bytes_out;
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
    for (int budget = kPumpBudget; budget > 0; --budget) {
        if (direction.in_pipe > 0) {
            ssize_t moved = ::splice(direction.pipe.read_fd, nullptr, direction.dst, nullptr,
                                     direction.in_pipe, kSpliceFlags);
            if (moved > 0) {
                const auto bytes = static_cast<std::uint64_t>(moved);
                direction.in_pipe -= static_cast<std::uint32_t>(moved);
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
            ShardStats::add(context.stats.errors, 1);
            return close(context, Ending::reset,
                         "reset");  // dst reset or gone: tell the other side
        }
        if (direction.eof) {
            // Everything read has been delivered: pass the EOF on, keep the other way open.
            context.pipes.release(direction.pipe, true);
            if (::shutdown(direction.dst, SHUT_WR) < 0 && errno != ENOTCONN) {
                ShardStats::add(context.stats.errors, 1);
                return close(context, Ending::reset, "reset");
            }
            direction.done = true;
            if (upstream_.done && downstream_.done) {
                return close(context, Ending::graceful, "closed");
            }
            return Progress::running;
        }
        if (direction.drained) {
            // The last read emptied the socket: asking again would only return -EAGAIN, so
            // wait for readiness now (the poll completes at once if more has arrived).
            direction.drained = false;
            context.pipes.release(direction.pipe, true);
            return arm_poll(direction.read_poll, direction.src, POLLIN, context);
        }
        if (!direction.pipe.valid()) {
            int result = context.pipes.acquire(direction.pipe);
            if (result < 0) {
                ShardStats::add(context.stats.errors, 1);
                log_debug("no pipe for a connection: {}", std::strerror(-result));
                return close(context, Ending::reset, "error");
            }
        }
        const std::size_t room = context.pipes.capacity();
        ssize_t moved =
            ::splice(direction.src, nullptr, direction.pipe.write_fd, nullptr, room, kSpliceFlags);
        if (moved > 0) {
            direction.in_pipe += static_cast<std::uint32_t>(moved);
            direction.drained = static_cast<std::size_t>(moved) < room;
            continue;
        }
        if (moved == 0) {
            direction.eof = true;
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN) {
            context.pipes.release(direction.pipe, true);  // idle: hold no pipe
            return arm_poll(direction.read_poll, direction.src, POLLIN, context);
        }
        ShardStats::add(context.stats.errors, 1);
        return close(context, Ending::reset, "reset");  // src reset: reset the other side too
    }
    // Budget spent with both sides still ready: a poll that completes at once puts this
    // connection back in line behind the others.
    if (direction.in_pipe > 0) {
        return arm_poll(direction.write_poll, direction.dst, POLLOUT, context);
    }
    return arm_poll(direction.read_poll, direction.src, POLLIN, context);
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
