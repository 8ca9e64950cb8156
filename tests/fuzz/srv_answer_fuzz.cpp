// SPDX-License-Identifier: MIT
// libFuzzer target: parse_srv_answer on arbitrary bytes stays inside them (ASan), and whatever
// it accepts is consistent: canonical target names, addresses of a known family.
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "ringlb/control/srv_answer.hpp"

namespace {

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "broken invariant: %s\n", what);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto answer = ringlb::parse_srv_answer(std::span<const unsigned char>(data, size));
    if (!answer) {
        return 0;
    }
    for (const ringlb::SrvRecord& record : answer->records) {
        check(!record.target.empty(), "an SRV target is never the root name");
        check(ringlb::canonical_dns_name(record.target) == record.target,
              "SRV targets are canonical");
    }
    for (const ringlb::AddressRecord& additional : answer->additional) {
        const int family = additional.address.family();
        check(family == AF_INET || family == AF_INET6, "additional addresses are IPv4 or IPv6");
    }
    return 0;
}
