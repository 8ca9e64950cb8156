// SPDX-License-Identifier: MIT
// A connection's admission: the client's address, the PROXY header it sends, the access rules
// and the per-client limits. Member functions of Connection, whose life is in connection.cpp.
#include "ringlb/shard/connection.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "kernel_values.hpp"
#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"
#include "ringlb/proxy/proxy_parser.hpp"

namespace ringlb {

namespace {
// How long to wait before looking again at a PROXY header that has only partly arrived.
constexpr long long kProxyRetryNs = 5 * 1000000;
}  // namespace

// Learns the client's address when the listener needs it, then waits for a PROXY header
// (from a trusted peer only) or goes straight to the access rules.
Connection::Progress Connection::begin_admission(RelayContext& context) noexcept {
    ListenerRuntime& listener = *listener_;
    const int client_fd = client_fd_.get();
    if (listener.needs_peer) {
        socklen_t length = sizeof(client_);
        socklen_t local_length = sizeof(local_);
        if (::getpeername(client_fd, &client_.base, &length) < 0 ||
            ::getsockname(client_fd, &local_.base, &local_length) < 0) {
            // The client is already gone (ENOTCONN): nothing to relay.
            return close(context, Ending::graceful, Termination::client_reset);
        }
        has_client_address_ = true;
    }
    if (listener.config.accept_proxy) {
        if (!any_contains(listener.config.proxy_trusted, &client_.base)) {
            listener.stats->reject(Rejection::proxy_protocol);
            log_debug("listener {}: PROXY header from untrusted peer {}", listener.config.name,
                      to_socket_address(client_).to_string());
            return close(context, Ending::graceful, Termination::proxy_protocol);
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
            return close(context, Ending::graceful, Termination::denied);
        }
        if (rules.max_connections_per_client > 0 || rules.new_connections_per_client_per_s > 0) {
            ClientTable::Admission admission = context.clients.admit(
                to_socket_address(client_), listener_->client_scope, monotonic_ns(),
                rules.max_connections_per_client, rules.new_connections_per_client_per_s,
                rules.new_connections_per_client_burst);
            if (admission.verdict == ClientTable::Verdict::too_many_connections) {
                listener_->stats->reject(Rejection::client_limit);
                return close(context, Ending::graceful, Termination::client_limit);
            }
            if (admission.verdict == ClientTable::Verdict::too_fast) {
                listener_->stats->reject(Rejection::rate_limited);
                return close(context, Ending::graceful, Termination::rate_limited);
            }
            client_slot_ = admission.slot;
        }
    }
    if (!listener_->routes.empty()) {
        return begin_inspection(context);  // tls_inspect.cpp
    }
    return route_to(listener_->fallback(), context);
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
        return close(context, Ending::graceful, Termination::proxy_protocol);
    }
    ProxyHeader header;
    const ProxyParse parsed = parse_proxy_header(
        std::span<const std::uint8_t>(context.scratch.data(), static_cast<std::size_t>(peeked)),
        header);
    if (parsed == ProxyParse::incomplete) {
        if (context.now_ms >= proxy_deadline_ms_) {
            listener_->stats->reject(Rejection::proxy_protocol);
            return close(context, Ending::graceful, Termination::proxy_protocol);
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
        return close(context, Ending::graceful, Termination::proxy_protocol);
    }
    ssize_t taken = ::recv(client_fd_.get(), context.scratch.data(), header.length, 0);
    if (taken != static_cast<ssize_t>(header.length)) {
        listener_->stats->reject(Rejection::proxy_protocol);
        return close(context, Ending::reset, Termination::proxy_protocol);
    }
    if (!header.local) {
        store_address(client_, header.source);
        store_address(local_, header.destination);
    }
    return admit(context);
}

}  // namespace ringlb
