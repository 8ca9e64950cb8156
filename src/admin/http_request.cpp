// SPDX-License-Identifier: MIT
// The admin endpoint's HTTP/1.x request parser: line splitting, limits and header rules.
#include "ringlb/admin/http_request.hpp"

#include <cstdint>

#include "ringlb/base/trim.hpp"

namespace ringlb {

namespace {

// RFC 9110 5.6.2: token characters (methods, header names).
constexpr bool is_token_char(unsigned char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
        return true;
    }
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

// Visible ASCII: what a URI may contain (RFC 3986 has no spaces, controls or raw non-ASCII).
constexpr bool is_target_char(unsigned char c) noexcept {
    return c > 0x20 && c < 0x7f && c != '#';
}

// RFC 9110 5.5: field values are visible characters, spaces, tabs and obs-text (>= 0x80).
constexpr bool is_field_value_char(unsigned char c) noexcept {
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

HttpParse reject(HttpRequest& request, HttpParse result, int status,
                 std::string_view reason) noexcept {
    request.reject_status = status;
    request.reject_reason = reason;
    return result;
}

// Splits the head into CRLF-terminated lines, never looking past the head limit.
class LineReader final {
  public:
    enum class Result { line, need_more, over_limit, bare_line_ending };

    explicit LineReader(std::string_view bytes) noexcept
        : bytes_(bytes),
          end_(bytes.size() < kHttpMaxHeadBytes ? bytes.size() : kHttpMaxHeadBytes) {}

    // On `line`, `line` is the next line without its CRLF. need_more: the bytes stop inside
    // a line; over_limit: the line does not end within kHttpMaxHeadBytes.
    Result next(std::string_view& line) noexcept {
        for (std::size_t i = position_; i < end_; ++i) {
            char c = bytes_[i];
            if (c == '\n') {
                return Result::bare_line_ending;
            }
            if (c != '\r') {
                continue;
            }
            if (i + 1 == end_) {
                break;  // the LF may still come (or lies beyond the limit)
            }
            if (bytes_[i + 1] != '\n') {
                return Result::bare_line_ending;
            }
            line = bytes_.substr(position_, i - position_);
            position_ = i + 2;
            return Result::line;
        }
        return bytes_.size() > kHttpMaxHeadBytes ? Result::over_limit : Result::need_more;
    }

    // The bytes of the current line received so far (for early checks on a partial line).
    [[nodiscard]] std::string_view rest() const noexcept {
        return bytes_.substr(position_, end_ - position_);
    }
    [[nodiscard]] std::size_t position() const noexcept { return position_; }

  private:
    std::string_view bytes_;
    std::size_t end_;
    std::size_t position_ = 0;
};

// A partial request line can already be refused when its method has a character no method
// may contain: binary protocols (TLS, HTTP/2 prefaces excepted) then get a 400 at once
// instead of holding a slot until the timeout.
bool method_prefix_plausible(std::string_view partial_line) noexcept {
    for (char c : partial_line) {
        if (c == ' ' || c == '\r') {
            return true;  // the method ended, or an empty line's CR waits for its LF
        }
        if (!is_token_char(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

// Fills method, path, query and version_minor from the request line.
HttpParse parse_request_line(std::string_view line, HttpRequest& request) noexcept {
    std::size_t first_space = line.find(' ');
    if (first_space == std::string_view::npos) {
        return reject(request, HttpParse::bad_request, 400, "malformed request line");
    }
    std::size_t second_space = line.find(' ', first_space + 1);
    if (second_space == std::string_view::npos) {
        return reject(request, HttpParse::bad_request, 400, "malformed request line");
    }
    std::string_view method = line.substr(0, first_space);
    std::string_view target = line.substr(first_space + 1, second_space - first_space - 1);
    std::string_view version = line.substr(second_space + 1);
    if (!http_is_token(method)) {
        return reject(request, HttpParse::bad_request, 400, "malformed method");
    }
    if (target.empty()) {
        return reject(request, HttpParse::bad_request, 400, "empty request target");
    }
    for (char c : target) {
        if (!is_target_char(static_cast<unsigned char>(c))) {
            return reject(request, HttpParse::bad_request, 400,
                          "invalid character in request target");
        }
    }
    // RFC 9112 2.3: "HTTP/" DIGIT "." DIGIT, case-sensitive.
    if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[5] < '0' ||
        version[5] > '9' || version[6] != '.' || version[7] < '0' || version[7] > '9') {
        return reject(request, HttpParse::bad_request, 400, "malformed HTTP version");
    }
    if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
        return reject(request, HttpParse::unsupported, 505, "only HTTP/1.0 and HTTP/1.1");
    }
    request.method = method;
    request.version_minor = version[7] - '0';

    if (target == "*") {
        if (method != "OPTIONS") {
            return reject(request, HttpParse::bad_request, 400, "'*' target is for OPTIONS");
        }
        request.path = target;
        return HttpParse::complete;
    }
    if (target.front() != '/') {
        // Absolute-form (RFC 9112 3.2.2): servers must accept it; keep only path and query.
        std::size_t scheme_end = target.find("://");
        if (scheme_end == std::string_view::npos ||
            !(http_iequals(target.substr(0, scheme_end), "http") ||
              http_iequals(target.substr(0, scheme_end), "https"))) {
            return reject(request, HttpParse::bad_request, 400, "unsupported request target");
        }
        std::size_t path_start = target.find('/', scheme_end + 3);
        if (path_start == std::string_view::npos) {
            return reject(request, HttpParse::bad_request, 400, "absolute target without path");
        }
        target.remove_prefix(path_start);
    }
    std::size_t question = target.find('?');
    if (question == std::string_view::npos) {
        request.path = target;
    } else {
        request.path = target.substr(0, question);
        request.query = target.substr(question + 1);
    }
    return HttpParse::complete;
}

// Decimal digits only, at most kHttpMaxBodyBytes; `too_big` tells an over-limit number from
// a malformed one.
bool parse_content_length(std::string_view text, std::size_t& length, bool& too_big) noexcept {
    too_big = false;
    if (text.empty()) {
        return false;
    }
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return false;
        }
        if (!too_big) {
            value = value * 10 + static_cast<std::uint64_t>(c - '0');
            too_big = value > kHttpMaxBodyBytes;  // stops before the value could overflow
        }
    }
    length = static_cast<std::size_t>(value);
    return true;
}

// Connection is a comma-separated list of case-insensitive options (RFC 9110 7.6.1).
void scan_connection_options(std::string_view value, bool& close, bool& keep_alive) noexcept {
    while (!value.empty()) {
        std::size_t comma = value.find(',');
        std::string_view option = trim_blanks(value.substr(0, comma));
        if (http_iequals(option, "close")) {
            close = true;
        } else if (http_iequals(option, "keep-alive")) {
            keep_alive = true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        value.remove_prefix(comma + 1);
    }
}

}  // namespace

bool http_iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) {
            return false;
        }
    }
    return true;
}

