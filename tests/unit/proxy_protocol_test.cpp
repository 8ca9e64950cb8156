// SPDX-License-Identifier: MIT
// PROXY protocol: headers byte for byte as the specification lays them out, round trips, partial
// input, and the inputs a receiver must refuse.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/base/socket_address.hpp"
#include "ringlb/proxy/proxy_parser.hpp"
#include "ringlb/proxy/proxy_writer.hpp"

namespace {

using ringlb::kProxyHeaderMax;
using ringlb::kProxyV1MaxLength;
using ringlb::kProxyV2MaxWriteLength;
using ringlb::parse_proxy_header;
using ringlb::ProxyHeader;
using ringlb::ProxyParse;
using ringlb::SocketAddress;
using Bytes = std::vector<std::uint8_t>;

const Bytes kSignature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

SocketAddress address(const char* text) {
    auto parsed = SocketAddress::parse(text);
    REQUIRE(parsed.has_value());
    return *parsed;
}

std::string v1(const char* source, const char* destination) {
    std::array<char, kProxyV1MaxLength> line{};
    std::size_t length = ringlb::write_proxy_v1(address(source), address(destination), line);
    REQUIRE(length > 0);
    return std::string(line.data(), length);
}

Bytes v2(const char* source, const char* destination) {
    std::array<std::uint8_t, kProxyV2MaxWriteLength> header{};
    std::size_t length = ringlb::write_proxy_v2(address(source), address(destination), header);
    REQUIRE(length > 0);
    return Bytes(header.begin(), header.begin() + static_cast<std::ptrdiff_t>(length));
}

Bytes bytes_of(std::string_view text) {
    return Bytes(text.begin(), text.end());
}

// A v2 header with the given version/command and family/protocol bytes and address block;
// the length field says `block.size()` unless `length` overrides it.
Bytes v2_raw(std::uint8_t version_command, std::uint8_t family_protocol, const Bytes& block,
             int length = -1) {
    Bytes header = kSignature;
    const std::size_t announced = length < 0 ? block.size() : static_cast<std::size_t>(length);
    header.push_back(version_command);
    header.push_back(family_protocol);
    header.push_back(static_cast<std::uint8_t>(announced >> 8));
    header.push_back(static_cast<std::uint8_t>(announced & 0xff));
    header.insert(header.end(), block.begin(), block.end());
    return header;
}

ProxyParse parse(const Bytes& input, ProxyHeader& header) {
    return parse_proxy_header(input, header);
}

ProxyParse parse(const Bytes& input) {
    ProxyHeader header;
    return parse_proxy_header(input, header);
}

ProxyParse parse(std::string_view text) {
    return parse(bytes_of(text));
}

// Parses a complete header and checks that it carries these addresses.
void require_addresses(const Bytes& input, int version, const char* source,
                       const char* destination) {
    ProxyHeader header;
    REQUIRE(parse(input, header) == ProxyParse::complete);
    CHECK(header.version == version);
    CHECK(header.length == input.size());
    CHECK_FALSE(header.local);
    CHECK(header.source.to_string() == source);
    CHECK(header.destination.to_string() == destination);
    CHECK(header.source == address(source));
    CHECK(header.destination == address(destination));
}

}  // namespace

TEST_CASE("v2 IPv4 header is laid out as the specification says") {
    const Bytes expected = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,  // signature
        0x21,                    // version 2, command PROXY
        0x11,                    // AF_INET, STREAM
        0x00, 0x0C,              // 12 bytes of addresses follow
        0xC0, 0xA8, 0x00, 0x01,  // 192.168.0.1
        0xC0, 0xA8, 0x00, 0x0B,  // 192.168.0.11
        0xDC, 0x04,              // 56324
        0x01, 0xBB,              // 443
    };
    CHECK(v2("192.168.0.1:56324", "192.168.0.11:443") == expected);
    CHECK(expected.size() == ringlb::kProxyV2Ipv4Length);
}

