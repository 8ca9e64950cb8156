// SPDX-License-Identifier: MIT
// Start-up and reload checks of socket settings: marks and source addresses.
#include "socket_checks.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "ringlb/base/unique_fd.hpp"
#include "ringlb/io/socket.hpp"

namespace ringlb {

namespace {
// -errno of setting SO_MARK `mark` on a fresh TCP socket of `family`, or 0.
int try_mark(int family, std::uint32_t mark) {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        return -errno;
    }
    const int value = static_cast<int>(mark);
    return setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &value, sizeof(value)) < 0 ? -errno : 0;
}

void check_mark(const std::string& owner, int family, std::uint32_t mark) {
    if (mark == 0) {
        return;
    }
    if (int result = try_mark(family, mark); result < 0) {
        throw std::runtime_error(fmt::format(
            "{}: mark = {} cannot be set: {}. SO_MARK needs CAP_NET_ADMIN: run ringlb as root "
            "(with global.user it keeps CAP_NET_ADMIN when a mark is set), or under the "
            "systemd unit add CAP_NET_ADMIN to AmbientCapabilities= and "
            "CapabilityBoundingSet= (docs/SECURITY.md)",
            owner, mark, std::strerror(-result)));
    }
}
}  // namespace

bool uses_marks(const config::Config& config) {
    for (const auto& listener : config.listeners) {
        if (listener.tcp.mark != 0) {
            return true;
        }
    }
    for (const auto& pool : config.pools) {
        if (pool.tcp.mark != 0) {
            return true;
        }
    }
    return false;
}

void check_socket_settings(const config::Config& config) {
    for (const auto& listener : config.listeners) {
        check_mark("listener " + listener.name, listener.bind.family(), listener.tcp.mark);
    }
    for (const auto& pool : config.pools) {
        check_mark("pool " + pool.name, AF_INET, pool.tcp.mark);
        for (const SocketAddress& source : pool.source) {
            UniqueFd fd(::socket(source.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
            int result = fd ? bind_source(fd.get(), source) : -errno;
            if (result < 0) {
                throw std::runtime_error(
                    fmt::format("pool {}: source {} cannot be bound: {}{}", pool.name,
                                source.to_string(), std::strerror(-result),
                                result == -EADDRNOTAVAIL ? " (not an address of this host)" : ""));
            }
        }
    }
}

}  // namespace ringlb
