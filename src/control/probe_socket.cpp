// SPDX-License-Identifier: MIT
// The socket steps of the control thread's probes: connect, write in full, read.
#include "probe_socket.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace ringlb {

ProbeStep start_connect(int fd, const SocketAddress& address) noexcept {
    if (::connect(fd, address.data(), address.length()) == 0) {
        return {};
    }
    if (errno == EINPROGRESS) {
        return {ProbeStep::Result::wait, 0};
    }
    return {ProbeStep::Result::failed, errno};
}

ProbeStep finish_connect(int fd, short revents) noexcept {
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) {
        error = errno;
    }
    if (error != 0) {
        return {ProbeStep::Result::failed, error};
    }
    if ((revents & POLLOUT) == 0) {
        return {ProbeStep::Result::wait, 0};
    }
    return {};
}

ProbeStep write_rest(int fd, std::string_view data, std::size_t& written) noexcept {
    while (written < data.size()) {
        const ssize_t n =
            ::send(fd, data.data() + written, data.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return {ProbeStep::Result::wait, 0};  // poll says when there is room
            }
            if (errno == EPIPE || errno == ECONNRESET) {
                return {ProbeStep::Result::peer_gone, errno};
            }
            return {ProbeStep::Result::failed, errno};
        }
        written += static_cast<std::size_t>(n);
    }
    return {};
}

ProbeStep read_once(int fd, char* buffer, std::size_t capacity, std::size_t& received) noexcept {
    for (;;) {
        const ssize_t n = ::recv(fd, buffer + received, capacity - received, MSG_DONTWAIT);
        if (n > 0) {
            received += static_cast<std::size_t>(n);
            return {};
        }
        if (n == 0) {
            return {ProbeStep::Result::peer_gone, 0};
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return {ProbeStep::Result::wait, 0};
        }
        if (errno == ECONNRESET) {
            return {ProbeStep::Result::peer_gone, errno};  // a reset ends a reply like a close
        }
        return {ProbeStep::Result::failed, errno};
    }
}

}  // namespace ringlb