TEST_CASE("v2 IPv6 header is laid out as the specification says") {
    const Bytes expected = {
        0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,  // signature
        0x21,                                            // version 2, command PROXY
        0x21,                                            // AF_INET6, STREAM
        0x00, 0x24,                                      // 36 bytes of addresses follow
        0x20, 0x01, 0x0D, 0xB8, 0x00, 0x00, 0x00, 0x00,  // 2001:db8::1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  //
        0x20, 0x01, 0x0D, 0xB8, 0x00, 0x00, 0x00, 0x00,  // 2001:db8::a:2
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0A, 0x00, 0x02,  //
        0x9C, 0x40,                                      // 40000
        0x01, 0xBB,                                      // 443
    };
    CHECK(v2("[2001:db8::1]:40000", "[2001:db8::a:2]:443") == expected);
    CHECK(expected.size() == ringlb::kProxyV2Ipv6Length);
}

TEST_CASE("v1 lines are the exact text the specification shows") {
    CHECK(v1("192.168.0.1:56324", "192.168.0.11:443") ==
          "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    CHECK(v1("[2001:db8::1]:40000", "[2001:db8::a:2]:443") ==
          "PROXY TCP6 2001:db8::1 2001:db8::a:2 40000 443\r\n");
    CHECK(v1("0.0.0.0:0", "255.255.255.255:65535") ==
          "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n");
}

TEST_CASE("v1 writes IPv6 in RFC 5952 form: longest zero run as ::, no dotted tail") {
    auto line_for = [](const char* source) {
        std::string line = v1(source, "[::1]:80");
        return line.substr(11, line.find(' ', 11) - 11);
    };
    CHECK(line_for("[2001:0db8:0000:0000:0001:0000:0000:0001]:1") == "2001:db8::1:0:0:1");
    CHECK(line_for("[2001:0:0:1:0:0:0:1]:1") == "2001:0:0:1::1");
    CHECK(line_for("[2001:db8:0:1:1:1:1:1]:1") == "2001:db8:0:1:1:1:1:1");
    CHECK(line_for("[::]:1") == "::");
    CHECK(line_for("[1::]:1") == "1::");
    CHECK(line_for("[ABCD:EF01::]:1") == "abcd:ef01::");
    CHECK(line_for("[1:2:3:4:5:6:7:8]:1") == "1:2:3:4:5:6:7:8");
    // Both ends IPv4-mapped is a genuine IPv6 pair; the tail stays hex.
    CHECK(v1("[::ffff:1.2.3.4]:1", "[::ffff:10.0.0.1]:2") ==
          "PROXY TCP6 ::ffff:102:304 ::ffff:a00:1 1 2\r\n");
}

TEST_CASE("an IPv4 address paired with an IPv4-mapped one is written as IPv4 twice") {
    CHECK(v1("10.1.2.3:5000", "[::ffff:192.0.2.7]:80") ==
          "PROXY TCP4 10.1.2.3 192.0.2.7 5000 80\r\n");
    CHECK(v1("[::ffff:10.1.2.3]:5000", "192.0.2.7:80") ==
          "PROXY TCP4 10.1.2.3 192.0.2.7 5000 80\r\n");
    require_addresses(v2("[::ffff:10.1.2.3]:5000", "192.0.2.7:80"), 2, "10.1.2.3:5000",
                      "192.0.2.7:80");
    require_addresses(v2("10.1.2.3:5000", "[::ffff:192.0.2.7]:80"), 2, "10.1.2.3:5000",
                      "192.0.2.7:80");
}

