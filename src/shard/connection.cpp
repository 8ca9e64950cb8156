// SPDX-License-Identifier: MIT
// A connection's life apart from its admission and relay: start, backend connect with retries,
// PROXY header to the backend, teardown and the access record. Connection's other member
// functions live in admission.cpp and relay.cpp.
#include "ringlb/shard/connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "kernel_values.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/io/socket.hpp"
#include "ringlb/proxy/proxy_writer.hpp"

namespace ringlb {

unsigned Connection::idle_timeout_ms() const noexcept {
    if (state_ == State::proxy_header || state_ == State::inspecting || state_ == State::queued ||
        target_.pool == nullptr) {
        return 0;  // bounded by its own timeout
    }
    return target_.pool->config().idle_timeout_ms;
}

bool Connection::relays_to_down_backend() const noexcept {
    return state_ == State::relaying && backend_ != nullptr && target_.pool != nullptr &&
           target_.pool->config().on_backend_down == config::OnBackendDown::close &&
           !backend_->healthy.load(std::memory_order_relaxed);
}

std::uint64_t Connection::max_duration_ms() const noexcept {
    if (state_ == State::proxy_header || state_ == State::inspecting || state_ == State::queued ||
        target_.pool == nullptr) {
        return 0;  // no pool yet: bounded by its own timeout
    }
    return target_.pool->config().max_connection_duration_ms;
}

Connection::Progress Connection::start(int client_fd, ListenerRuntime& listener,
                                       Generation& generation, RelayContext& context) noexcept {
    client_fd_.reset(client_fd);
    listener_ = &listener;
    target_ = PoolTarget{};
    generation_ = &generation;
    generation.connections.fetch_add(1, std::memory_order_relaxed);
    backend_ = nullptr;
    client_slot_ = ClientTable::kUntracked;
    attempts_ = 0;
    pending_ = 0;
    armed_ = 0;
    ending_ = Termination::client_closed;
    closer_ = Termination::client_closed;
    has_client_address_ = false;
    queue_requested_ = false;
    started_ms_ = context.now_ms;
    const unsigned interim_ms = listener.config.access_log_interval_ms;
    next_interim_ms_ = interim_ms > 0 && listener.access_log >= 0 ? context.now_ms + interim_ms : 0;
    started_ns_ = monotonic_ns();
    relayed_ = false;
    response_seen_ = false;
    request_sent_ns_ = 0;
    last_active_ms_ = context.now_ms;
    upstream_ = Direction{};
    downstream_ = Direction{};
    state_ = State::connecting;
    listener.stats->accepted.fetch_add(1, std::memory_order_relaxed);
    return begin_admission(context);
}

Connection::Progress Connection::connect_next(RelayContext& context) noexcept {
    BackendPool& pool = *target_.pool;
    const SocketAddress client = to_socket_address(client_);
    const SocketAddress* known = has_client_address_ ? &client : nullptr;
    // A retry keeps the place on the backend that failed until it has another one (or none,
    // and then until the end, so the access log can still name it): a backend is only
    // guaranteed to exist while a connection holds a place on it.
    Backend* next = nullptr;
    if (attempts_ == 0) {
        const unsigned queue_ms = pool.config().queue_timeout_ms;
        // First come, first served: while clients wait, a new one joins the back of the queue.
        if (queue_ms == 0 || state_ == State::queued || pool.queue().length() == 0) {
            next = target_.acquire(known);
        }
        // Every live backend is full: wait for a place (not when none is live at all).
        if (next == nullptr && queue_ms > 0 && !pool.live().entries.empty()) {
            if (state_ != State::queued) {
                state_ = State::queued;
                queue_requested_ = true;
                queue_link_.deadline_ms = context.now_ms + queue_ms;
            }
            return Progress::running;
        }
    } else {
        next = target_.acquire_after(backend_, known);
    }
    if (state_ == State::queued) {
        state_ = State::connecting;  // its turn came: the place is taken
    }
    if (next == nullptr) {
        listener_->stats->reject(Rejection::no_backend);
        return close(context, Ending::graceful,
                     attempts_ == 0 ? Termination::no_backend : Termination::connect_failed);
    }
    if (next != backend_) {
        release_backend();
        backend_ = next;
    }
    ++attempts_;
    // The kernel reads the address when the queue is submitted, possibly after this loop
    // pass, when a re-resolved backend's old address may be gone: connect from a copy.
    store_address(backend_address_, backend_->address());
    const int family = backend_address_.base.sa_family;
    const config::PoolConfig& settings = pool.config();
    int fd = make_stream_socket(family, settings.tcp.nodelay);
    if (fd < 0) {
        ShardStats::add(context.stats.errors, 1);
        log_debug("pool {}: backend socket: {}", pool.name(), std::strerror(-fd));
        return close(context, Ending::reset, Termination::internal_error);
    }
    backend_fd_.reset(fd);
    // pool keepalive_* and mark: system calls only for what the pool sets (main made sure at
    // start and reload that a mark can be set).
    TcpOptions made;
    made.nodelay = settings.tcp.nodelay;
    if (settings.tcp != made) {
        if (int result = apply_tcp_options(fd, settings.tcp, made); result < 0) {
            ShardStats::add(context.stats.errors, 1);
            log_debug("pool {}: backend socket options: {}", pool.name(), std::strerror(-result));
            return close(context, Ending::reset, Termination::internal_error);
        }
    }
    if (!settings.source.empty()) {
        const SocketAddress* source = pool.next_source(family);
        if (int result = source == nullptr ? -EAFNOSUPPORT : bind_source(fd, *source); result < 0) {
            // No source of the backend's family (a re-resolved or discovered address), or the
            // address left the host: this attempt fails as a connect would.
            backend_->connect_no_source.fetch_add(1, std::memory_order_relaxed);
            log_debug("pool {}: no source address for {}: {}", pool.name(), backend_->name,
                      std::strerror(-result));
            backend_fd_.reset();
            return retry_or_close(context);
        }
    }

    // The connect and its linked timeout must reach the kernel in the same submission.
    if (!context.ring.make_room(2)) {
        return ring_full(context);
    }
    set_timespec(timeout_, pool.config().connect_timeout_ms);
    connect_started_ns_ = monotonic_ns();
    io_uring_sqe* sqe = context.ring.next_sqe();
    io_uring_prep_connect(
        sqe, fd, &backend_address_.base,
        backend_address_.base.sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::connect, index_));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = context.ring.next_sqe();
    io_uring_prep_link_timeout(sqe, &timeout_, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::connect_timeout, index_));
    pending_ += 2;
    armed_ |= bit(Op::connect);
    return Progress::running;
}

