// SPDX-License-Identifier: MIT
// Unit tests for the admin endpoint's HTTP request parser: fields, limits, strictness.
#include <catch2/catch.hpp>

#include <string>

#include "ringlb/admin/http_request.hpp"

using ringlb::HttpParse;
using ringlb::HttpRequest;
using ringlb::kHttpMaxBodyBytes;
using ringlb::kHttpMaxHeadBytes;
using ringlb::kHttpMaxHeaders;
using ringlb::parse_http_request;
using ringlb::query_param;

namespace {

// The request's views point into `bytes`: callers keep the bytes alive (literals or locals).
HttpParse parse(std::string_view bytes, HttpRequest& request) {
    return parse_http_request(bytes, request);
}

HttpParse parse(const std::string& bytes) {
    HttpRequest request;
    return parse_http_request(bytes, request);
}

// A request head with `name: value` headers padded by one filler header to exactly `size`.
std::string head_of_size(std::size_t size) {
    std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: ";
    std::size_t fixed = head.size() + 4;  // "\r\n\r\n"
    head.append(size - fixed, 'x');
    head += "\r\n\r\n";
    return head;
}

bool inside(std::string_view view, const std::string& bytes) {
    return view.empty() || (view.data() >= bytes.data() &&
                            view.data() + view.size() <= bytes.data() + bytes.size());
}

}  // namespace

TEST_CASE("a typical GET yields method, path, query, host and keep-alive") {
    std::string bytes =
        "GET /metrics?name=pool&verbose HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n"
        "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
    HttpRequest request;
    REQUIRE(parse(bytes, request) == HttpParse::complete);
    CHECK(request.method == "GET");
    CHECK(request.path == "/metrics");
    CHECK(request.query == "name=pool&verbose");
    CHECK(request.host == "127.0.0.1:9100");
    CHECK(request.version_minor == 1);
    CHECK(request.keep_alive);
    CHECK_FALSE(request.expect_continue);
    CHECK(request.authorization.empty());
    CHECK(request.body.empty());
    CHECK(request.head_size == bytes.size());
    CHECK(request.size == bytes.size());
    CHECK(request.header_count == 3);
    CHECK(request.header("user-agent") == std::optional<std::string_view>("curl/7.88.1"));
    CHECK(request.header("ACCEPT") == std::optional<std::string_view>("*/*"));
    CHECK_FALSE(request.header("Cookie").has_value());
    for (std::string_view view : {request.method, request.path, request.query, request.host}) {
        CHECK(inside(view, bytes));
    }
}

TEST_CASE("every proper prefix of a request is incomplete, the whole is complete") {
    std::string bytes =
        "POST /pools/api/drain?backend=b1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3\r\n"
        "Content-Length: 5\r\n\r\nhello";
    for (std::size_t length = 0; length < bytes.size(); ++length) {
        INFO("prefix length " << length);
        CHECK(parse(bytes.substr(0, length)) == HttpParse::incomplete);
    }
    HttpRequest request;
    REQUIRE(parse(bytes, request) == HttpParse::complete);
    CHECK(request.body == "hello");
    CHECK(request.authorization == "Bearer s3");
}

TEST_CASE("a body is bounded by Content-Length; what follows is the next request") {
    std::string first = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    std::string second = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    std::string bytes = first + second;
    HttpRequest request;
    REQUIRE(parse(bytes, request) == HttpParse::complete);
    CHECK(request.body == "abc");
    CHECK(request.size == first.size());
    std::string rest = bytes.substr(request.size);
    REQUIRE(parse(rest, request) == HttpParse::complete);
    CHECK(request.path == "/b");
}

TEST_CASE("once the head is whole, an incomplete body still reports the head") {
    std::string bytes =
        "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 10\r\n\r\n";
    HttpRequest request;
    std::string partial = bytes + "12345";
    REQUIRE(parse(partial, request) == HttpParse::incomplete);
    CHECK(request.head_size == bytes.size());
    CHECK(request.expect_continue);
    CHECK(request.path == "/x");
    std::string whole = bytes + "1234567890";
    REQUIRE(parse(whole, request) == HttpParse::complete);
    CHECK(request.body == "1234567890");
}

TEST_CASE("keep-alive follows the version and the Connection options") {
    HttpRequest request;
    REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", request) == HttpParse::complete);
    CHECK(request.version_minor == 0);
    CHECK_FALSE(request.keep_alive);
    REQUIRE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", request) ==
            HttpParse::complete);
    CHECK(request.keep_alive);
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: TE, close\r\n\r\n", request) ==
            HttpParse::complete);
    CHECK_FALSE(request.keep_alive);
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", request) ==
            HttpParse::complete);
    CHECK(request.keep_alive);
}

