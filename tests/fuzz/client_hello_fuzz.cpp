// SPDX-License-Identifier: MIT
// libFuzzer target: parse_client_hello on arbitrary bytes stays in bounds, its verdicts agree
// between an input, its prefixes and its extensions, and every name it returns is a host name.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "ringlb/inspect/client_hello.hpp"

namespace {

using ringlb::ClientHello;
using ringlb::HelloParse;
using Bytes = std::span<const std::uint8_t>;

// Reports a broken invariant and aborts, which libFuzzer records as a crash with the input.
void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "client_hello_fuzz: invariant violated: %s\n", what);
        std::abort();
    }
}

HelloParse parse(Bytes bytes, ClientHello& hello) {
    return ringlb::parse_client_hello(bytes, hello);
}

HelloParse parse(Bytes bytes) {
    ClientHello hello;
    return ringlb::parse_client_hello(bytes, hello);
}

bool host_name(std::string_view name) {
    if (name.empty() || name.size() > ringlb::kServerNameMax || name.front() == '.' ||
        name.back() == '.' || name.find("..") != std::string_view::npos) {
        return false;
    }
    for (char c : name) {
        const bool allowed =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
        if (!allowed) {
            return false;
        }
    }
    return true;
}

// The verdict is final: more bytes after a decided input never change it.
void check_extension_keeps(Bytes input, HelloParse verdict, const ClientHello& hello) {
    std::vector<std::uint8_t> longer(input.begin(), input.end());
    longer.insert(longer.end(), input.begin(), input.end());
    longer.push_back(0x16);
    ClientHello again;
    check(parse(longer, again) == verdict, "more bytes keep the verdict");
    if (verdict == HelloParse::server_name || verdict == HelloParse::no_name) {
        check(again.length == hello.length, "more bytes keep the ClientHello's length");
        check(again.server_name() == hello.server_name(), "more bytes keep the name");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const Bytes input(data, size);
    ClientHello hello;
    const HelloParse verdict = parse(input, hello);
    switch (verdict) {
        case HelloParse::server_name:
        case HelloParse::no_name: {
            check(hello.length > 0 && hello.length <= size, "length within the input");
            check(hello.length <= ringlb::kClientHelloMax, "length within kClientHelloMax");
            if (verdict == HelloParse::server_name) {
                check(host_name(hello.server_name()), "the name is a lower-case host name");
            }
            // The ClientHello alone parses the same; its proper prefixes are incomplete.
            ClientHello alone;
            check(parse(input.first(hello.length), alone) == verdict, "alone, the same verdict");
            check(alone.length == hello.length && alone.server_name() == hello.server_name(),
                  "alone, the same ClientHello");
            for (std::size_t length : {std::size_t{0}, hello.length / 2, hello.length - 1}) {
                check(parse(input.first(length)) == HelloParse::incomplete,
                      "a proper prefix of a ClientHello is incomplete");
            }
            check_extension_keeps(input, verdict, hello);
            break;
        }
        case HelloParse::incomplete:
            check(hello.needed > size, "incomplete asks for more than it has");
            check(hello.needed <= ringlb::kClientHelloMax, "never asks past kClientHelloMax");
            check(size < ringlb::kClientHelloMax, "a whole 16 KiB is never incomplete");
            check(parse(input.first(size / 2)) == HelloParse::incomplete,
                  "a prefix of an incomplete input is incomplete");
            break;
        case HelloParse::not_tls:
            check(size > 0 && data[0] != 0x16, "not TLS only on a first byte other than 22");
            check_extension_keeps(input, verdict, hello);
            break;
        case HelloParse::invalid:
            check(size >= 2 && data[0] == 0x16, "invalid only for a handshake record");
            // Refused at the earliest byte: the input without its last byte was not refused
            // yet, or was already refused (then so is every longer one).
            check(parse(input.first(size - 1)) != HelloParse::server_name,
                  "a prefix of an invalid input is no ClientHello");
            check_extension_keeps(input, verdict, hello);
            break;
    }
    return 0;
}