Connection::Progress Connection::on_completion(Op op, int result, unsigned flags,
                                               RelayContext& context) noexcept {
    if ((flags & IORING_CQE_F_MORE) == 0) {  // a multishot receive stays in flight with MORE
        --pending_;
        armed_ &= ~bit(op);
    }
    if (state_ == State::closing) {
        if ((flags & IORING_CQE_F_BUFFER) != 0) {
            const auto id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
            context.buffers->taken(id);
            context.buffers->give_back(id);
        }
        return pending_ == 0 ? finish(context) : Progress::running;
    }
    switch (op) {
        case Op::proxy_in:
            if (result < 0) {  // -ECANCELED: the linked timeout fired first
                listener_->stats->reject(Rejection::proxy_protocol);
                return close(context, Ending::graceful, Termination::proxy_protocol);
            }
            return read_proxy_header(context);
        case Op::proxy_retry:
            return read_proxy_header(context);
        case Op::hello_in:
            // -ECANCELED: the linked timeout fired first. POLLRDHUP and the like: the client
            // will send nothing more (and the socket stays readable). One last look decides.
            return inspect_client_hello(
                context, result<0, result> 0 && (result & (POLLRDHUP | POLLHUP | POLLERR)) != 0);
        case Op::connect:
            return on_connect(result, context);
        case Op::client_in:
        case Op::backend_out:
            return pump(upstream_, context);
        case Op::backend_in:
        case Op::client_out:
            return pump(downstream_, context);
        case Op::client_recv:
            return on_received(upstream_, result, flags, context);
        case Op::backend_recv:
            return on_received(downstream_, result, flags, context);
        case Op::backend_send:
            return on_sent(upstream_, result, context);
        case Op::client_send:
            return on_sent(downstream_, result, context);
        case Op::upload_wait:
            return pump(upstream_, context);
        case Op::download_wait:
            return pump(downstream_, context);
        default:  // the linked timeouts and cancels: only the count of pending requests matters
            return Progress::running;
    }
}