TEST_CASE("header names match case-insensitively") {
    HttpRequest request;
    REQUIRE(parse("POST / HTTP/1.1\r\nhOsT: a\r\ncontent-LENGTH: 2\r\nAUTHORIZATION:  Bearer t "
                  "\r\n\r\nok",
                  request) == HttpParse::complete);
    CHECK(request.host == "a");
    CHECK(request.body == "ok");
    CHECK(request.authorization == "Bearer t");
}

TEST_CASE("query_param finds values, flags and absences") {
    CHECK(query_param("a=1&b&c=x=y", "a") == std::optional<std::string_view>("1"));
    CHECK(query_param("a=1&b&c=x=y", "b") == std::optional<std::string_view>(""));
    CHECK(query_param("a=1&b&c=x=y", "c") == std::optional<std::string_view>("x=y"));
    CHECK_FALSE(query_param("a=1&b&c=x=y", "d").has_value());
    CHECK_FALSE(query_param("", "a").has_value());
    CHECK_FALSE(query_param("ab=1", "a").has_value());
    CHECK(query_param("a=1&a=2", "a") == std::optional<std::string_view>("1"));
    CHECK(query_param("x=&y=2", "x") == std::optional<std::string_view>(""));
}

TEST_CASE("a head over 8 KiB is too large even before its blank line arrives") {
    std::string exact = head_of_size(kHttpMaxHeadBytes);
    REQUIRE(exact.size() == kHttpMaxHeadBytes);
    CHECK(parse(exact) == HttpParse::complete);

    HttpRequest request;
    CHECK(parse(head_of_size(kHttpMaxHeadBytes + 1), request) == HttpParse::too_large);
    CHECK(request.reject_status == 431);

    std::string unfinished = "GET / HTTP/1.1\r\nHost: a\r\nX-Fill: ";
    unfinished.append(kHttpMaxHeadBytes - unfinished.size(), 'x');
    CHECK(parse(unfinished) == HttpParse::incomplete);
    CHECK(parse(unfinished + "x", request) == HttpParse::too_large);
    CHECK(request.reject_status == 431);
}

TEST_CASE("a request line over 8 KiB is too large with 414") {
    std::string line = "GET /";
    line.append(kHttpMaxHeadBytes, 'a');
    HttpRequest request;
    CHECK(parse(line, request) == HttpParse::too_large);
    CHECK(request.reject_status == 414);
}

TEST_CASE("at most 64 header fields") {
    auto with_headers = [](std::size_t count) {
        std::string bytes = "GET / HTTP/1.1\r\nHost: a\r\n";
        for (std::size_t i = 1; i < count; ++i) {
            bytes += "X-H" + std::to_string(i) + ": v\r\n";
        }
        return bytes + "\r\n";
    };
    HttpRequest request;
    REQUIRE(parse(with_headers(kHttpMaxHeaders), request) == HttpParse::complete);
    CHECK(request.header_count == kHttpMaxHeaders);
    CHECK(parse(with_headers(kHttpMaxHeaders + 1), request) == HttpParse::too_large);
    CHECK(request.reject_status == 431);
    // Refused as soon as the 65th line is there, blank line or not.
    std::string unfinished = with_headers(kHttpMaxHeaders + 1);
    unfinished.resize(unfinished.size() - 2);
    CHECK(parse(unfinished) == HttpParse::too_large);
}

TEST_CASE("a body over 4 KiB is too large from its Content-Length alone") {
    HttpRequest request;
    std::string head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ";
    CHECK(parse(head + std::to_string(kHttpMaxBodyBytes) + "\r\n\r\n") == HttpParse::incomplete);
    CHECK(parse(head + std::to_string(kHttpMaxBodyBytes + 1) + "\r\n\r\n", request) ==
          HttpParse::too_large);
    CHECK(request.reject_status == 413);
    CHECK(parse(head + "99999999999999999999999999999\r\n\r\n", request) == HttpParse::too_large);
    CHECK(request.reject_status == 413);
    std::string body(kHttpMaxBodyBytes, 'b');
    std::string whole = head + std::to_string(body.size()) + "\r\n\r\n" + body;
    REQUIRE(parse(whole, request) == HttpParse::complete);
    CHECK(request.body.size() == kHttpMaxBodyBytes);
}

TEST_CASE("malformed Content-Length values are bad requests") {
    for (std::string value : {"", "abc", "-1", "+1", "1 2", "0x10", "1,1"}) {
        INFO("Content-Length: " << value);
        CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + value + "\r\n\r\n") ==
              HttpParse::bad_request);
    }
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx") ==
          HttpParse::bad_request);
}

TEST_CASE("Transfer-Encoding is unsupported") {
    HttpRequest request;
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", request) ==
          HttpParse::unsupported);
    CHECK(request.reject_status == 501);
    CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ntransfer-encoding: "
                "identity\r\n\r\nabc") == HttpParse::unsupported);
}

