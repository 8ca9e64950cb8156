// SPDX-License-Identifier: MIT
// Conversions between what a connection hands the kernel in place (its sockaddr unions, a
// __kernel_timespec) and ringlb's values, for the files that implement Connection.
#pragma once

#include <linux/time_types.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>

#include "ringlb/base/socket_address.hpp"

namespace ringlb {

inline void set_timespec(__kernel_timespec& spec, std::uint64_t ms) noexcept {
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

}  // namespace ringlb
