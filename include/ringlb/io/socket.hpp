// SPDX-License-Identifier: MIT
// Socket set-up helpers: listeners, non-blocking client sockets, local addresses.
#pragma once

#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/tcp_options.hpp"
#include "ringlb/base/unique_fd.hpp"

namespace ringlb {

// A non-blocking listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, so that every
// shard can own one for the same address. Throws std::system_error naming the address.
[[nodiscard]] UniqueFd make_listener(const SocketAddress& address, int backlog);

// A non-blocking, close-on-exec TCP socket of the address's family, with TCP_NODELAY set when
// `nodelay`. Returns the fd or -errno; for the data path, so it never throws.
[[nodiscard]] int make_stream_socket(int family, bool nodelay = true) noexcept;

// Sets on a TCP socket the options of `wanted` that differ from `current` (what the socket
// has now: a fresh socket has TcpOptions{} with its TCP_NODELAY as made), so that nothing is
// set twice and a socket with the defaults costs no system call. Keepalive goes on or off
// with SO_KEEPALIVE; a keepalive value set before and 0 now keeps the old value (the kernel
// has no "unset"). Returns 0 or -errno of the first that failed (SO_MARK: EPERM without
// CAP_NET_ADMIN); `failed` then names it. Never throws: for the data path.
[[nodiscard]] int apply_tcp_options(int fd, const TcpOptions& wanted, const TcpOptions& current,
                                    const char** failed = nullptr) noexcept;

// A listening socket's queue: listen(2) with `backlog` (listen on a listening socket only
// changes its queue) and TCP_FASTOPEN with `fastopen_queue` (0 turns TFO off). Returns 0 or
// -errno; `failed` names the call that failed.
[[nodiscard]] int set_listen_queue(int fd, int backlog, unsigned fastopen_queue,
                                   const char** failed = nullptr) noexcept;

// Binds a TCP socket that is about to connect to `source` (its port 0) with
// IP_BIND_ADDRESS_NO_PORT: the kernel picks the local port at connect time, so a port is
// shared by connections to different destinations. Returns 0 or -errno. Data path safe.
[[nodiscard]] int bind_source(int fd, const SocketAddress& source) noexcept;

// The address a socket is bound to (getsockname). Throws std::system_error.
[[nodiscard]] SocketAddress local_address(int fd);

// Makes the next close() of this socket send RST instead of FIN (SO_LINGER 0).
void set_reset_on_close(int fd) noexcept;

}  // namespace ringlb
