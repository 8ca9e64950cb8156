// SPDX-License-Identifier: MIT
// The incremental parser of a TLS ClientHello a client sends first, for its server name (SNI).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace ringlb {

// Most bytes of records the parser reads for one ClientHello: a longer one is not routed.
inline constexpr std::size_t kClientHelloMax = 16384;
// Longest host name a server_name extension may carry (RFC 6066: a DNS name).
inline constexpr std::size_t kServerNameMax = 255;

enum class HelloParse {
    server_name,  // a whole, well-formed ClientHello with a host_name: see `ClientHello`
    no_name,      // a whole, well-formed ClientHello without a server name
    incomplete,   // a valid beginning: wait until `ClientHello::needed` bytes are there
    not_tls,      // the first byte is not a TLS handshake record
    invalid,      // a TLS record that cannot begin a well-formed ClientHello, or one over
                  // kClientHelloMax bytes
};

// What parse_client_hello found.
struct ClientHello final {
    char name[kServerNameMax];  // the host name, lower case (not NUL-terminated)
    std::size_t name_length = 0;
    std::size_t length = 0;  // bytes of records that carried the ClientHello
    std::size_t needed = 0;  // on incomplete: bytes needed before the parse can go further

    [[nodiscard]] std::string_view server_name() const noexcept { return {name, name_length}; }
};

// Parses the ClientHello at the start of `bytes` (everything received so far), which may span
// several TLS handshake records (RFC 8446 5.1; RFC 5246 7.4.1.2 for its fields). Checks every
// length against its container and each record header as soon as its bytes are there, so
// bytes that cannot begin a well-formed ClientHello are refused at the first byte that shows
// it; incomplete only for a proper prefix. The whole message is parsed, every extension
// skipped but server_name (RFC 6066 3: a list with one host_name of letters, digits, '-',
// '_' and '.'; a second server_name extension is invalid). `hello` is filled in on
// server_name (name), no_name and server_name (length), and incomplete (needed).
// Data path: no allocation, no lock; never reads past `bytes`.
[[nodiscard]] HelloParse parse_client_hello(std::span<const std::uint8_t> bytes,
                                            ClientHello& hello) noexcept;

}  // namespace ringlb