Connection::Progress Connection::on_connect(int result, RelayContext& context) noexcept {
    if (result < 0) {
        // -ECANCELED here means the linked timeout fired first.
        const int error = result == -ECANCELED ? ETIMEDOUT : -result;
        // EADDRNOTAVAIL: no local port left for this source address and backend
        // (net.ipv4.ip_local_port_range); another source or backend may have one, so it is
        // retried like any failed connect.
        auto& counter = error == ETIMEDOUT       ? backend_->connect_timeout
                        : error == ECONNREFUSED  ? backend_->connect_refused
                        : error == EADDRNOTAVAIL ? backend_->connect_no_port
                                                 : backend_->connect_error;
        counter.fetch_add(1, std::memory_order_relaxed);
        if (target_.pool->config().passive.consecutive_failures > 0) {
            backend_->note_passive_failure();
        }
        log_debug("pool {}: connect to {} failed: {} (attempt {})", target_.pool->name(),
                  backend_->name, std::strerror(error), attempts_);
        backend_fd_.reset();  // the pending timeout completion does not refer to it
        return retry_or_close(context);
    }
    backend_->connections_total.fetch_add(1, std::memory_order_relaxed);
    backend_->shard_stats(context.shard)
        .connect.record((monotonic_ns() - connect_started_ns_) / 1000);
    relayed_ = true;
    if (target_.pool->config().send_proxy != config::SendProxy::none &&
        !send_proxy_header(context)) {
        ShardStats::add(context.stats.errors, 1);
        return close(context, Ending::reset, Termination::internal_error);
    }
    return start_relay(context);
}

Connection::Progress Connection::give_up_waiting(RelayContext& context) noexcept {
    listener_->stats->reject(Rejection::queue_timeout);
    return close(context, Ending::graceful, Termination::queue_timeout);
}

// A backend could not be reached: the next one while retries are left, else the client is
// closed at once.
Connection::Progress Connection::retry_or_close(RelayContext& context) noexcept {
    if (attempts_ <= target_.pool->config().retries) {
        return connect_next(context);
    }
    listener_->stats->reject(Rejection::no_backend);
    return close(context, Ending::graceful, Termination::connect_failed);
}

// The header goes out before any client byte: the socket has just connected, so its send
// buffer is empty and a header of at most a few hundred bytes fits whole.
bool Connection::send_proxy_header(RelayContext& context) noexcept {
    const SocketAddress source = to_socket_address(client_);
    const SocketAddress destination = to_socket_address(local_);
    std::size_t length = 0;
    if (target_.pool->config().send_proxy == config::SendProxy::v1) {
        length = write_proxy_v1(source, destination,
                                std::span<char>(reinterpret_cast<char*>(context.scratch.data()),
                                                context.scratch.size()));
    } else {
        length = write_proxy_v2(source, destination, context.scratch);
    }
    if (length == 0) {
        return false;
    }
    ssize_t sent =
        ::send(backend_fd_.get(), context.scratch.data(), length, MSG_DONTWAIT | MSG_NOSIGNAL);
    return sent == static_cast<ssize_t>(length);
}

// No submission slot for a request this connection needs: it cannot go on. Counted; the
// client and backend are reset.
Connection::Progress Connection::ring_full(RelayContext& context) noexcept {
    ShardStats::add(context.stats.ring_full, 1);
    ShardStats::add(context.stats.errors, 1);
    log_debug("connection {}: the ring's submission queue is full; closing it", index_);
    return close(context, Ending::reset, Termination::internal_error);
}

void Connection::cancel_in_flight(RelayContext& context) noexcept {
    // The cancel requests count as pending too: the slot and its fds stay ours until the
    // kernel has executed them, so a cancel can never hit a reused fd number.
    // Without a slot for a cancel, shutting the socket down completes its polls just the
    // same (they report POLLHUP); a connect and a PROXY wait end by their linked timeouts.
    auto submit_cancel = [&](int fd, auto&& prepare) {
        io_uring_sqe* sqe = context.ring.next_sqe();
        if (sqe == nullptr) {
            ShardStats::add(context.stats.ring_full, 1);
            ::shutdown(fd, SHUT_RDWR);
            return;
        }
        prepare(sqe);
        io_uring_sqe_set_data64(sqe, encode_user_data(Op::cancel, index_));
        ++pending_;
    };
    // Bandwidth timers belong to no descriptor: they are cancelled by their user_data.
    for (Op op : {Op::upload_wait, Op::download_wait}) {
        if ((armed_ & bit(op)) != 0) {
            submit_cancel(client_fd_.get(), [&](io_uring_sqe* sqe) {
                io_uring_prep_cancel64(sqe, encode_user_data(op, index_), 0);
            });
        }
    }
    const unsigned client_ops = bit(Op::client_in) | bit(Op::client_out) | bit(Op::proxy_in) |
                                bit(Op::hello_in) | bit(Op::client_recv) | bit(Op::client_send);
    const unsigned backend_ops = bit(Op::backend_in) | bit(Op::backend_out) | bit(Op::connect) |
                                 bit(Op::backend_recv) | bit(Op::backend_send);
    if (context.cancel_by_fd) {
        if ((armed_ & client_ops) != 0) {
            submit_cancel(client_fd_.get(), [&](io_uring_sqe* sqe) {
                io_uring_prep_cancel_fd(sqe, client_fd_.get(), IORING_ASYNC_CANCEL_ALL);
            });
        }
        if ((armed_ & backend_ops) != 0) {
            submit_cancel(backend_fd_.get(), [&](io_uring_sqe* sqe) {
                io_uring_prep_cancel_fd(sqe, backend_fd_.get(), IORING_ASYNC_CANCEL_ALL);
            });
        }
        return;
    }
    // Before 5.19: one cancel per request, keyed by its user_data.
    for (Op op :
         {Op::connect, Op::proxy_in, Op::hello_in, Op::client_in, Op::client_out, Op::backend_in,
          Op::backend_out, Op::client_recv, Op::client_send, Op::backend_recv, Op::backend_send}) {
        if ((armed_ & bit(op)) != 0) {
            const bool on_client = (client_ops & bit(op)) != 0;
            submit_cancel(on_client ? client_fd_.get() : backend_fd_.get(), [&](io_uring_sqe* sqe) {
                io_uring_prep_cancel64(sqe, encode_user_data(op, index_), 0);
            });
        }
    }
}

