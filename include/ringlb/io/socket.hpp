// SPDX-License-Identifier: MIT
// Socket set-up helpers: listeners, non-blocking client sockets, local addresses.
#pragma once

#include "ringlb/base/socket_address.hpp"
#include "ringlb/base/unique_fd.hpp"

namespace ringlb {

// A non-blocking listening TCP socket with SO_REUSEADDR and SO_REUSEPORT, so that every
// shard can own one for the same address. Throws std::system_error naming the address.
[[nodiscard]] UniqueFd make_listener(const SocketAddress& address, int backlog);

// A non-blocking, close-on-exec TCP socket of the address's family with TCP_NODELAY set.
// Returns the fd or -errno; for the data path, so it never throws.
[[nodiscard]] int make_stream_socket(int family) noexcept;

// The address a socket is bound to (getsockname). Throws std::system_error.
[[nodiscard]] SocketAddress local_address(int fd);

// Makes the next close() of this socket send RST instead of FIN (SO_LINGER 0).
void set_reset_on_close(int fd) noexcept;

}  // namespace ringlb
