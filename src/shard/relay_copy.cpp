// SPDX-License-Identifier: MIT
// The relay's copy mode for small messages: a multishot receive into the shard's buffer ring
// and IORING_OP_SEND of each buffer, no system call of its own per message. Member functions
// of Connection; the splice path and the choice between the two are in relay.cpp.
#include "ringlb/shard/connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "ringlb/base/clock.hpp"

namespace ringlb {

namespace {
// Buffers one direction may hold before it goes back to splice, whose pipe then bounds what
// waits inside ringlb for a slow destination. The receive's cancel takes effect at the next
// submission; what the kernel completes before that is bounded by the shard's ring.
constexpr std::uint16_t kMaxQueued = 4;
}  // namespace

// Arms the multishot receive: from now on the kernel reads src into the shard's buffers as
// bytes arrive, one completion per read, until EOF, an error, an empty ring or a cancel.
Connection::Progress Connection::start_copying(Direction& direction,
                                               RelayContext& context) noexcept {
    io_uring_sqe* sqe = context.ring.next_sqe();
    if (sqe == nullptr) {
        return ring_full(context);
    }
    io_uring_prep_recv_multishot(sqe, direction.src, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = context.buffers->group();
    io_uring_sqe_set_data64(sqe, encode_user_data(direction.recv_op, index_));
    armed_ |= bit(direction.recv_op);
    ++pending_;
    direction.copying = true;
    direction.leaving = false;
    return Progress::running;
}

// Asks the kernel to end the receive: the direction goes back to splice once it has ended
// and its queue is sent (pump_copy).
Connection::Progress Connection::leave_copying(Direction& direction,
                                               RelayContext& context) noexcept {
    if (direction.leaving || (armed_ & bit(direction.recv_op)) == 0) {
        return Progress::running;
    }
    io_uring_sqe* sqe = context.ring.next_sqe();
    if (sqe == nullptr) {
        return ring_full(context);
    }
    io_uring_prep_cancel64(sqe, encode_user_data(direction.recv_op, index_), 0);
    ShardStats::add(context.stats.copy_to_splice, 1);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::cancel, index_));
    ++pending_;
    direction.leaving = true;
    return Progress::running;
}

// Sends the queue's head unless a send (or the poll for room in dst) is in flight; with the
// queue empty and the receive ended, hands the direction back to the splice pump, which
// passes an EOF on, or reads src at once and picks the next wait by that read's size.
Connection::Progress Connection::pump_copy(Direction& direction, RelayContext& context) noexcept {
    if (!direction.queue.empty()) {
        if ((armed_ & (bit(direction.send_op) | bit(direction.write_poll))) != 0) {
            return Progress::running;
        }
        const std::uint16_t id = direction.queue.head;
        io_uring_sqe* sqe = context.ring.next_sqe();
        if (sqe == nullptr) {
            return ring_full(context);
        }
        io_uring_prep_send(sqe, direction.dst, context.buffers->data(id) + direction.sent,
                           context.buffers->length(id) - direction.sent, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, encode_user_data(direction.send_op, index_));
        armed_ |= bit(direction.send_op);
        ++pending_;
        ShardStats::add(context.stats.copy_sends, 1);
        return Progress::running;
    }
    if ((armed_ & bit(direction.recv_op)) != 0) {
        return Progress::running;  // waiting for bytes
    }
    direction.copying = false;
    direction.leaving = false;
    return pump(direction, context);
}

Connection::Progress Connection::on_received(Direction& direction, int result, unsigned flags,
                                             RelayContext& context) noexcept {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    if ((flags & IORING_CQE_F_BUFFER) != 0) {
        const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
        context.buffers->taken(id);
        if (result <= 0) {
            context.buffers->give_back(id);
        } else {
            context.buffers->push(direction.queue, id, static_cast<std::uint32_t>(result));
        }
    }
    if (result > 0) {
        note_read(direction, context);
        last_active_ms_ = context.now_ms;
        // The bandwidth limit: what the kernel received is taken (it may overdraw the
        // bucket); once it is spent, the splice path waits for it to refill.
        bool limit_spent = false;
        if (direction.limit.limited()) {
            direction.limit.take(static_cast<std::uint64_t>(result));
            limit_spent = direction.limit.available(monotonic_ns()) == 0;
        }
        // A full buffer says bulk is coming, a long queue that dst is slow: splice serves
        // both better (one pipe of bytes per call, and a bounded pipe as backpressure).
        if (more &&
            (limit_spent || static_cast<unsigned>(result) == context.buffers->buffer_size() ||
             direction.queue.count >= kMaxQueued)) {
            direction.small_bursts = 0;  // splice until small messages show again
            if (leave_copying(direction, context) == Progress::finished) {
                return Progress::finished;
            }
            if (state_ == State::closing) {
                return Progress::running;
            }
        }
    } else if (result == 0) {
        note_eof(direction);
        direction.eof = true;  // passed on by the splice pump once the queue is sent
    } else if (result == -ENOBUFS) {
        // The shard's buffers are all queued somewhere: wait with a poll and splice until a
        // large read or the next small one.
        direction.small_bursts = 0;
        ShardStats::add(context.stats.copy_to_splice, 1);
    } else if (result != -ECANCELED) {
        return reset_by(direction.src, context);  // src reset: reset the other side too
    }
    return pump_copy(direction, context);
}

Connection::Progress Connection::on_sent(Direction& direction, int result,
                                         RelayContext& context) noexcept {
    if (result == -EAGAIN) {
        // Nothing fitted: wait for room, then send again (pump_copy, from the poll's
        // completion).
        return arm_poll(direction.write_poll, direction.dst, POLLOUT, context);
    }
    if (result <= 0) {
        return reset_by(direction.dst, context);  // dst reset or gone
    }
    const auto bytes = static_cast<std::uint32_t>(result);
    note_delivered(direction);
    direction.delivered += bytes;
    direction.backend_counter->fetch_add(bytes, std::memory_order_relaxed);
    last_active_ms_ = context.now_ms;
    direction.sent += bytes;
    if (direction.sent == context.buffers->length(direction.queue.head)) {
        context.buffers->pop(direction.queue);  // only now may the kernel fill it again
        direction.sent = 0;
    }
    return pump_copy(direction, context);
}

}  // namespace ringlb
