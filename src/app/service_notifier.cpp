// SPDX-License-Identifier: MIT
// The sd_notify datagrams ringlb sends to systemd: ready, reloading, stopping.
#include "ringlb/app/service_notifier.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ringlb/base/clock.hpp"
#include "ringlb/base/log.hpp"

namespace ringlb {

ServiceNotifier ServiceNotifier::from_environment() {
    const char* value = std::getenv("NOTIFY_SOCKET");
    if (value == nullptr) {
        return ServiceNotifier(UniqueFd());
    }
    std::string name = value;
    ::unsetenv("NOTIFY_SOCKET");

    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    const bool abstract = !name.empty() && name.front() == '@';
    if ((name.empty() || (name.front() != '/' && !abstract)) ||
        name.size() >= sizeof(address.sun_path)) {
        log_warn(
            "NOTIFY_SOCKET=\"{}\" is not an absolute path or @name of at most {} bytes; "
            "not notifying the service manager",
            name, sizeof(address.sun_path) - 1);
        return ServiceNotifier(UniqueFd());
    }
    std::memcpy(address.sun_path, name.data(), name.size());
    if (abstract) {
        address.sun_path[0] = '\0';  // "@name": the abstract namespace, not NUL-terminated
    }
    const auto length =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
    UniqueFd socket(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!socket) {
        log_warn("NOTIFY_SOCKET: cannot create a socket: {}; not notifying the service manager",
                 std::strerror(errno));
        return ServiceNotifier(UniqueFd());
    }
    // Connecting now checks the path's permissions once, before privileges are dropped.
    if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
        log_warn("NOTIFY_SOCKET=\"{}\": cannot connect: {}; not notifying the service manager",
                 name, std::strerror(errno));
        return ServiceNotifier(UniqueFd());
    }
    return ServiceNotifier(std::move(socket));
}

void ServiceNotifier::ready(std::string_view status) noexcept {
    std::array<char, 512> message{};
    auto end = fmt::format_to_n(message.data(), message.size(), "READY=1\nMAINPID={}\nSTATUS={}",
                                ::getpid(), status);
    send({message.data(), std::min(end.size, message.size())});
}

void ServiceNotifier::reloading() noexcept {
    std::array<char, 64> message{};
    auto end = fmt::format_to_n(message.data(), message.size(), "RELOADING=1\nMONOTONIC_USEC={}",
                                monotonic_ns() / 1000);
    send({message.data(), std::min(end.size, message.size())});
}

void ServiceNotifier::stopping() noexcept {
    send("STOPPING=1");
}

void ServiceNotifier::send(std::string_view message) noexcept {
    if (!active()) {
        return;  // not under a service manager
    }
    // Never wait for the service manager: with its queue full (a stuck manager) a blocking
    // send would hold main, and with it reloads and the stop, for as long as that lasts.
    ssize_t sent;
    do {
        sent = ::send(socket_.get(), message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        log_debug("NOTIFY_SOCKET: cannot send \"{}\": {}", message, std::strerror(errno));
    }
}

}  // namespace ringlb
