// SPDX-License-Identifier: MIT
// The per-connection life: admission, connect with retries, splice both ways, teardown.
#include "ringlb/shard/connection.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/io/socket.hpp"
#include "ringlb/proxy/proxy_protocol.hpp"

namespace ringlb {

namespace {
// A pump moves at most kPumpBudget pipefuls before it yields to other connections (by
// arming a poll that completes at once).
constexpr int kPumpBudget = 16;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// How long to wait before looking again at a PROXY header that has only partly arrived.
constexpr long long kProxyRetryNs = 5 * 1000000;

void set_timespec(__kernel_timespec& spec, std::uint64_t ms) noexcept {
    spec.tv_sec = static_cast<long long>(ms / 1000);
    spec.tv_nsec = static_cast<long long>(ms % 1000) * 1000000;
}

template <typename AddressUnion>
SocketAddress to_socket_address(const AddressUnion& address) noexcept {
    const socklen_t length =
        address.base.sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    return SocketAddress::from_sockaddr(&address.base, length);
}

template <typename AddressUnion>
void store_address(AddressUnion& into, const SocketAddress& address) noexcept {
    std::memset(&into, 0, sizeof(into));
    if (address.length() <= sizeof(into)) {
        std::memcpy(&into, address.data(), address.length());
    }
}
}  // namespace

unsigned Connection::idle_timeout_ms() const noexcept {
    if (state_ == State::proxy_header || listener_ == nullptr) {
        return 0;  // bounded by its own timeout
    }
    return listener_->pool->config().idle_timeout_ms;
}

Connection::Progress Connection::start(int client_fd, ListenerRuntime& listener,
                                       Generation& generation, RelayContext& context) noexcept {
    client_fd_.reset(client_fd);
    listener_ = &listener;
    generation_ = &generation;
    generation.connections.fetch_add(1, std::memory_order_relaxed);
    backend_ = nullptr;
    backend_index_ = BackendPool::kNone;
    client_slot_ = ClientTable::kUntracked;
    attempts_ = 0;
    pending_ = 0;
    armed_ = 0;
    ending_ = "closed";
    has_client_address_ = false;
    started_ms_ = context.now_ms;
    last_active_ms_ = context.now_ms;
    upstream_ = Direction{};
    downstream_ = Direction{};
    state_ = State::connecting;
    listener.stats->accepted.fetch_add(1, std::memory_order_relaxed);

    if (listener.needs_peer) {
        socklen_t length = sizeof(client_);
        socklen_t local_length = sizeof(local_);
        if (::getpeername(client_fd, &client_.base, &length) < 0 ||
            ::getsockname(client_fd, &local_.base, &local_length) < 0) {
            // The client is already gone (ENOTCONN): nothing to relay.
            return close(context, Ending::graceful, "reset");
        }
        has_client_address_ = true;
    }
    if (listener.config.accept_proxy) {
        if (!any_contains(listener.config.proxy_trusted, &client_.base)) {
            listener.stats->reject(Rejection::proxy_protocol);
            log_debug("listener {}: PROXY header from untrusted peer {}", listener.config.name,
                      to_socket_address(client_).to_string());
            return close(context, Ending::graceful, "proxy_untrusted");
        }
        state_ = State::proxy_header;
        proxy_deadline_ms_ = context.now_ms + listener.config.proxy_timeout_ms;
        return arm_proxy_wait(context);
    }
    return admit(context);
}

// The access rules and per-client limits, on the client's own address (the PROXY header's
// source when there was one).
Connection::Progress Connection::admit(RelayContext& context) noexcept {
    const config::ListenerConfig& rules = listener_->config;
    if (has_client_address_) {
        if (any_contains(rules.deny, &client_.base) ||
            (!rules.allow.empty() && !any_contains(rules.allow, &client_.base))) {
            listener_->stats->reject(Rejection::denied);
            return close(context, Ending::graceful, "denied");
        }
        if (rules.max_connections_per_client > 0 || rules.new_connections_per_client_per_s > 0) {
            ClientTable::Admission admission = context.clients.admit(
                to_socket_address(client_), listener_->client_scope, monotonic_ns(),
                rules.max_connections_per_client, rules.new_connections_per_client_per_s,
                rules.new_connections_per_client_burst);
            if (admission.verdict == ClientTable::Verdict::too_many_connections) {
                listener_->stats->reject(Rejection::client_limit);
                return close(context, Ending::graceful, "client_limit");
            }
            if (admission.verdict == ClientTable::Verdict::too_fast) {
                listener_->stats->reject(Rejection::rate_limited);
                return close(context, Ending::graceful, "rate_limited");
            }
            client_slot_ = admission.slot;
        }
    }
    state_ = State::connecting;
    return connect_next(context);
}

Connection::Progress Connection::arm_proxy_wait(RelayContext& context) noexcept {
    if (!context.ring.make_room(2)) {  // the poll and its linked timeout go together
        return ring_full(context);
    }
    const std::uint64_t left =
        proxy_deadline_ms_ > context.now_ms ? proxy_deadline_ms_ - context.now_ms : 1;
    set_timespec(timeout_, left);
    io_uring_sqe* sqe = context.ring.next_sqe();
    io_uring_prep_poll_add(sqe, client_fd_.get(), POLLIN);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::proxy_in, index_));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = context.ring.next_sqe();
    io_uring_prep_link_timeout(sqe, &timeout_, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::proxy_timeout, index_));
    pending_ += 2;
    armed_ |= bit(Op::proxy_in);
    return Progress::running;
}

