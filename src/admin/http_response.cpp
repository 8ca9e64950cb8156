// SPDX-License-Identifier: MIT
// An admin HTTP response on the wire: reason phrases, the server's own error bodies, the
// check of a handler's response, and the status line, headers and body written out.
#include "ringlb/admin/http_response.hpp"

#include <array>
#include <cstddef>
#include <ctime>
#include <iterator>

#include <fmt/format.h>

#include "ringlb/admin/http_request.hpp"

namespace ringlb {

namespace {

constexpr std::string_view kDefaultContentType = "text/plain; charset=utf-8";

// IMF-fixdate (RFC 9110 5.6.7), without strftime's dependence on the locale.
void append_date(std::string& out) {
    static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    fmt::format_to(std::back_inserter(out), "Date: {}, {:02} {} {:04} {:02}:{:02}:{:02} GMT\r\n",
                   kDays[static_cast<std::size_t>(utc.tm_wday) % 7], utc.tm_mday,
                   kMonths[static_cast<std::size_t>(utc.tm_mon) % 12], utc.tm_year + 1900,
                   utc.tm_hour, utc.tm_min, utc.tm_sec);
}

}  // namespace

std::string_view http_reason_phrase(int status) noexcept {
    struct Phrase {
        int status;
        std::string_view text;
    };
    static constexpr std::array<Phrase, 34> kPhrases = {{
        {100, "Continue"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {422, "Unprocessable Content"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    }};
    for (const Phrase& phrase : kPhrases) {
        if (phrase.status == status) {
            return phrase.text;
        }
    }
    static constexpr std::array<std::string_view, 6> kClasses = {
        "Unknown", "Informational", "Success", "Redirection", "Client Error", "Server Error"};
    return status >= 100 && status <= 599 ? kClasses[static_cast<std::size_t>(status / 100)]
                                          : kClasses[0];
}

HttpResponse http_text_response(int status, std::string_view detail) {
    HttpResponse response;
    response.status = status;
    response.body = fmt::format("{} {}{}{}\n", status, http_reason_phrase(status),
                                detail.empty() ? "" : ": ", detail);
    return response;
}

const char* http_response_problem(const HttpResponse& response) noexcept {
    if (response.status < 200 || response.status > 599) {
        return "status outside 200..599";
    }
    if (!http_is_field_value(response.content_type)) {
        return "control character in content_type";
    }
    for (const auto& [name, value] : response.headers) {
        if (!http_is_token(name)) {
            return "malformed header name";
        }
        if (!http_is_field_value(value)) {
            return "control character in a header value";
        }
        for (std::string_view reserved :
             {"content-length", "content-type", "connection", "date", "transfer-encoding"}) {
            if (http_iequals(name, reserved)) {
                return "header the server writes itself";
            }
        }
    }
    return nullptr;
}

void append_http_response(std::string& out, const HttpResponse& response, bool head_only,
                          bool close) {
    fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", response.status,
                   http_reason_phrase(response.status));
    append_date(out);
    fmt::format_to(std::back_inserter(out), "Content-Type: {}\r\n",
                   response.content_type.empty() ? kDefaultContentType
                                                 : std::string_view(response.content_type));
    bool bodiless = response.status == 204 || response.status == 304;
    if (!bodiless) {
        fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", response.body.size());
    }
    fmt::format_to(std::back_inserter(out), "Connection: {}\r\n", close ? "close" : "keep-alive");
    for (const auto& [name, value] : response.headers) {
        fmt::format_to(std::back_inserter(out), "{}: {}\r\n", name, value);
    }
    out += "\r\n";
    if (!head_only && !bodiless) {
        out += response.body;
    }
}

}  // namespace ringlb
