// SPDX-License-Identifier: MIT
// Socket set-up helpers for listeners and backend connections.
#include "ringlb/io/socket.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>

namespace ringlb {

namespace {
void set_int_option(int fd, int level, int name, int value, const char* what,
                    const SocketAddress& address) {
    if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
        throw std::system_error(errno, std::generic_category(),
                                std::string(what) + " on " + address.to_string());
    }
}
}  // namespace

UniqueFd make_listener(const SocketAddress& address, int backlog) {
    UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw std::system_error(errno, std::generic_category(),
                                "socket for " + address.to_string());
    }
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", address);
    set_int_option(fd.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", address);
    // Accepted sockets inherit TCP_NODELAY from the listener: one setsockopt here instead of
    // one per connection. Spliced bytes must not wait for Nagle.
    set_int_option(fd.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY", address);
    if (address.family() == AF_INET6) {
        set_int_option(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", address);
    }
    if (::bind(fd.get(), address.data(), address.length()) < 0) {
        throw std::system_error(errno, std::generic_category(), "bind " + address.to_string());
    }
    if (::listen(fd.get(), backlog) < 0) {
        throw std::system_error(errno, std::generic_category(), "listen " + address.to_string());
    }
    return fd;
}

int make_stream_socket(int family) noexcept {
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

SocketAddress local_address(int fd) {
    sockaddr_storage storage{};
    socklen_t length = sizeof(storage);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) < 0) {
        throw std::system_error(errno, std::generic_category(), "getsockname");
    }
    return SocketAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), length);
}

void set_reset_on_close(int fd) noexcept {
    linger option{1, 0};
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, sizeof(option));
}

}  // namespace ringlb
