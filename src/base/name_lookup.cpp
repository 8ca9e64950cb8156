// SPDX-License-Identifier: MIT
// getaddrinfo for a TCP connect, its result owned and its error put into words.
#include "ringlb/base/name_lookup.hpp"

#include <netdb.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace ringlb {

std::variant<SocketAddress, std::string> look_up_host(const std::string& host, unsigned port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int status = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (status != 0) {
        return std::string(status == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(status));
    }
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owner(found, &::freeaddrinfo);
    if (found == nullptr || found->ai_addr == nullptr) {
        return std::string("no address");
    }
    return SocketAddress::from_sockaddr(found->ai_addr, found->ai_addrlen);
}

}  // namespace ringlb
