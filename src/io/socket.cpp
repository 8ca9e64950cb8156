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

int make_stream_socket(int family, bool nodelay) noexcept {
    int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (nodelay) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

int apply_tcp_options(int fd, const TcpOptions& wanted, const TcpOptions& current,
                      const char** failed) noexcept {
    auto set = [&](int level, int name, int value, const char* what) {
        if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
            if (failed != nullptr) {
                *failed = what;
            }
            return -errno;
        }
        return 0;
    };
    int result = 0;
    if (wanted.nodelay != current.nodelay) {
        result = set(IPPROTO_TCP, TCP_NODELAY, wanted.nodelay ? 1 : 0, "TCP_NODELAY");
    }
    if (result == 0 && wanted.keepalive() != current.keepalive()) {
        result = set(SOL_SOCKET, SO_KEEPALIVE, wanted.keepalive() ? 1 : 0, "SO_KEEPALIVE");
    }
    if (result == 0 && wanted.keepalive()) {
        const struct {
            unsigned now, was;
            int name;
            const char* what;
        } values[] = {
            {wanted.keepalive_idle_s, current.keepalive_idle_s, TCP_KEEPIDLE, "TCP_KEEPIDLE"},
            {wanted.keepalive_interval_s, current.keepalive_interval_s, TCP_KEEPINTVL,
             "TCP_KEEPINTVL"},
            {wanted.keepalive_count, current.keepalive_count, TCP_KEEPCNT, "TCP_KEEPCNT"},
        };
        for (const auto& value : values) {
            if (result == 0 && value.now != 0 && value.now != value.was) {
                result = set(IPPROTO_TCP, value.name, static_cast<int>(value.now), value.what);
            }
        }
    }
    if (result == 0 && wanted.mark != current.mark) {
        result = set(SOL_SOCKET, SO_MARK, static_cast<int>(wanted.mark), "SO_MARK");
    }
    return result;
}

int set_listen_queue(int fd, int backlog, unsigned fastopen_queue, const char** failed) noexcept {
    // TCP_FASTOPEN first: a socket that starts listening with it takes TFO clients at once.
    int queue = static_cast<int>(fastopen_queue);
    if (setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN, &queue, sizeof(queue)) < 0) {
        if (failed != nullptr) {
            *failed = "TCP_FASTOPEN";
        }
        return -errno;
    }
    if (::listen(fd, backlog) < 0) {
        if (failed != nullptr) {
            *failed = "listen";
        }
        return -errno;
    }
    return 0;
}

int bind_source(int fd, const SocketAddress& source) noexcept {
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one)) < 0) {
        return -errno;
    }
    if (::bind(fd, source.data(), source.length()) < 0) {
        return -errno;
    }
    return 0;
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