TEST_CASE("families that still differ give UNKNOWN and AF_UNSPEC, which parse as local") {
    CHECK(v1("10.1.2.3:5000", "[2001:db8::7]:80") == "PROXY UNKNOWN\r\n");
    CHECK(v1("[2001:db8::7]:80", "10.1.2.3:5000") == "PROXY UNKNOWN\r\n");
    CHECK(v1("10.1.2.3:5000", "[::1]:80") == "PROXY UNKNOWN\r\n");
    const Bytes unspec = v2("10.1.2.3:5000", "[2001:db8::7]:80");
    CHECK(unspec == v2_raw(0x21, 0x00, {}));
    CHECK(unspec.size() == ringlb::kProxyV2UnspecLength);

    // An address that is not IP at all (empty) is unknown too.
    std::array<char, kProxyV1MaxLength> line{};
    std::size_t length = ringlb::write_proxy_v1(SocketAddress(), address("10.0.0.1:80"), line);
    CHECK(std::string(line.data(), length) == "PROXY UNKNOWN\r\n");

    for (const Bytes& input : {unspec, bytes_of("PROXY UNKNOWN\r\n")}) {
        ProxyHeader header;
        header.source = address("1.1.1.1:1");  // must be reset by the parser
        REQUIRE(parse(input, header) == ProxyParse::complete);
        CHECK(header.local);
        CHECK(header.length == input.size());
        CHECK(header.source.family() == AF_UNSPEC);
        CHECK(header.destination.family() == AF_UNSPEC);
    }
}

TEST_CASE("writers return 0 and write nothing when the buffer is too small") {
    const SocketAddress source = address("[2001:db8::1]:40000");
    const SocketAddress destination = address("[2001:db8::2]:443");
    const std::string line = "PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n";

    std::vector<char> text(line.size() - 1, 'z');
    CHECK(ringlb::write_proxy_v1(source, destination, text) == 0);
    CHECK(std::string(text.begin(), text.end()) == std::string(line.size() - 1, 'z'));
    text.resize(line.size());
    CHECK(ringlb::write_proxy_v1(source, destination, text) == line.size());
    CHECK(std::string(text.begin(), text.end()) == line);

    std::vector<std::uint8_t> binary(ringlb::kProxyV2Ipv6Length - 1, 0xEE);
    CHECK(ringlb::write_proxy_v2(source, destination, binary) == 0);
    CHECK(binary == Bytes(ringlb::kProxyV2Ipv6Length - 1, 0xEE));
    binary.resize(ringlb::kProxyV2Ipv6Length);
    CHECK(ringlb::write_proxy_v2(source, destination, binary) == ringlb::kProxyV2Ipv6Length);
}

