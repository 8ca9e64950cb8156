// SPDX-License-Identifier: MIT
// Routing by TLS server name: a listener with [[listener.route]]s peeks at the client's
// ClientHello (MSG_PEEK, so the backend still receives every byte) and picks the pool the
// first matching route names, else the listener's own. Member functions of Connection, whose
// life is in connection.cpp.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "kernel_values.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/inspect/client_hello.hpp"
#include "ringlb/shard/connection.hpp"

namespace ringlb {

Connection::Progress Connection::begin_inspection(RelayContext& context) noexcept {
    state_ = State::inspecting;
    hello_lowat_ = 1;
    proxy_deadline_ms_ = context.now_ms + listener_->config.tls_inspect_timeout_ms;
    // A ClientHello usually arrives with the handshake's last ACK or just after it (with
    // TCP Fast Open, in the SYN): look before waiting.
    return inspect_client_hello(context, false, false);
}

// Looks at what the client has sent so far without taking it. A whole ClientHello decides
// the route; a partial one waits for the bytes it still needs (SO_RCVLOWAT makes the poll
// wait for all of them) until the deadline, after which the client goes to the listener's
// pool as a client without a name would.
Connection::Progress Connection::inspect_client_hello(RelayContext& context, bool timed_out,
                                                      bool ended) noexcept {
    ListenerStats& stats = *listener_->stats;
    const std::size_t room = std::min(context.scratch.size(), kClientHelloMax);
    const ssize_t peeked =
        ::recv(client_fd_.get(), context.scratch.data(), room, MSG_PEEK | MSG_DONTWAIT);
    if (peeked < 0 && errno != EAGAIN && errno != EINTR) {
        return close(context, Ending::reset, Termination::client_reset);
    }
    const std::size_t seen = peeked > 0 ? static_cast<std::size_t>(peeked) : 0;
    ClientHello hello;
    const HelloParse parsed =
        parse_client_hello(std::span<const std::uint8_t>(context.scratch.data(), seen), hello);
    // peeked == 0: EOF before any byte. After some bytes, EOF shows only in the poll's
    // result (`ended`): without it a half-closed client with half a ClientHello would wake
    // the poll again at once, and again, until the deadline.
    if (parsed == HelloParse::incomplete && peeked != 0 && !ended) {
        if (!timed_out && context.now_ms < proxy_deadline_ms_) {
            return arm_hello_wait(context, std::max(hello.needed, seen + 1));
        }
        // Late (or a client that waits for the server to speak first): served as a client
        // without a name would be.
        stats.inspect_timeouts.fetch_add(1, std::memory_order_relaxed);
        return route_to(listener_->fallback(), context);
    }
    if (parsed == HelloParse::server_name) {
        if (const RouteRuntime* route = listener_->match(hello.server_name())) {
            stats.routed.fetch_add(1, std::memory_order_relaxed);
            return route_to(route->target, context);
        }
    } else if (parsed == HelloParse::invalid && log_enabled(LogLevel::debug)) {
        log_debug("listener {}: a malformed TLS ClientHello from {}", listener_->config.name,
                  has_client_address_ ? to_socket_address(client_).to_string() : "a client");
    }
    stats.unrouted.fetch_add(1, std::memory_order_relaxed);
    return route_to(listener_->fallback(), context);
}

Connection::Progress Connection::arm_hello_wait(RelayContext& context,
                                                std::size_t needed) noexcept {
    // Make the poll report readiness only once every byte the parser needs is there (the
    // bytes already seen stay in the queue and would wake it at once).
    const auto lowat = static_cast<std::uint32_t>(std::min(needed, kClientHelloMax));
    if (lowat != hello_lowat_) {
        const int value = static_cast<int>(lowat);
        if (::setsockopt(client_fd_.get(), SOL_SOCKET, SO_RCVLOWAT, &value, sizeof(value)) < 0) {
            ShardStats::add(context.stats.errors, 1);
            return close(context, Ending::reset, Termination::internal_error);
        }
        hello_lowat_ = lowat;
    }
    if (!context.ring.make_room(2)) {  // the poll and its linked timeout go together
        return ring_full(context);
    }
    const std::uint64_t left =
        proxy_deadline_ms_ > context.now_ms ? proxy_deadline_ms_ - context.now_ms : 1;
    set_timespec(timeout_, left);
    io_uring_sqe* sqe = context.ring.next_sqe();
    io_uring_prep_poll_add(sqe, client_fd_.get(), POLLIN | POLLRDHUP);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::hello_in, index_));
    sqe->flags |= IOSQE_IO_LINK;
    sqe = context.ring.next_sqe();
    io_uring_prep_link_timeout(sqe, &timeout_, 0);
    io_uring_sqe_set_data64(sqe, encode_user_data(Op::hello_timeout, index_));
    pending_ += 2;
    armed_ |= bit(Op::hello_in);
    return Progress::running;
}

// Connects the client to `target` (a pool and its algorithm); without a pool the client is
// closed.
Connection::Progress Connection::route_to(PoolTarget target, RelayContext& context) noexcept {
    if (hello_lowat_ > 1) {
        const int one = 1;
        (void)::setsockopt(client_fd_.get(), SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
        hello_lowat_ = 1;
    }
    if (target.pool == nullptr) {
        listener_->stats->reject(Rejection::no_route);
        return close(context, Ending::graceful, Termination::no_route);
    }
    target_ = target;
    state_ = State::connecting;
    return connect_next(context);
}

}  // namespace ringlb