Connection::Progress Connection::close(RelayContext& context, Ending ending,
                                       Termination why) noexcept {
    if (state_ == State::closing) {
        return Progress::running;
    }
    state_ = State::closing;
    ending_ = why;
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

void Connection::release_backend() noexcept {
    if (backend_ != nullptr) {
        backend_->release();
        backend_ = nullptr;
    }
}

void Connection::log_access(RelayContext& context) noexcept {
    if (context.access_log == nullptr || listener_->access_log < 0) {
        return;
    }
    AccessRecord record{};
    fill_access_record(record, context);
    context.access_log->push(record);
}

void Connection::log_interim(RelayContext& context) noexcept {
    if (next_interim_ms_ == 0 || context.now_ms < next_interim_ms_ || state_ != State::relaying ||
        context.access_log == nullptr) {
        return;
    }
    AccessRecord record{};
    fill_access_record(record, context);
    record.interim = true;
    context.access_log->push(record);
    // The next one an interval later; a scan that came late does not make lines bunch up.
    const unsigned interval = listener_->config.access_log_interval_ms;
    next_interim_ms_ += interval;
    if (next_interim_ms_ <= context.now_ms) {
        next_interim_ms_ = context.now_ms + interval;
    }
}

void Connection::fill_access_record(AccessRecord& record, RelayContext& context) const noexcept {
    record.end_time_ns = realtime_ns();
    if (has_client_address_) {
        record.client = to_socket_address(client_);
    }
    record.set_listener(listener_->config.name);
    record.set_backend(backend_ != nullptr ? std::string_view(backend_->name)
                                           : std::string_view("-"));
    record.bytes_in = upstream_.delivered;
    record.bytes_out = downstream_.delivered;
    record.duration_ms = context.now_ms - started_ms_;
    record.ending = ending_;
    record.destination = static_cast<std::uint16_t>(listener_->access_log);
}

Connection::Progress Connection::finish(RelayContext& context) noexcept {
    if (relayed_ && backend_ != nullptr) {
        backend_->shard_stats(context.shard).duration.record((monotonic_ns() - started_ns_) / 1000);
    }
    listener_->stats->count_closed(context.shard, ending_);
    log_access(context);
    context.pipes.release(upstream_.pipe, upstream_.in_pipe == 0);
    context.pipes.release(downstream_.pipe, downstream_.in_pipe == 0);
    if (context.buffers != nullptr) {  // what was received and never sent
        context.buffers->clear(upstream_.queue);
        context.buffers->clear(downstream_.queue);
    }
    upstream_ = Direction{};
    downstream_ = Direction{};
    // Give the places back before the sockets close: a client that sees the close may
    // reconnect at once (on any shard) and must find its place free. Waiters of the pool on
    // other shards are told; this shard serves its own once the slot is free (Shard::release).
    const bool waiters = backend_ != nullptr && target_.pool->queue().length() > 0;
    release_backend();
    if (waiters) {
        target_.pool->queue().wake_others(context.shard, context.wake_fds);
    }
    if (client_slot_ != ClientTable::kUntracked) {
        context.clients.release(client_slot_);
        client_slot_ = ClientTable::kUntracked;
    }
    client_fd_.reset();
    backend_fd_.reset();
    generation_->connections.fetch_sub(1, std::memory_order_release);
    generation_ = nullptr;
    listener_ = nullptr;
    target_ = PoolTarget{};
    state_ = State::free;
    return Progress::finished;
}

}  // namespace ringlb