TEST_CASE("only HTTP/1.0 and HTTP/1.1") {
    HttpRequest request;
    CHECK(parse("GET / HTTP/2.0\r\n\r\n", request) == HttpParse::unsupported);
    CHECK(request.reject_status == 505);
    CHECK(parse("GET / HTTP/1.2\r\n\r\n") == HttpParse::unsupported);
    CHECK(parse("GET / HTTP/0.9\r\n\r\n") == HttpParse::unsupported);
    for (std::string line : {"GET / http/1.1", "GET / HTTP/1", "GET / HTTP/1.10", "GET /",
                             "GET / HTTP/1.1 extra", "GET  / HTTP/1.1", "GET / HTTP/a.b"}) {
        INFO(line);
        CHECK(parse(line + "\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
    }
}

TEST_CASE("bare LF and bare CR are refused consistently, complete or not") {
    CHECK(parse("GET / HTTP/1.1\nHost: a\n\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.1\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.1\rHost: a\r\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
    // A CR at the very end may still be followed by its LF.
    CHECK(parse("GET / HTTP/1.1\r") == HttpParse::incomplete);
}

TEST_CASE("control characters, spaces, '#' and non-ASCII in the target are refused") {
    for (std::string target :
         {std::string("/a\x01"
                      "b"),
          std::string("/a\x7f"), std::string("/\xc3\xa9"), std::string("/a\tb"),
          std::string("/a#frag"), std::string("/a?x=\x1b")}) {
        INFO(target);
        CHECK(parse("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
    }
    constexpr char kWithNul[] = "GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(parse(std::string(kWithNul, sizeof(kWithNul) - 1)) == HttpParse::bad_request);
}

TEST_CASE("target forms: origin, absolute with a path, '*' for OPTIONS") {
    HttpRequest request;
    REQUIRE(parse("GET http://admin:9100/status?x=1 HTTP/1.1\r\nHost: admin:9100\r\n\r\n",
                  request) == HttpParse::complete);
    CHECK(request.path == "/status");
    CHECK(request.query == "x=1");
    CHECK(parse("GET http://admin:9100 HTTP/1.1\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET ftp://admin/x HTTP/1.1\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET status HTTP/1.1\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
    REQUIRE(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", request) == HttpParse::complete);
    CHECK(request.path == "*");
    CHECK(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n") == HttpParse::bad_request);
}

TEST_CASE("HTTP/1.1 needs exactly one Host") {
    CHECK(parse("GET / HTTP/1.1\r\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n") == HttpParse::bad_request);
    CHECK(parse("GET / HTTP/1.0\r\n\r\n") == HttpParse::complete);
}

TEST_CASE("malformed header lines are bad requests") {
    for (std::string line : {"X-A : v", "X A: v", ": v", "no colon", " folded: v", "\tX: v",
                             "X-A: v\x01", "X-A: \x7f", "X(: v"}) {
        INFO(line);
        CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\n" + line + "\r\n\r\n") == HttpParse::bad_request);
    }
    CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n") ==
          HttpParse::bad_request);
    // Tabs and obs-text are legal in values.
    HttpRequest request;
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\nX-A: \tv\t1 \xe2\x82\xac\t\r\n\r\n", request) ==
            HttpParse::complete);
    CHECK(request.header("x-a") == std::optional<std::string_view>("v\t1 \xe2\x82\xac"));
}

TEST_CASE("empty lines before the request line are skipped") {
    HttpRequest request;
    std::string bytes = "\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    REQUIRE(parse(bytes, request) == HttpParse::complete);
    CHECK(request.path == "/x");
    CHECK(request.size == bytes.size());
}

TEST_CASE("a binary or garbage first line is refused at its first bytes") {
    CHECK(parse(std::string("\x16\x03\x01\x02\x00", 5)) == HttpParse::bad_request);
    CHECK(parse("GE(") == HttpParse::bad_request);
    CHECK(parse("GE") == HttpParse::incomplete);
    CHECK(parse("\r") == HttpParse::incomplete);  // maybe an empty line before the request
    CHECK(parse("\r\nGE") == HttpParse::incomplete);
    CHECK(parse("GET /\x01") == HttpParse::incomplete);  // judged when the line is complete
    // Same verdict however many bytes have come: not 414 once the line passes the limit.
    std::string garbage = "G(";
    garbage.append(kHttpMaxHeadBytes, 'x');
    CHECK(parse(garbage) == HttpParse::bad_request);
}

TEST_CASE("errors carry a status and a reason; success leaves them empty") {
    HttpRequest request;
    REQUIRE(parse("GET / HTTP/1.1\r\n\r\n", request) == HttpParse::bad_request);
    CHECK(request.reject_status == 400);
    CHECK_FALSE(request.reject_reason.empty());
    REQUIRE(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", request) == HttpParse::complete);
    CHECK(request.reject_status == 0);
    CHECK(request.reject_reason.empty());
}
