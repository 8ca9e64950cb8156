// SPDX-License-Identifier: MIT
// libFuzzer target: SocketAddress::parse on arbitrary bytes never crashes, and whatever it
// accepts prints as text that parses back to the same address.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ringlb/base/socket_address.hpp"

namespace {

// Reports a broken invariant and aborts, which libFuzzer records as a crash with the input.
void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "address_fuzz: invariant violated: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto address = ringlb::SocketAddress::parse(text);
    if (!address) {
        return 0;
    }
    check(address->family() == AF_INET || address->family() == AF_INET6, "family is IP");
    check(address->length() ==
              (address->family() == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)),
          "length fits the family");
    check(address->port() <= 65535, "port in 0..65535");
    check(text.size() > 2 && text.find(':') != std::string_view::npos, "text has host and port");

    std::string printed = address->to_string();
    auto again = ringlb::SocketAddress::parse(printed);
    check(again.has_value(), "printed address parses");
    check(*again == *address, "printed address is the same address");
    check(again->to_string() == printed, "printing is canonical");
    return 0;
}
