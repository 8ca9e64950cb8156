// SPDX-License-Identifier: MIT
// libFuzzer target: parse_http_request on arbitrary bytes never crashes, keeps its views inside
// the input, respects its limits, and never changes a verdict as more bytes arrive.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "ringlb/admin/http_request.hpp"

namespace {

using ringlb::HttpParse;
using ringlb::HttpRequest;

// Reports a broken invariant and aborts, which libFuzzer records as a crash with the input.
[[noreturn]] void violated(const char* what) {
    std::fprintf(stderr, "http_request_fuzz: invariant violated: %s\n", what);
    std::abort();
}

void check(bool condition, const char* what) {
    if (!condition) {
        violated(what);
    }
}

bool inside(std::string_view view, std::string_view input) {
    return view.empty() || (view.data() >= input.data() &&
                            view.data() + view.size() <= input.data() + input.size());
}

bool is_error(HttpParse result) {
    return result == HttpParse::bad_request || result == HttpParse::too_large ||
           result == HttpParse::unsupported;
}

void check_request(std::string_view input, HttpParse result, const HttpRequest& request) {
    if (result == HttpParse::complete) {
        check(request.reject_status == 0 && request.reject_reason.empty(), "no reject on success");
        check(request.size <= input.size(), "size within the input");
        check(request.head_size > 0 && request.head_size <= request.size, "head within size");
        check(request.head_size <= ringlb::kHttpMaxHeadBytes, "head limit");
        check(request.body.size() <= ringlb::kHttpMaxBodyBytes, "body limit");
        check(request.size == request.head_size + request.body.size(), "size = head + body");
        check(request.body.empty() || request.body.data() == input.data() + request.head_size,
              "body follows the head");
        check(!request.method.empty() && !request.path.empty(), "method and path present");
        check(request.version_minor == 0 || request.version_minor == 1, "HTTP/1.0 or 1.1");
        check(request.header_count <= ringlb::kHttpMaxHeaders, "header count limit");
        for (std::string_view view : {request.method, request.path, request.query, request.host,
                                      request.authorization, request.body}) {
            check(inside(view, input), "view inside the input");
        }
        for (std::size_t i = 0; i < request.header_count; ++i) {
            check(inside(request.headers[i].name, input) && inside(request.headers[i].value, input),
                  "header inside the input");
            check(!request.headers[i].name.empty(), "header name present");
        }
        for (unsigned char c : request.path) {
            check(c > 0x20 && c < 0x7f, "no control characters in the path");
        }
        for (unsigned char c : request.query) {
            check(c > 0x20 && c < 0x7f, "no control characters in the query");
        }
    } else if (result == HttpParse::incomplete) {
        // A connection's buffer can never need more than both limits together.
        check(input.size() < ringlb::kHttpMaxHeadBytes + ringlb::kHttpMaxBodyBytes,
              "incomplete only within the limits");
        check(request.head_size != 0 || input.size() <= ringlb::kHttpMaxHeadBytes,
              "an unfinished head is within its limit");
    } else {
        int status = request.reject_status;
        check(status == 400 || status == 413 || status == 414 || status == 431 || status == 501 ||
                  status == 505,
              "known reject status");
        check(!request.reject_reason.empty(), "reject reason present");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    HttpRequest request;
    HttpParse result = ringlb::parse_http_request(input, request);
    check_request(input, result, request);

    // The server re-parses a growing buffer: a verdict on a prefix must hold for the whole.
    std::string_view prefix = input.substr(0, size / 2);
    HttpRequest early;
    HttpParse early_result = ringlb::parse_http_request(prefix, early);
    check_request(prefix, early_result, early);
    if (early_result == HttpParse::complete) {
        check(result == HttpParse::complete && request.size == early.size,
              "a complete prefix stays complete");
    } else if (is_error(early_result)) {
        check(result == early_result && request.reject_status == early.reject_status,
              "an error on a prefix stays the same error");
    }
    if (result == HttpParse::complete) {
        HttpRequest exact;
        check(ringlb::parse_http_request(input.substr(0, request.size), exact) ==
                      HttpParse::complete &&
                  exact.size == request.size,
              "the request alone parses the same");
    }
    return 0;
}
