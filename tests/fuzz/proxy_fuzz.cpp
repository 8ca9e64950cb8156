// SPDX-License-Identifier: MIT
// libFuzzer target: parse_proxy_header on arbitrary bytes stays in bounds, its verdicts agree
// between an input and its prefixes, and every header it accepts re-encodes to the same one.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/proxy/proxy_parser.hpp"
#include "ringlb/proxy/proxy_writer.hpp"

namespace {

using ringlb::ProxyHeader;
using ringlb::ProxyParse;
using Bytes = std::span<const std::uint8_t>;

// Reports a broken invariant and aborts, which libFuzzer records as a crash with the input.
void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "proxy_fuzz: invariant violated: %s\n", what);
        std::abort();
    }
}

ProxyParse parse(Bytes bytes, ProxyHeader& header) {
    return ringlb::parse_proxy_header(bytes, header);
}

ProxyParse parse(Bytes bytes) {
    ProxyHeader header;
    return ringlb::parse_proxy_header(bytes, header);
}

// The address bytes inside a parsed SocketAddress, to compare with inet_pton.
bool same_address(const ringlb::SocketAddress& address, int family, const std::string& text) {
    std::array<std::uint8_t, 16> expected{};
    if (inet_pton(family, text.c_str(), expected.data()) != 1) {
        return false;
    }
    if (family == AF_INET) {
        sockaddr_in in4{};
        std::memcpy(&in4, address.data(), sizeof(in4));
        return std::memcmp(&in4.sin_addr, expected.data(), 4) == 0;
    }
    sockaddr_in6 in6{};
    std::memcpy(&in6, address.data(), sizeof(in6));
    return std::memcmp(&in6.sin6_addr, expected.data(), 16) == 0;
}

// A v1 TCP line the parser accepted must mean what libc reads in it.
void check_v1_against_libc(Bytes line, const ProxyHeader& header) {
    std::string text(line.begin(), line.end() - 2);  // without CRLF
    std::vector<std::string> fields;
    std::size_t start = 0;
    for (;;) {
        std::size_t space = text.find(' ', start);
        fields.push_back(text.substr(start, space - start));
        if (space == std::string::npos) {
            break;
        }
        start = space + 1;
    }
    check(fields.size() == 6, "v1 line has six fields");
    check(fields[0] == "PROXY", "v1 line starts with PROXY");
    check(fields[1] == "TCP4" || fields[1] == "TCP6", "v1 protocol is TCP4 or TCP6");
    const int family = fields[1] == "TCP4" ? AF_INET : AF_INET6;
    check(header.source.family() == family && header.destination.family() == family,
          "v1 addresses have the announced family");
    check(same_address(header.source, family, fields[2]), "v1 source address as inet_pton");
    check(same_address(header.destination, family, fields[3]),
          "v1 destination address as inet_pton");
    check(std::to_string(header.source.port()) == fields[4], "v1 source port canonical");
    check(std::to_string(header.destination.port()) == fields[5], "v1 destination port canonical");
}

void check_complete(Bytes input, const ProxyHeader& header) {
    check(header.version == 1 || header.version == 2, "version is 1 or 2");
    check(header.length > 0 && header.length <= input.size(), "length within the input");
    check(header.length <= ringlb::kProxyHeaderMax, "length within kProxyHeaderMax");
    check(header.version == 2 || header.length <= ringlb::kProxyV1MaxLength,
          "v1 line within 107 bytes");

    const Bytes exact = input.first(header.length);
    // The header alone parses the same; every proper prefix of it is only incomplete.
    ProxyHeader alone;
    check(parse(exact, alone) == ProxyParse::complete, "header alone is complete");
    check(alone.length == header.length && alone.local == header.local &&
              alone.version == header.version && alone.source == header.source &&
              alone.destination == header.destination,
          "header alone parses the same");
    for (std::size_t length = 0; length < exact.size(); ++length) {
        check(parse(exact.first(length)) == ProxyParse::incomplete,
              "proper prefix of a header is incomplete");
    }

    if (header.local) {
        check(header.source.family() == AF_UNSPEC && header.destination.family() == AF_UNSPEC,
              "local header carries no addresses");
        return;
    }
    const int family = header.source.family();
    check(family == AF_INET || family == AF_INET6, "addresses are IP");
    check(header.destination.family() == family, "both addresses in one family");
    if (header.version == 1) {
        check_v1_against_libc(exact, header);
    }

    std::array<std::uint8_t, ringlb::kProxyV2MaxWriteLength> v2{};
    std::array<char, ringlb::kProxyV1MaxLength> v1{};
    std::size_t written = 0;
    Bytes encoded;
    if (header.version == 1) {
        written = ringlb::write_proxy_v1(header.source, header.destination, v1);
        encoded = Bytes(reinterpret_cast<const std::uint8_t*>(v1.data()), written);
    } else {
        written = ringlb::write_proxy_v2(header.source, header.destination, v2);
        encoded = Bytes(v2.data(), written);
    }
    check(written > 0, "re-encoding fits the documented buffer size");
    ProxyHeader again;
    check(parse(encoded, again) == ProxyParse::complete, "re-encoded header parses");
    check(again.length == written, "re-encoded header is all of what was written");
    check(again.version == header.version, "re-encoded header keeps the version");
    check(!again.local, "re-encoded header is not local");
    check(again.source == header.source, "re-encoded source is the same");
    check(again.destination == header.destination, "re-encoded destination is the same");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Bytes input(data, size);
    ProxyHeader header;
    const ProxyParse result = parse(input, header);
    switch (result) {
        case ProxyParse::complete:
            check_complete(input, header);
            break;
        case ProxyParse::incomplete:
            // A valid prefix is shorter than the longest header, and so are its own prefixes.
            check(size < ringlb::kProxyHeaderMax, "incomplete input shorter than the cap");
            check(size == 0 || data[0] != 'P' || size < ringlb::kProxyV1MaxLength,
                  "incomplete v1 line shorter than 107 bytes");
            check(parse(input.first(size / 2)) == ProxyParse::incomplete,
                  "prefix of an incomplete input is incomplete");
            break;
        case ProxyParse::invalid: {
            // Once refused, no more bytes can make it a header.
            std::vector<std::uint8_t> doubled(input.begin(), input.end());
            doubled.insert(doubled.end(), input.begin(), input.end());
            doubled.push_back('\r');
            doubled.push_back('\n');
            check(parse(doubled) == ProxyParse::invalid, "extension of an invalid input");
            break;
        }
    }
    return 0;
}