bool http_is_token(std::string_view text) noexcept {
    if (text.empty()) {
        return false;
    }
    for (char c : text) {
        if (!is_token_char(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

bool http_is_field_value(std::string_view text) noexcept {
    for (char c : text) {
        if (!is_field_value_char(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return true;
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i) {
        if (http_iequals(headers[i].name, name)) {
            return headers[i].value;
        }
    }
    return std::nullopt;
}

HttpParse parse_http_request(std::string_view bytes, HttpRequest& request) noexcept {
    request = HttpRequest{};
    LineReader reader(bytes);
    std::string_view line;

    auto incomplete_or_error = [&](LineReader::Result result, bool in_request_line) {
        switch (result) {
            case LineReader::Result::bare_line_ending:
                return reject(request, HttpParse::bad_request, 400,
                              "line not ended by CRLF (bare CR or LF)");
            case LineReader::Result::over_limit:
                return in_request_line
                           ? reject(request, HttpParse::too_large, 414, "request line over 8 KiB")
                           : reject(request, HttpParse::too_large, 431, "request head over 8 KiB");
            default:
                return HttpParse::incomplete;
        }
    };

    // Request line, after any empty lines a client may send between pipelined requests.
    LineReader::Result result;
    while ((result = reader.next(line)) == LineReader::Result::line && line.empty()) {
    }
    if (result != LineReader::Result::line) {
        if (result != LineReader::Result::bare_line_ending &&
            !method_prefix_plausible(reader.rest())) {
            return reject(request, HttpParse::bad_request, 400, "malformed method");
        }
        return incomplete_or_error(result, true);
    }
    if (HttpParse parsed = parse_request_line(line, request); parsed != HttpParse::complete) {
        return parsed;
    }

    // Header fields, up to the blank line.
    std::size_t host_count = 0;
    std::size_t content_length_count = 0;
    std::size_t authorization_count = 0;
    bool transfer_encoding = false;
    bool connection_close = false;
    bool connection_keep_alive = false;
    std::string_view content_length_text;
    for (;;) {
        result = reader.next(line);
        if (result != LineReader::Result::line) {
            return incomplete_or_error(result, false);
        }
        if (line.empty()) {
            break;
        }
        if (request.header_count == kHttpMaxHeaders) {
            return reject(request, HttpParse::too_large, 431, "more than 64 header fields");
        }
        if (line.front() == ' ' || line.front() == '\t') {
            return reject(request, HttpParse::bad_request, 400, "obsolete header line folding");
        }
        std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) {
            return reject(request, HttpParse::bad_request, 400, "header line without ':'");
        }
        std::string_view name = line.substr(0, colon);
        if (!http_is_token(name)) {
            return reject(request, HttpParse::bad_request, 400, "malformed header name");
        }
        std::string_view value = trim_blanks(line.substr(colon + 1));
        if (!http_is_field_value(value)) {
            return reject(request, HttpParse::bad_request, 400,
                          "control character in header value");
        }
        request.headers[request.header_count++] = HttpHeader{name, value};

        if (http_iequals(name, "host")) {
            ++host_count;
            request.host = value;
        } else if (http_iequals(name, "content-length")) {
            ++content_length_count;
            content_length_text = value;
        } else if (http_iequals(name, "transfer-encoding")) {
            transfer_encoding = true;
        } else if (http_iequals(name, "authorization")) {
            ++authorization_count;
            request.authorization = value;
        } else if (http_iequals(name, "connection")) {
            scan_connection_options(value, connection_close, connection_keep_alive);
        } else if (http_iequals(name, "expect")) {
            request.expect_continue = http_iequals(value, "100-continue");
        }
    }
    request.head_size = reader.position();

    if (transfer_encoding) {
        return reject(request, HttpParse::unsupported, 501, "Transfer-Encoding not supported");
    }
    if (host_count > 1 || (request.version_minor == 1 && host_count == 0)) {
        return reject(request, HttpParse::bad_request, 400,
                      "HTTP/1.1 needs exactly one Host header");
    }
    if (authorization_count > 1) {
        return reject(request, HttpParse::bad_request, 400, "more than one Authorization");
    }
    std::size_t content_length = 0;
    if (content_length_count > 1) {
        return reject(request, HttpParse::bad_request, 400, "more than one Content-Length");
    }
    if (content_length_count == 1) {
        bool too_big = false;
        if (!parse_content_length(content_length_text, content_length, too_big)) {
            return reject(request, HttpParse::bad_request, 400, "malformed Content-Length");
        }
        if (too_big) {
            return reject(request, HttpParse::too_large, 413, "body over 4 KiB");
        }
    }
    request.keep_alive =
        request.version_minor == 1 ? !connection_close : connection_keep_alive && !connection_close;

    if (bytes.size() - request.head_size < content_length) {
        return HttpParse::incomplete;
    }
    request.body = bytes.substr(request.head_size, content_length);
    request.size = request.head_size + content_length;
    return HttpParse::complete;
}

std::optional<std::string_view> query_param(std::string_view query,
                                            std::string_view name) noexcept {
    while (!query.empty()) {
        std::size_t ampersand = query.find('&');
        std::string_view pair = query.substr(0, ampersand);
        std::size_t equals = pair.find('=');
        std::string_view key = pair.substr(0, equals);
        if (key == name) {
            return equals == std::string_view::npos ? pair.substr(pair.size())
                                                    : pair.substr(equals + 1);
        }
        if (ampersand == std::string_view::npos) {
            break;
        }
        query.remove_prefix(ampersand + 1);
    }
    return std::nullopt;
}

}  // namespace ringlb