TEST_CASE("encode then parse gives back the same addresses, v1 and v2, IPv4 and IPv6") {
    struct Pair {
        const char* source;
        const char* destination;
    };
    const Pair pairs[] = {
        {"192.168.0.1:56324", "192.168.0.11:443"},
        {"0.0.0.0:0", "255.255.255.255:65535"},
        {"10.0.0.1:1", "10.0.0.2:10"},
        {"[2001:db8::1]:40000", "[2001:db8::a:2]:443"},
        {"[::]:0", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
        {"[::ffff:1.2.3.4]:7", "[::ffff:10.0.0.1]:8"},
        {"[fe80::1:0:0:0]:100", "[1:0:0:2::]:200"},
    };
    for (const Pair& pair : pairs) {
        INFO(pair.source << " -> " << pair.destination);
        require_addresses(bytes_of(v1(pair.source, pair.destination)), 1, pair.source,
                          pair.destination);
        require_addresses(v2(pair.source, pair.destination), 2, pair.source, pair.destination);
    }
}

TEST_CASE("every proper prefix of a valid header is incomplete") {
    Bytes tlv_header = v2_raw(0x21, 0x11, {127, 0, 0, 1, 127, 0, 0, 2, 0, 1, 0, 2, 4, 0, 1, 0});
    const std::vector<Bytes> headers = {
        bytes_of(v1("192.168.0.1:56324", "192.168.0.11:443")),
        bytes_of(v1("[2001:db8::1]:40000", "[2001:db8::a:2]:443")),
        bytes_of("PROXY TCP6 ::ffff:1.2.3.4 ::1 0 0\r\n"),
        bytes_of("PROXY UNKNOWN\r\n"),
        bytes_of("PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n"),
        v2("192.168.0.1:56324", "192.168.0.11:443"),
        v2("[2001:db8::1]:40000", "[2001:db8::a:2]:443"),
        v2_raw(0x20, 0x00, {}),
        tlv_header,
    };
    for (const Bytes& header : headers) {
        INFO(std::string(header.begin(), header.end()));
        REQUIRE(parse(header) == ProxyParse::complete);
        for (std::size_t length = 0; length < header.size(); ++length) {
            INFO("prefix of " << length << " bytes");
            CHECK(parse(Bytes(header.begin(),
                              header.begin() + static_cast<std::ptrdiff_t>(length))) ==
                  ProxyParse::incomplete);
        }
    }
}

TEST_CASE("a header followed by client data ends where the header ends") {
    const std::string payload = "GET / HTTP/1.1\r\nHost: example\r\n\r\n";
    for (Bytes input : {bytes_of(v1("192.168.0.1:56324", "192.168.0.11:443")),
                        bytes_of(v1("[2001:db8::1]:1", "[2001:db8::2]:2")),
                        bytes_of("PROXY UNKNOWN\r\n"), v2("192.168.0.1:56324", "192.168.0.11:443"),
                        v2("[2001:db8::1]:1", "[2001:db8::2]:2"), v2_raw(0x20, 0x00, {})}) {
        const std::size_t header_length = input.size();
        input.insert(input.end(), payload.begin(), payload.end());
        ProxyHeader header;
        REQUIRE(parse(input, header) == ProxyParse::complete);
        CHECK(header.length == header_length);
    }
    // Even client data that itself looks like a header is not part of this one.
    Bytes twice = bytes_of("PROXY UNKNOWN\r\nPROXY UNKNOWN\r\n");
    ProxyHeader header;
    REQUIRE(parse(twice, header) == ProxyParse::complete);
    CHECK(header.length == 15);
}

TEST_CASE("v1 inputs that are not a PROXY line are invalid") {
    const char* inputs[] = {
        "GET / HTTP/1.1\r\n",
        "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY\r\n",
        "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        "PROXY TCP4  5.6.7.8 1 2\r\n",
        "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
        "PROXY TCP4 1.2.3.-4 5.6.7.8 1 2\r\n",
        "PROXY TCP4 ::1 ::1 1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999999999999999999\r\n",
        "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        "PROXY TCP6 ::1 1.2.3.4 1 2\r\n",
        "PROXY UNKNOWNX\r\n",
        "PROXY UNKNOWN\n",
        "PROXY UNKNOWN\r\r\n",
        "PROXY UNKNOWN a\nb\r\n",
        "PROXY UNKNOWN a\rb\r\n",
    };
    for (const char* input : inputs) {
        INFO(input);
        CHECK(parse(std::string_view(input)) == ProxyParse::invalid);
    }
    // A NUL inside the line, which a C-string parser would stop at.
    CHECK(parse(bytes_of(std::string_view("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33))) ==
          ProxyParse::invalid);
    CHECK(parse(bytes_of(std::string_view("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n", 33))) ==
          ProxyParse::invalid);
}

TEST_CASE("v1 IPv6 text: what parses agrees with inet_pton, the rest is invalid") {
    const char* valid[] = {
        "::",
        "::1",
        "1::",
        "1:2:3:4:5:6:7:8",
        "1::8",
        "1:2:3:4:5:6:7::",
        "::2:3:4:5:6:7:8",
        "2001:DB8::A",
        "0000:0000:0000:0000:0000:0000:0000:0001",
        "::ffff:10.0.0.1",
        "1:2:3:4:5:6:1.2.3.4",
        "::1.2.3.4",
        "1::1.2.3.4",
        "1:2:3:4:5::0.0.0.0",
    };
    for (const char* text : valid) {
        INFO(text);
        std::string line = std::string("PROXY TCP6 ") + text + " ::1 1 2\r\n";
        ProxyHeader header;
        REQUIRE(parse(bytes_of(line), header) == ProxyParse::complete);
        in6_addr expected{};
        REQUIRE(inet_pton(AF_INET6, text, &expected) == 1);
        sockaddr_in6 parsed{};
        std::memcpy(&parsed, header.source.data(), sizeof(parsed));
        CHECK(std::memcmp(&parsed.sin6_addr, &expected, sizeof(expected)) == 0);
    }
    const char* invalid[] = {
        ":",
        ":1",
        "1:",
        ":::",
        "1:::2",
        "1::2::3",
        "12345::",
        "g::",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        "1::2:3:4:5:6:7:8",
        "::ffff:1.2.3",
        "::ffff:1.2.3.4.5",
        "::ffff:1.2.3.04",
        "::ffff:1.2.3.256",
        "::a.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4",
        "1:2:3:4:5:1.2.3.4",
        "1:2:3:4:5:6::1.2.3.4",
        "::1.2.3.4:5",
        "[::1]",
    };
    for (const char* text : invalid) {
        INFO(text);
        std::string line = std::string("PROXY TCP6 ") + text + " ::1 1 2\r\n";
        CHECK(parse(bytes_of(line)) == ProxyParse::invalid);
    }
}

TEST_CASE("v1 lines are refused at the first byte that cannot belong to a header") {
    CHECK(parse("G") == ProxyParse::invalid);
    CHECK(parse("PROXI") == ProxyParse::invalid);
    CHECK(parse("PROXY TCP4 256") == ProxyParse::invalid);
    CHECK(parse("PROXY TCP4 1.2.3.4 5.6.7.8 0") == ProxyParse::incomplete);
    CHECK(parse("PROXY TCP4 1.2.3.4 5.6.7.8 01") == ProxyParse::invalid);
    CHECK(parse("PROXY TCP6 1:2:3:4:5:6:7:8:") == ProxyParse::invalid);
    CHECK(parse("PROXY TCP6 1:2:3:4:5:6:7:8") == ProxyParse::incomplete);
    CHECK(parse("PROXY TCP6 1::2:3:4:5:6:7") == ProxyParse::incomplete);
    CHECK(parse("PROXY TCP6 1::2:3:4:5:6:7:") == ProxyParse::invalid);
    CHECK(parse("PROXY TCP6 1:2:3:4:5:6:7::") == ProxyParse::incomplete);
    CHECK(parse("PROXY TCP6 ::ffff:1.2") == ProxyParse::incomplete);
    CHECK(parse("PROXY TCP6 ::ffff:1.2.3.4.") == ProxyParse::invalid);
    CHECK(parse("PROXY TCP6 1:2:3:4:5:1.") == ProxyParse::invalid);
    CHECK(parse("PROXY UNKNOWN \n") == ProxyParse::invalid);
}

TEST_CASE("v1 lines fit in 107 bytes, CRLF included") {
    const std::string unknown_prefix = "PROXY UNKNOWN ";
    const std::string longest = unknown_prefix + std::string(91, 'x') + "\r\n";
    REQUIRE(longest.size() == kProxyV1MaxLength);
    ProxyHeader header;
    REQUIRE(parse(bytes_of(longest), header) == ProxyParse::complete);
    CHECK(header.length == kProxyV1MaxLength);
    CHECK(header.local);

    CHECK(parse(unknown_prefix + std::string(92, 'x') + "\r\n") == ProxyParse::invalid);
    CHECK(parse(unknown_prefix + std::string(91, 'x')) == ProxyParse::incomplete);
    // 106 bytes without CR: the CRLF can no longer fit.
    CHECK(parse(unknown_prefix + std::string(92, 'x')) == ProxyParse::invalid);
    CHECK(parse(unknown_prefix + std::string(500, 'x')) == ProxyParse::invalid);

    // Long-form IPv6 with a dotted tail is 45 characters, so two of them can overflow the line.
    const std::string long_mapped = "0000:0000:0000:0000:0000:ffff:255.255.255.255";
    const std::string fits =
        "PROXY TCP6 " + long_mapped + " " + long_mapped.substr(0, 44) + " 0 0\r\n";
    REQUIRE(fits.size() == kProxyV1MaxLength);
    CHECK(parse(fits) == ProxyParse::complete);
    const std::string too_long = "PROXY TCP6 " + long_mapped + " " + long_mapped + " 0 0\r\n";
    CHECK(parse(too_long) == ProxyParse::invalid);
    // Refused as soon as the destination address runs past where the line could still end.
    CHECK(parse(too_long.substr(0, 103)) == ProxyParse::invalid);
}

TEST_CASE("v2 inputs that are not a valid header are invalid") {
    const Bytes ipv4_block = {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2};
    Bytes wrong_signature = v2("1.2.3.4:1", "5.6.7.8:2");
    wrong_signature[4] = 0x01;
    Bytes truncated_signature = kSignature;
    truncated_signature[11] = 'P';

    const std::vector<Bytes> inputs = {
        wrong_signature,
        truncated_signature,
        v2_raw(0x11, 0x11, ipv4_block),  // version 1 in the binary format
        v2_raw(0x31, 0x11, ipv4_block),  // version 3
        v2_raw(0x01, 0x11, ipv4_block),  // version 0
        v2_raw(0x22, 0x11, ipv4_block),  // command 2
        v2_raw(0x2F, 0x11, ipv4_block),  // command 15
        v2_raw(0x21, 0x41, ipv4_block),  // family 4
        v2_raw(0x21, 0x13, ipv4_block),  // protocol 3
        v2_raw(0x21, 0x01, ipv4_block),  // STREAM without a family
        v2_raw(0x21, 0x10, ipv4_block),  // AF_INET without a protocol
        v2_raw(0x20, 0x41, {}),          // LOCAL still needs a defined family byte
        v2_raw(0x21, 0x11, Bytes(ipv4_block.begin(), ipv4_block.end() - 1)),  // 11 < 12
        v2_raw(0x21, 0x21, Bytes(35, 0)),                                     // 35 < 36
        v2_raw(0x21, 0x12, Bytes(11, 0)),                                     // UDP4 too
        v2_raw(0x21, 0x31, Bytes(215, 0)),                                    // UNIX: 216
        v2_raw(0x21, 0x21, ipv4_block),  // IPv6 family with an IPv4-sized block
    };
    for (const Bytes& input : inputs) {
        INFO(std::string(input.begin(), input.end()));
        CHECK(parse(input) == ProxyParse::invalid);
    }
}

TEST_CASE("v2 is refused at the first byte that cannot belong to a header") {
    CHECK(parse(Bytes{0x0D, 0x0A, 0x0D, 0x0A, 0x01}) == ProxyParse::invalid);
    Bytes signature_and_version = kSignature;
    signature_and_version.push_back(0x31);
    CHECK(parse(signature_and_version) == ProxyParse::invalid);
    signature_and_version.back() = 0x21;
    CHECK(parse(signature_and_version) == ProxyParse::incomplete);
    signature_and_version.push_back(0x55);
    CHECK(parse(signature_and_version) == ProxyParse::invalid);
    // The length's first byte alone already puts the header over kProxyHeaderMax.
    Bytes over = kSignature;
    over.insert(over.end(), {0x21, 0x11, 0x04});
    CHECK(parse(over) == ProxyParse::invalid);
    // A PROXY header whose block is announced too short is refused before the block arrives.
    CHECK(parse(v2_raw(0x21, 0x11, {}, 11)) == ProxyParse::invalid);
    CHECK(parse(v2_raw(0x21, 0x11, {}, 12)) == ProxyParse::incomplete);
}

TEST_CASE("v2 LOCAL is complete and local whatever address block it carries") {
    ProxyHeader header;
    const Bytes bare = v2_raw(0x20, 0x00, {});
    REQUIRE(parse(bare, header) == ProxyParse::complete);
    CHECK(header.local);
    CHECK(header.version == 2);
    CHECK(header.length == 16);

    const Bytes with_addresses = v2_raw(0x20, 0x11, {1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2});
    REQUIRE(parse(with_addresses, header) == ProxyParse::complete);
    CHECK(header.local);
    CHECK(header.length == 28);
    CHECK(header.source.family() == AF_UNSPEC);

    // The receiver must not assume LOCAL carries nothing; a short block is simply skipped.
    const Bytes short_block = v2_raw(0x20, 0x21, {9, 9, 9});
    REQUIRE(parse(short_block, header) == ProxyParse::complete);
    CHECK(header.local);
    CHECK(header.length == 19);
}

TEST_CASE("v2 PROXY with a family we do not proxy falls back to local") {
    for (std::uint8_t family : {0x00, 0x12, 0x22, 0x31, 0x32}) {
        INFO(int(family));
        const std::size_t block = family == 0x00   ? 0
                                  : family <= 0x12 ? 12
                                  : family <= 0x22 ? 36
                                                   : 216;
        ProxyHeader header;
        REQUIRE(parse(v2_raw(0x21, family, Bytes(block, 7)), header) == ProxyParse::complete);
        CHECK(header.local);
        CHECK(header.length == 16 + block);
    }
}

TEST_CASE("v2 TLVs after the addresses are skipped") {
    const Bytes block = {
        192,  0,    2,    1,   198, 51, 100, 2, 0x30, 0x39, 0x00, 0x50,  // addresses, 12345, 80
        0x01, 0x00, 0x02, 'h', '2',                                      // ALPN "h2"
        0x04, 0x00, 0x03, 0,   0,   0,                                   // NOOP, 3 bytes
        0xEE, 0x00, 0x00,                                                // unknown type, empty
    };
    Bytes input = v2_raw(0x21, 0x11, block);
    const std::size_t header_length = input.size();
    input.insert(input.end(), {'h', 'e', 'l', 'l', 'o'});
    ProxyHeader header;
    REQUIRE(parse(input, header) == ProxyParse::complete);
    CHECK(header.length == header_length);
    CHECK(header.length == 16 + 12 + 14);
    CHECK(header.source.to_string() == "192.0.2.1:12345");
    CHECK(header.destination.to_string() == "198.51.100.2:80");

    // Bytes that are no TLV at all are skipped the same way: they are not checked.
    require_addresses(v2_raw(0x21, 0x11, {127, 0, 0, 1, 127, 0, 0, 2, 0, 1, 0, 2, 0xFF}), 2,
                      "127.0.0.1:1", "127.0.0.2:2");
}

TEST_CASE("v2 headers longer than kProxyHeaderMax are invalid") {
    // 12 address bytes of 1, then zeros up to the largest length a header may have.
    Bytes block(kProxyHeaderMax - 16, 0);
    std::fill_n(block.begin(), 12, 1);
    ProxyHeader header;
    REQUIRE(parse(v2_raw(0x21, 0x11, block), header) == ProxyParse::complete);
    CHECK(header.length == kProxyHeaderMax);
    block.push_back(0);
    CHECK(parse(v2_raw(0x21, 0x11, block)) == ProxyParse::invalid);
    // Refused from the fixed part alone, before the block arrives.
    CHECK(parse(v2_raw(0x21, 0x11, {}, static_cast<int>(kProxyHeaderMax - 15))) ==
          ProxyParse::invalid);
    CHECK(parse(v2_raw(0x21, 0x11, {}, 0xFFFF)) == ProxyParse::invalid);
}

TEST_CASE("an empty input is incomplete and anything else not P or CR is invalid") {
    CHECK(parse(Bytes{}) == ProxyParse::incomplete);
    for (int first = 0; first < 256; ++first) {
        if (first == 'P' || first == 0x0D) {
            continue;
        }
        CHECK(parse(Bytes{static_cast<std::uint8_t>(first)}) == ProxyParse::invalid);
    }
}