// Looks at what the client has sent without taking it; once a whole header is there, takes
// exactly the header and leaves the client's data for the relay.
Connection::Progress Connection::read_proxy_header(RelayContext& context) noexcept {
    const std::size_t room = std::min(context.scratch.size(), kProxyHeaderMax);
    ssize_t peeked = ::recv(client_fd_.get(), context.scratch.data(), room, MSG_PEEK);
    if (peeked <= 0) {
        if (peeked < 0 && (errno == EAGAIN || errno == EINTR)) {
            return arm_proxy_wait(context);
        }
        listener_->stats->reject(Rejection::proxy_protocol);
        return close(context, Ending::graceful, "proxy_error");
    }
    ProxyHeader header;
    const ProxyParse parsed = parse_proxy_header(
        std::span<const std::uint8_t>(context.scratch.data(), static_cast<std::size_t>(peeked)),
        header);
    if (parsed == ProxyParse::incomplete) {
        if (context.now_ms >= proxy_deadline_ms_) {
            listener_->stats->reject(Rejection::proxy_protocol);
            return close(context, Ending::graceful, "proxy_timeout");
        }
        // The rest is on its way; polling now would report the bytes already seen.
        timeout_.tv_sec = 0;
        timeout_.tv_nsec = kProxyRetryNs;
        io_uring_sqe* sqe = context.ring.next_sqe();
        if (sqe == nullptr) {
            return ring_full(context);
        }
        io_uring_prep_timeout(sqe, &timeout_, 0, 0);
        io_uring_sqe_set_data64(sqe, encode_user_data(Op::proxy_retry, index_));
        ++pending_;
        return Progress::running;
    }
    if (parsed == ProxyParse::invalid) {
        listener_->stats->reject(Rejection::proxy_protocol);
        log_debug("listener {}: malformed PROXY header from {}", listener_->config.name,
                  to_socket_address(client_).to_string());
        return close(context, Ending::graceful, "proxy_error");
    }
    ssize_t taken = ::recv(client_fd_.get(), context.scratch.data(), header.length, 0);
    if (taken != static_cast<ssize_t>(header.length)) {
        listener_->stats->reject(Rejection::proxy_protocol);
        return close(context, Ending::reset, "proxy_error");
    }
    if (!header.local) {
        store_address(client_, header.source);
        store_address(local_, header.destination);
    }
    return admit(context);
}

