// SPDX-License-Identifier: MIT
// The per-connection relay: connect with retries, splice both ways, half-close, teardown.
#include "ringlb/shard/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ringlb/io/socket.hpp"
#include "ringlb/log.hpp"

namespace ringlb {

namespace {
// A pump moves at most kPumpBudget pipefuls before it yields to other connections (by
// arming a poll that completes at once).
constexpr int kPumpBudget = 16;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
}  // namespace

Connection::Direction Connection::make_direction(int src, int dst, Op read_poll, Op write_poll,
                                                 std::atomic<std::uint64_t>& counter) noexcept {
    Direction direction;
    direction.src = src;
    direction.dst = dst;
    direction.read_poll = read_poll;
    direction.write_poll = write_poll;
    direction.counter = &counter;
    return direction;
}

Connection::Progress Connection::start(int client_fd, BackendPool& pool,
                                       RelayContext& context) noexcept {
    client_fd_.reset(client_fd);
    pool_ = &pool;
    backend_index_ = BackendPool::kNone;
    attempts_ = 0;
    pending_ = 0;
    armed_ = 0;
    state_ = State::connecting;
    last_active_ms_ = context.now_ms;
    ShardStats::add(context.stats.active, 1);
    return connect_next(context);
}

Connection::Progress Connection::connect_next(RelayContext& context) noexcept {
    backend_index_ = attempts_ == 0 ? pool_->choose() : pool_->next_after(backend_index_);
    if (backend_index_ == BackendPool::kNone) {
        ShardStats::add(context.stats.rejected_no_backend, 1);
        return close(context, Ending::graceful);
    }
    ++attempts_;
    const Backend& target = pool_->backends()[backend_index_];
    int fd = make_stream_socket(target.address.family());
    if (fd < 0) {
        ShardStats::add(context.stats.errors, 1);
        log_debug("pool {}: backend socket: {}", pool_->name(), std::strerror(-fd));
        return close(context, Ending::reset);
    }
    backend_fd_.reset(fd);

    // The connect and its linked timeout must reach the kernel in the same submission.
    if (io_uring_sq_space_left(context.ring.raw()) < 2) {
        io_uring_submit(context.ring.raw());
    }
    const unsigned timeout_ms = pool_->config().connect_timeout_ms;
    connect_timeout_.tv_sec = timeout_ms / 1000;
    connect_timeout_.tv_nsec = static_cast<long long>(timeout_ms % 1000) * 1000000;
    io_uring_sqe* sqe = context.ring.next_sqe();
    io_uring_prep_connect(sqe, fd, target.address.data(), target.address.length());
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::connect, index_));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = context.ring.next_sqe();
    io_uring_prep_link_timeout(sqe, &connect_timeout_, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::connect_timeout, index_));
    pending_ += 2;
    armed_ |= bit(Op::connect);
    return Progress::running;
}

Connection::Progress Connection::on_completion(Op op, int result, RelayContext& context) noexcept {
    --pending_;
    armed_ &= ~bit(op);
    if (state_ == State::closing) {
        return pending_ == 0 ? finish(context) : Progress::running;
    }
    switch (op) {
        case Op::connect:
            return on_connect(result, context);
        case Op::client_in:
        case Op::backend_out:
            return pump(upstream_, context);
        case Op::backend_in:
        case Op::client_out:
            return pump(downstream_, context);
        default:  // connect_timeout, cancel: only the count of pending requests matters
            return Progress::running;
    }
}