Connection::Progress Connection::connect_next(RelayContext& context) noexcept {
    BackendPool& pool = *listener_->pool;
    const SocketAddress client = to_socket_address(client_);
    const SocketAddress* known = has_client_address_ ? &client : nullptr;
    release_backend();
    backend_index_ = attempts_ == 0 ? listener_->acquire(known)
                                    : listener_->acquire_after(backend_index_, known);
    if (backend_index_ == BackendPool::kNone) {
        listener_->stats->reject(Rejection::no_backend);
        return close(context, Ending::graceful, attempts_ == 0 ? "no_backend" : "connect_failed");
    }
    backend_ = &pool.backend(backend_index_);
    ++attempts_;
    // The kernel reads the address when the queue is submitted, possibly after this loop
    // pass, when a re-resolved backend's old address may be gone: connect from a copy.
    store_address(backend_address_, backend_->address());
    int fd = make_stream_socket(backend_address_.base.sa_family);
    if (fd < 0) {
        ShardStats::add(context.stats.errors, 1);
        log_debug("pool {}: backend socket: {}", pool.name(), std::strerror(-fd));
        return close(context, Ending::reset, "error");
    }
    backend_fd_.reset(fd);

    // The connect and its linked timeout must reach the kernel in the same submission.
    if (!context.ring.make_room(2)) {
        return ring_full(context);
    }
    set_timespec(timeout_, pool.config().connect_timeout_ms);
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

Connection::Progress Connection::on_completion(Op op, int result, RelayContext& context) noexcept {
    --pending_;
    armed_ &= ~bit(op);
    if (state_ == State::closing) {
        return pending_ == 0 ? finish(context) : Progress::running;
    }
    switch (op) {
        case Op::proxy_in:
            if (result < 0) {  // -ECANCELED: the linked timeout fired first
                listener_->stats->reject(Rejection::proxy_protocol);
                return close(context, Ending::graceful, "proxy_timeout");
            }
            return read_proxy_header(context);
        case Op::proxy_retry:
            return read_proxy_header(context);
        case Op::connect:
            return on_connect(result, context);
        case Op::client_in:
        case Op::backend_out:
            return pump(upstream_, context);
        case Op::backend_in:
        case Op::client_out:
            return pump(downstream_, context);
        default:  // the linked timeouts and cancels: only the count of pending requests matters
            return Progress::running;
    }
}

Connection::Progress Connection::on_connect(int result, RelayContext& context) noexcept {
    if (result < 0) {
        // -ECANCELED here means the linked timeout fired first.
        const int error = result == -ECANCELED ? ETIMEDOUT : -result;
        auto& counter = error == ETIMEDOUT      ? backend_->connect_timeout
                        : error == ECONNREFUSED ? backend_->connect_refused
                                                : backend_->connect_error;
        counter.fetch_add(1, std::memory_order_relaxed);
        log_debug("pool {}: connect to {} failed: {} (attempt {})", listener_->pool->name(),
                  backend_->name, std::strerror(error), attempts_);
        backend_fd_.reset();  // the pending timeout completion does not refer to it
        if (attempts_ <= listener_->pool->config().retries) {
            return connect_next(context);
        }
        release_backend();
        listener_->stats->reject(Rejection::no_backend);
        return close(context, Ending::graceful, "connect_failed");
    }
    backend_->connections_total.fetch_add(1, std::memory_order_relaxed);
    if (listener_->pool->config().send_proxy != config::SendProxy::none &&
        !send_proxy_header(context)) {
        ShardStats::add(context.stats.errors, 1);
        return close(context, Ending::reset, "error");
    }
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

// The header goes out before any client byte: the socket has just connected, so its send
// buffer is empty and a header of at most a few hundred bytes fits whole.
bool Connection::send_proxy_header(RelayContext& context) noexcept {
    const SocketAddress source = to_socket_address(client_);
    const SocketAddress destination = to_socket_address(local_);
    std::size_t length = 0;
    if (listener_->pool->config().send_proxy == config::SendProxy::v1) {
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

// No submission slot for a request this connection needs: it cannot go on. Counted; the
// client and backend are reset.
Connection::Progress Connection::ring_full(RelayContext& context) noexcept {
    ShardStats::add(context.stats.ring_full, 1);
    ShardStats::add(context.stats.errors, 1);
    log_debug("connection {}: the ring's submission queue is full; closing it", index_);
    return close(context, Ending::reset, "error");
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
    const unsigned client_ops = bit(Op::client_in) | bit(Op::client_out) | bit(Op::proxy_in);
    const unsigned backend_ops = bit(Op::backend_in) | bit(Op::backend_out) | bit(Op::connect);
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
    for (Op op : {Op::connect, Op::proxy_in, Op::client_in, Op::client_out, Op::backend_in,
                  Op::backend_out}) {
        if ((armed_ & bit(op)) != 0) {
            const bool on_client =
                op == Op::proxy_in || op == Op::client_in || op == Op::client_out;
            submit_cancel(on_client ? client_fd_.get() : backend_fd_.get(), [&](io_uring_sqe* sqe) {
                io_uring_prep_cancel64(sqe, encode_user_data(op, index_), 0);
            });
        }
    }
}

Connection::Progress Connection::close(RelayContext& context, Ending ending,
                                       const char* why) noexcept {
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
    record.end_time_ns = realtime_ns();
    if (has_client_address_) {
        record.client = to_socket_address(client_);
    }
    record.set_listener(listener_->config.name);
    record.set_backend(backend_index_ != BackendPool::kNone
                           ? std::string_view(listener_->pool->backend(backend_index_).name)
                           : std::string_view("-"));
    record.bytes_in = upstream_.delivered;
    record.bytes_out = downstream_.delivered;
    record.duration_ms = context.now_ms - started_ms_;
    record.ending = ending_;
    record.destination = static_cast<std::uint16_t>(listener_->access_log);
    context.access_log->push(record);
}

Connection::Progress Connection::finish(RelayContext& context) noexcept {
    log_access(context);
    context.pipes.release(upstream_.pipe, upstream_.in_pipe == 0);
    context.pipes.release(downstream_.pipe, downstream_.in_pipe == 0);
    upstream_ = Direction{};
    downstream_ = Direction{};
    // Give the places back before the sockets close: a client that sees the close may
    // reconnect at once (on any shard) and must find its place free.
    release_backend();
    if (client_slot_ != ClientTable::kUntracked) {
        context.clients.release(client_slot_);
        client_slot_ = ClientTable::kUntracked;
    }
    client_fd_.reset();
    backend_fd_.reset();
    generation_->connections.fetch_sub(1, std::memory_order_release);
    generation_ = nullptr;
    listener_ = nullptr;
    state_ = State::free;
    return Progress::finished;
}

}  // namespace ringlb