Connection::Progress Connection::on_connect(int result, RelayContext& context) noexcept {
    if (result < 0) {
        // -ECANCELED here means the linked timeout fired first.
        int error = result == -ECANCELED ? ETIMEDOUT : -result;
        ShardStats::add(context.stats.connect_failures, 1);
        log_debug("pool {}: connect to {} failed: {} (attempt {})", pool_->name(),
                  pool_->backends()[backend_index_].name, std::strerror(error), attempts_);
        backend_fd_.reset();  // the pending timeout completion does not refer to it
        if (attempts_ <= pool_->config().retries) {
            return connect_next(context);
        }
        ShardStats::add(context.stats.rejected_no_backend, 1);
        return close(context, Ending::graceful);
    }
    state_ = State::relaying;
    last_active_ms_ = context.now_ms;
    upstream_ = make_direction(client_fd_.get(), backend_fd_.get(), Op::client_in, Op::backend_out,
                               context.stats.bytes_in);
    downstream_ = make_direction(backend_fd_.get(), client_fd_.get(), Op::backend_in,
                                 Op::client_out, context.stats.bytes_out);
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
                direction.in_pipe -= static_cast<std::uint32_t>(moved);
                ShardStats::add(*direction.counter, static_cast<std::uint64_t>(moved));
                last_active_ms_ = context.now_ms;
                continue;
            }
            if (moved < 0 && errno == EINTR) {
                continue;
            }
            if (moved < 0 && errno == EAGAIN) {
                arm_poll(direction.write_poll, direction.dst, POLLOUT, context);
                return Progress::running;
            }
            ShardStats::add(context.stats.errors, 1);
            return close(context, Ending::reset);  // dst reset or gone: tell the other side
        }
        if (direction.eof) {
            // Everything read has been delivered: pass the EOF on, keep the other way open.
            context.pipes.release(direction.pipe, true);
            if (::shutdown(direction.dst, SHUT_WR) < 0 && errno != ENOTCONN) {
                ShardStats::add(context.stats.errors, 1);
                return close(context, Ending::reset);
            }
            direction.done = true;
            if (upstream_.done && downstream_.done) {
                return close(context, Ending::graceful);
            }
            return Progress::running;
        }
        if (direction.drained) {
            // The last read emptied the socket: asking again would only return -EAGAIN, so
            // wait for readiness now (the poll completes at once if more has arrived).
            direction.drained = false;
            context.pipes.release(direction.pipe, true);
            arm_poll(direction.read_poll, direction.src, POLLIN, context);
            return Progress::running;
        }
        if (!direction.pipe.valid()) {
            int result = context.pipes.acquire(direction.pipe);
            if (result < 0) {
                ShardStats::add(context.stats.errors, 1);
                log_debug("no pipe for a connection: {}", std::strerror(-result));
                return close(context, Ending::reset);
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
            arm_poll(direction.read_poll, direction.src, POLLIN, context);
            return Progress::running;
        }
        ShardStats::add(context.stats.errors, 1);
        return close(context, Ending::reset);  // src reset: reset the other side too
    }
    // Budget spent with both sides still ready: a poll that completes at once puts this
    // connection back in line behind the others.
    if (direction.in_pipe > 0) {
        arm_poll(direction.write_poll, direction.dst, POLLOUT, context);
    } else {
        arm_poll(direction.read_poll, direction.src, POLLIN, context);
    }
    return Progress::running;
}

void Connection::arm_poll(Op op, int fd, unsigned events, RelayContext& context) noexcept {
    if ((armed_ & bit(op)) != 0) {
        return;
    }
    io_uring_sqe* sqe = context.ring.next_sqe();
    io_uring_prep_poll_add(sqe, fd, events);
    io_uring_sqe_set_data64(sqe, encode_user_data(op, index_));
    armed_ |= bit(op);
    ++pending_;
}

void Connection::cancel_in_flight(RelayContext& context) noexcept {
    // The cancel requests count as pending too: the slot and its fds stay ours until the
    // kernel has executed them, so a cancel can never hit a reused fd number.
    auto submit_cancel = [&](auto&& prepare) {
        io_uring_sqe* sqe = context.ring.next_sqe();
        prepare(sqe);
        io_uring_sqe_set_data64(sqe, encode_user_data(Op::cancel, index_));
        ++pending_;
    };
    const unsigned client_ops = bit(Op::client_in) | bit(Op::client_out);
    const unsigned backend_ops = bit(Op::backend_in) | bit(Op::backend_out) | bit(Op::connect);
    if (context.cancel_by_fd) {
        if ((armed_ & client_ops) != 0) {
            submit_cancel([&](io_uring_sqe* sqe) {
                io_uring_prep_cancel_fd(sqe, client_fd_.get(), IORING_ASYNC_CANCEL_ALL);
            });
        }
        if ((armed_ & backend_ops) != 0) {
            submit_cancel([&](io_uring_sqe* sqe) {
                io_uring_prep_cancel_fd(sqe, backend_fd_.get(), IORING_ASYNC_CANCEL_ALL);
            });
        }
        return;
    }
    // Before 5.19: one cancel per request, keyed by its user_data.
    for (Op op : {Op::connect, Op::client_in, Op::client_out, Op::backend_in, Op::backend_out}) {
        if ((armed_ & bit(op)) != 0) {
            submit_cancel([&](io_uring_sqe* sqe) {
                io_uring_prep_cancel64(sqe, encode_user_data(op, index_), 0);
            });
        }
    }
}

Connection::Progress Connection::close(RelayContext& context, Ending ending) noexcept {
    if (state_ == State::closing) {
        return Progress::running;
    }
    state_ = State::closing;
    if (ending == Ending::reset) {
        if (client_fd_) {
            set_reset_on_close(client_fd_.get());
        }
        if (backend_fd_) {
            set_reset_on_close(backend_fd_.get());
        }
    }
    cancel_in_flight(context);
    return pending_ == 0 ? finish(context) : Progress::running;
}

Connection::Progress Connection::finish(RelayContext& context) noexcept {
    context.pipes.release(upstream_.pipe, upstream_.in_pipe == 0);
    context.pipes.release(downstream_.pipe, downstream_.in_pipe == 0);
    upstream_ = Direction{};
    downstream_ = Direction{};
    client_fd_.reset();
    backend_fd_.reset();
    pool_ = nullptr;
    state_ = State::free;
    ShardStats::sub(context.stats.active, 1);
    return Progress::finished;
}

}  // namespace ringlb
