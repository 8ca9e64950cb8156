// SPDX-License-Identifier: MIT
// A tiny HTTP/1.1 client for ringlb's admin endpoint, and strict parsers for what it serves
// (Prometheus text exposition, JSON), for the integration tests.
#pragma once

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace ringlb::test {

// ---------------------------------------------------------------------------------------
// HTTP

// One HTTP response as the client received it.
struct HttpReply final {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // in order, names as sent
    std::string body;

    // The first header with this name (ASCII case-insensitive), if any.
    [[nodiscard]] std::optional<std::string> header(std::string_view name) const {
        for (const auto& [key, value] : headers) {
            if (key.size() == name.size() &&
                std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
                    return std::tolower(static_cast<unsigned char>(a)) ==
                           std::tolower(static_cast<unsigned char>(b));
                })) {
                return value;
            }
        }
        return std::nullopt;
    }
};

// Parses the first response in `data`: status line, header fields, then a body of exactly
// Content-Length bytes (or everything up to the end of `data` without one). nullopt when the
// bytes are malformed or the response is not complete yet.
[[nodiscard]] inline std::optional<HttpReply> parse_http_reply(std::string_view data) {
    const std::size_t head_end = data.find("\r\n\r\n");
    if (head_end == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view head = data.substr(0, head_end + 2);
    const std::size_t first_line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, first_line_end);
    // "HTTP/1.1 200 OK": version, a space, three digits, then a space or the end.
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
        (status_line.size() > 12 && status_line[12] != ' ')) {
        return std::nullopt;
    }
    HttpReply reply;
    const auto [end, error] =
        std::from_chars(status_line.data() + 9, status_line.data() + 12, reply.status);
    if (error != std::errc{} || end != status_line.data() + 12) {
        return std::nullopt;
    }
    head.remove_prefix(first_line_end + 2);
    std::optional<std::size_t> content_length;
    while (!head.empty()) {
        const std::size_t line_end = head.find("\r\n");
        const std::string_view line = head.substr(0, line_end);
        head.remove_prefix(line_end + 2);
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return std::nullopt;
        }
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        reply.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    if (const auto length = reply.header("Content-Length")) {
        std::size_t n = 0;
        const auto [length_end, length_error] =
            std::from_chars(length->data(), length->data() + length->size(), n);
        if (length_error != std::errc{} || length_end != length->data() + length->size()) {
            return std::nullopt;
        }
        content_length = n;
    }
    const std::string_view rest = data.substr(head_end + 4);
    if (content_length) {
        if (rest.size() < *content_length) {
            return std::nullopt;
        }
        reply.body = std::string(rest.substr(0, *content_length));
    } else {
        reply.body = std::string(rest);
    }
    return reply;
}

// What came back for raw request bytes: everything read until the server closed (or the
// deadline), how the stream ended, and the response parsed from it, if any.
struct RawExchange final {
    std::string data;
    bool eof = false;
    int error = 0;  // errno when the stream ended with an error (ECONNRESET...)
    bool timed_out = false;
    std::optional<HttpReply> reply;
};

// Sends `raw` as it is and reads until the server closes the connection or the deadline
// passes. A send the server cuts short (it may answer and close before reading everything,
// e.g. for a request over its limits) is not an error: what it answered is still read.
[[nodiscard]] inline RawExchange exchange_raw(std::uint16_t port, std::string_view raw,
                                              milliseconds timeout = milliseconds(5000)) {
    const Deadline deadline = deadline_in(timeout);
    UniqueFd fd = connect_to(port, timeout);
    try {
        send_all(fd.get(), raw, deadline);
    } catch (const HarnessError&) {
        // EPIPE / ECONNRESET / a full window the server stopped reading: see what it said.
    }
    ReadResult read = read_until_close(fd.get(), deadline);
    RawExchange result;
    result.data = std::move(read.data);
    result.eof = read.eof;
    result.error = read.error;
    result.timed_out = read.timed_out;
    result.reply = parse_http_reply(result.data);
    return result;
}

// Requests to one admin endpoint, each on its own connection ("Connection: close"), with an
// optional bearer token.
class AdminClient final {
  public:
    explicit AdminClient(std::uint16_t port, std::optional<std::string> token = std::nullopt)
        : port_(port), token_(std::move(token)) {}

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

    // Sends one request and returns the response; throws HarnessError when none arrives
    // whole before the server closes or the timeout passes. `extra_headers` are whole lines
    // without their CRLF ("X-A: b").
    [[nodiscard]] HttpReply request(std::string_view method, std::string_view target,
                                    const std::vector<std::string>& extra_headers = {},
                                    milliseconds timeout = milliseconds(5000)) const {
        std::string raw = std::string(method) + " " + std::string(target) +
                          " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) +
                          "\r\nConnection: close\r\n";
        if (token_) {
            raw += "Authorization: Bearer " + *token_ + "\r\n";
        }
        for (const std::string& line : extra_headers) {
            raw += line + "\r\n";
        }
        if (method == "POST") {
            raw += "Content-Length: 0\r\n";
        }
        raw += "\r\n";
        RawExchange exchange = exchange_raw(port_, raw, timeout);
        if (!exchange.reply) {
            throw HarnessError(
                std::string("admin ") + std::string(method) + " " + std::string(target) +
                ": no complete response (" + std::to_string(exchange.data.size()) + " bytes: \"" +
                exchange.data.substr(0, 200) + "\"" + (exchange.timed_out ? ", timed out" : "") +
                (exchange.error != 0 ? std::string(", ") + std::strerror(exchange.error)
                                     : std::string()) +
                ")");
        }
        return std::move(*exchange.reply);
    }
    [[nodiscard]] HttpReply get(std::string_view target) const { return request("GET", target); }
    [[nodiscard]] HttpReply post(std::string_view target) const { return request("POST", target); }

  private:
    std::uint16_t port_;
    std::optional<std::string> token_;
};

// The admin port from ringlb's "admin listening address=127.0.0.1:PORT" line.
[[nodiscard]] inline std::uint16_t admin_port(Process& ringlb,
                                              milliseconds timeout = milliseconds(5000)) {
    const LineMatch match =
        ringlb.wait_for_line(R"(admin listening address=127\.0\.0\.1:(\d+))", timeout);
    return static_cast<std::uint16_t>(std::stoul(match.groups[1]));
}

// ---------------------------------------------------------------------------------------
// Prometheus text exposition format 0.0.4

struct MetricSample final {
    std::string name;
    std::map<std::string, std::string> labels;  // values unescaped
    double value = 0;
};

struct Metrics final {
    std::map<std::string, std::string> types;  // family -> counter | gauge | ...
    std::vector<MetricSample> samples;         // in text order

    // The value of the sample named `name` whose labels are exactly `labels`, if any.
    [[nodiscard]] std::optional<double> find(
        std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
        for (const MetricSample& sample : samples) {
            if (sample.name == name && sample.labels == labels) {
                return sample.value;
            }
        }
        return std::nullopt;
    }
    // The same, but throws HarnessError (listing the samples of that name) when absent.
    [[nodiscard]] double at(std::string_view name,
                            const std::map<std::string, std::string>& labels = {}) const {
        if (auto value = find(name, labels)) {
            return *value;
        }
        std::string wanted;
        for (const auto& [key, value] : labels) {
            wanted += key + "=\"" + value + "\" ";
        }
        std::string present;
        for (const MetricSample& sample : matching(name)) {
            present += "\n  {";
            for (const auto& [key, value] : sample.labels) {
                present += key + "=\"" + value + "\",";
            }
            present += "} " + std::to_string(sample.value);
        }
        throw HarnessError("no sample " + std::string(name) + " {" + wanted +
                           "}; samples of that name:" + (present.empty() ? " none" : present));
    }
    // Every sample named `name` whose labels include all of `labels`.
    [[nodiscard]] std::vector<MetricSample> matching(
        std::string_view name, const std::map<std::string, std::string>& labels = {}) const {
        std::vector<MetricSample> found;
        for (const MetricSample& sample : samples) {
            if (sample.name != name) {
                continue;
            }
            bool all = true;
            for (const auto& [key, value] : labels) {
                const auto it = sample.labels.find(key);
                all = all && it != sample.labels.end() && it->second == value;
            }
            if (all) {
                found.push_back(sample);
            }
        }
        return found;
    }
};

namespace detail {

[[nodiscard]] inline bool is_metric_name(std::string_view name) noexcept {
    if (name.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const auto c = static_cast<unsigned char>(name[i]);
        const bool ok = std::isalpha(c) || c == '_' || c == ':' || (i > 0 && std::isdigit(c));
        if (!ok) {
            return false;
        }
    }
    return true;
}

[[nodiscard]] inline bool is_label_name(std::string_view name) noexcept {
    return is_metric_name(name) && name.find(':') == std::string_view::npos &&
           name.substr(0, 2) != "__";
}

// A sample value: a Go ParseFloat number, or +Inf, -Inf, NaN.
[[nodiscard]] inline std::optional<double> parse_sample_value(std::string_view text) {
    if (text == "+Inf" || text == "Inf") {
        return HUGE_VAL;
    }
    if (text == "-Inf") {
        return -HUGE_VAL;
    }
    if (text == "NaN") {
        return std::nan("");
    }
    if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string_view::npos) {
        return std::nullopt;
    }
    const std::string copy(text);
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size() || errno == ERANGE) {
        return std::nullopt;
    }
    return value;
}

// The family a sample belongs to: its own name, or for histograms and summaries the name
// without the _bucket / _sum / _count suffix.
[[nodiscard]] inline std::string family_of(const std::string& name,
                                           const std::map<std::string, std::string>& types) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (name.size() > suffix.size() && name.ends_with(suffix)) {
            const std::string base = name.substr(0, name.size() - suffix.size());
            const auto it = types.find(base);
            if (it != types.end() && (it->second == "histogram" || it->second == "summary")) {
                return base;
            }
        }
    }
    return name;
}

}  // namespace detail

// Parses and validates a text exposition: HELP and TYPE lines well formed and at most one of
// each per family, every sample's family TYPEd before its first sample, a family's lines
// contiguous, metric and label names legal, label values correctly quoted and escaped, no
// label twice in a sample, no series twice, values numbers, the text ending in a newline.
// Throws HarnessError naming the line and the rule on the first violation.
[[nodiscard]] inline Metrics parse_metrics(std::string_view text) {
    Metrics metrics;
    std::set<std::string> helped;
    std::set<std::string> finished;  // families whose lines ended (another family came after)
    std::set<std::string> series;
    std::string current;  // the family of the previous HELP, TYPE or sample line
    std::size_t line_number = 0;
    auto fail = [&](std::string_view line, const std::string& why) {
        throw HarnessError("metrics line " + std::to_string(line_number) + ": " + why + ": \"" +
                           std::string(line) + "\"");
    };
    auto enter_family = [&](std::string_view line, const std::string& family) {
        if (family == current) {
            return;
        }
        if (finished.count(family) != 0) {
            fail(line, "family " + family + " continues after another family's lines");
        }
        if (!current.empty()) {
            finished.insert(current);
        }
        current = family;
    };
    if (!text.empty() && text.back() != '\n') {
        throw HarnessError("metrics text does not end with a newline");
    }
    while (!text.empty()) {
        const std::size_t newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text.remove_prefix(newline + 1);
        ++line_number;
        if (line.empty()) {
            continue;
        }
        if (line.front() == '#') {
            const bool is_help = line.substr(0, 7) == "# HELP ";
            const bool is_type = line.substr(0, 7) == "# TYPE ";
            if (!is_help && !is_type) {
                continue;  // a plain comment
            }
            std::string_view rest = line.substr(7);
            const std::size_t space = rest.find(' ');
            const std::string name(rest.substr(0, space));
            if (!detail::is_metric_name(name)) {
                fail(line, "malformed metric name");
            }
            enter_family(line, name);
            if (is_help) {
                if (!helped.insert(name).second) {
                    fail(line, "second HELP for " + name);
                }
                continue;
            }
            if (space == std::string_view::npos) {
                fail(line, "TYPE without a type");
            }
            const std::string type(rest.substr(space + 1));
            if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
                type != "untyped") {
                fail(line, "unknown type " + type);
            }
            if (metrics.types.count(name) != 0) {
                fail(line, "second TYPE for " + name);
            }
            for (const MetricSample& sample : metrics.samples) {
                if (detail::family_of(sample.name, metrics.types) == name) {
                    fail(line, "TYPE after samples of " + name);
                }
            }
            metrics.types[name] = type;
            continue;
        }

        MetricSample sample;
        std::size_t i = 0;
        while (i < line.size() && line[i] != '{' && line[i] != ' ' && line[i] != '\t') {
            ++i;
        }
        sample.name = std::string(line.substr(0, i));
        if (!detail::is_metric_name(sample.name)) {
            fail(line, "malformed metric name");
        }
        if (i < line.size() && line[i] == '{') {
            ++i;
            for (;;) {
                if (i < line.size() && line[i] == '}') {
                    ++i;
                    break;
                }
                const std::size_t equals = line.find('=', i);
                if (equals == std::string_view::npos) {
                    fail(line, "label without '='");
                }
                const std::string label(line.substr(i, equals - i));
                if (!detail::is_label_name(label)) {
                    fail(line, "malformed label name \"" + label + "\"");
                }
                i = equals + 1;
                if (i >= line.size() || line[i] != '"') {
                    fail(line, "label value not quoted");
                }
                ++i;
                std::string value;
                for (;;) {
                    if (i >= line.size()) {
                        fail(line, "unterminated label value");
                    }
                    const char c = line[i++];
                    if (c == '"') {
                        break;
                    }
                    if (c == '\\') {
                        if (i >= line.size()) {
                            fail(line, "unterminated escape");
                        }
                        const char escaped = line[i++];
                        if (escaped == 'n') {
                            value += '\n';
                        } else if (escaped == '\\' || escaped == '"') {
                            value += escaped;
                        } else {
                            fail(line, "invalid escape in a label value");
                        }
                        continue;
                    }
                    value += c;
                }
                if (!sample.labels.emplace(label, std::move(value)).second) {
                    fail(line, "label " + label + " twice");
                }
                if (i < line.size() && line[i] == ',') {
                    ++i;
                } else if (i >= line.size() || line[i] != '}') {
                    fail(line, "expected ',' or '}' after a label");
                }
            }
        }
        if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) {
            fail(line, "no whitespace before the value");
        }
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
            ++i;
        }
        std::string_view fields = line.substr(i);
        const std::size_t value_end = fields.find_first_of(" \t");
        const std::optional<double> value = detail::parse_sample_value(fields.substr(0, value_end));
        if (!value) {
            fail(line, "malformed value");
        }
        sample.value = *value;
        if (value_end != std::string_view::npos) {
            std::string_view timestamp = fields.substr(value_end);
            while (!timestamp.empty() && (timestamp.front() == ' ' || timestamp.front() == '\t')) {
                timestamp.remove_prefix(1);
            }
            std::int64_t ms = 0;
            const auto [end, error] =
                std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), ms);
            if (timestamp.empty() || error != std::errc{} ||
                end != timestamp.data() + timestamp.size()) {
                fail(line, "malformed timestamp");
            }
        }
        const std::string family = detail::family_of(sample.name, metrics.types);
        if (metrics.types.count(family) == 0) {
            fail(line, "sample before any TYPE line for " + family);
        }
        enter_family(line, family);
        std::string key = sample.name + "{";
        for (const auto& [label, label_value] : sample.labels) {
            key += label + "=\"" + label_value + "\",";
        }
        if (!series.insert(key).second) {
            fail(line, "series appears twice");
        }
        metrics.samples.push_back(std::move(sample));
    }
    return metrics;
}

// GET /metrics, parsed; throws HarnessError unless the answer is 200 with valid text.
[[nodiscard]] inline Metrics get_metrics(const AdminClient& admin) {
    const HttpReply reply = admin.get("/metrics");
    if (reply.status != 200) {
        throw HarnessError("GET /metrics answered " + std::to_string(reply.status) + ": " +
                           reply.body.substr(0, 300));
    }
    return parse_metrics(reply.body);
}

// Polls /metrics until `done` holds or the timeout passes; returns the last scrape.
[[nodiscard]] inline Metrics wait_for_metrics(const AdminClient& admin,
                                              const std::function<bool(const Metrics&)>& done,
                                              milliseconds timeout = milliseconds(5000)) {
    const Deadline deadline = deadline_in(timeout);
    for (;;) {
        Metrics metrics = get_metrics(admin);
        if (done(metrics) || Clock::now() >= deadline) {
            return metrics;
        }
        std::this_thread::sleep_for(milliseconds(20));
    }
}

// Polls until the sample `name` whose labels are exactly `labels` equals `expected` or the
// timeout passes, for counters that ringlb updates asynchronously; returns its last value.
// Throws HarnessError when there is no such sample.
[[nodiscard]] inline double wait_for_sample(const AdminClient& admin, std::string_view name,
                                            const std::map<std::string, std::string>& labels,
                                            double expected,
                                            milliseconds timeout = milliseconds(2000)) {
    const Metrics metrics = wait_for_metrics(
        admin, [&](const Metrics& m) { return m.find(name, labels) == expected; }, timeout);
    return metrics.at(name, labels);
}

// ringlb_connections_rejected_total{listener, reason}, waited for as wait_for_sample does.
[[nodiscard]] inline double wait_for_rejected(const AdminClient& admin, const std::string& listener,
                                              const std::string& reason, double expected) {
    return wait_for_sample(admin, "ringlb_connections_rejected_total",
                           {{"listener", listener}, {"reason", reason}}, expected);
}

// ---------------------------------------------------------------------------------------
// JSON (RFC 8259), enough to check and read /status

struct Json final {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string string;
    std::vector<Json> array;
    // An object's members in order, names unique: two vectors, because a vector of
    // pair<string, Json> needs Json complete where clang 14 instantiates it.
    std::vector<std::string> member_names;
    std::vector<Json> members;

    // The member named `key` of an object, or nullptr (also when this is not an object).
    [[nodiscard]] const Json* find(std::string_view key) const noexcept {
        for (std::size_t i = 0; i < member_names.size(); ++i) {
            if (member_names[i] == key) {
                return &members[i];
            }
        }
        return nullptr;
    }
    // The member named `key`; throws HarnessError when absent or when this is not an object.
    [[nodiscard]] const Json& at(std::string_view key) const {
        if (const Json* value = find(key)) {
            return *value;
        }
        throw HarnessError("JSON: no member \"" + std::string(key) + "\"");
    }
};

namespace detail {

class JsonParser final {
  public:
    explicit JsonParser(std::string_view text) : text_(text) {}

    Json parse_document() {
        Json value = parse_value(0);
        skip_space();
        if (at_ != text_.size()) {
            fail("text after the value");
        }
        return value;
    }

  private:
    static constexpr int kMaxDepth = 64;

    [[noreturn]] void fail(const std::string& why) const {
        throw HarnessError("JSON: " + why + " at offset " + std::to_string(at_) + " near \"" +
                           std::string(text_.substr(at_ > 20 ? at_ - 20 : 0, 40)) + "\"");
    }
    void skip_space() noexcept {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' ||
                                      text_[at_] == '\n' || text_[at_] == '\r')) {
            ++at_;
        }
    }
    void expect(char c) {
        skip_space();
        if (at_ >= text_.size() || text_[at_] != c) {
            fail(std::string("expected '") + c + "'");
        }
        ++at_;
    }
    bool consume_literal(std::string_view literal) noexcept {
        if (text_.substr(at_, literal.size()) == literal) {
            at_ += literal.size();
            return true;
        }
        return false;
    }

    Json parse_value(int depth) {
        if (depth > kMaxDepth) {
            fail("nested too deeply");
        }
        skip_space();
        if (at_ >= text_.size()) {
            fail("unexpected end");
        }
        Json value;
        const char c = text_[at_];
        if (c == '{') {
            value.kind = Json::Kind::object;
            ++at_;
            skip_space();
            if (at_ < text_.size() && text_[at_] == '}') {
                ++at_;
                return value;
            }
            for (;;) {
                skip_space();
                if (at_ >= text_.size() || text_[at_] != '"') {
                    fail("expected a member name");
                }
                std::string name = parse_string();
                if (value.find(name) != nullptr) {
                    fail("duplicate member \"" + name + "\"");
                }
                expect(':');
                Json member = parse_value(depth + 1);
                value.member_names.push_back(std::move(name));
                value.members.push_back(std::move(member));
                skip_space();
                if (at_ < text_.size() && text_[at_] == ',') {
                    ++at_;
                    continue;
                }
                expect('}');
                return value;
            }
        }
        if (c == '[') {
            value.kind = Json::Kind::array;
            ++at_;
            skip_space();
            if (at_ < text_.size() && text_[at_] == ']') {
                ++at_;
                return value;
            }
            for (;;) {
                value.array.push_back(parse_value(depth + 1));
                skip_space();
                if (at_ < text_.size() && text_[at_] == ',') {
                    ++at_;
                    continue;
                }
                expect(']');
                return value;
            }
        }
        if (c == '"') {
            value.kind = Json::Kind::string;
            value.string = parse_string();
            return value;
        }
        if (consume_literal("true")) {
            value.kind = Json::Kind::boolean;
            value.boolean = true;
            return value;
        }
        if (consume_literal("false")) {
            value.kind = Json::Kind::boolean;
            return value;
        }
        if (consume_literal("null")) {
            return value;
        }
        value.kind = Json::Kind::number;
        value.number = parse_number();
        return value;
    }

    double parse_number() {
        const std::size_t start = at_;
        auto digits = [&] {
            const std::size_t first = at_;
            while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) {
                ++at_;
            }
            return at_ - first;
        };
        if (at_ < text_.size() && text_[at_] == '-') {
            ++at_;
        }
        const std::size_t integer_start = at_;
        const std::size_t integer_digits = digits();
        if (integer_digits == 0 || (integer_digits > 1 && text_[integer_start] == '0')) {
            fail("malformed number");
        }
        if (at_ < text_.size() && text_[at_] == '.') {
            ++at_;
            if (digits() == 0) {
                fail("malformed fraction");
            }
        }
        if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
            ++at_;
            if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) {
                ++at_;
            }
            if (digits() == 0) {
                fail("malformed exponent");
            }
        }
        return std::strtod(std::string(text_.substr(start, at_ - start)).c_str(), nullptr);
    }

    static void append_utf8(std::string& out, unsigned code) {
        if (code < 0x80) {
            out += static_cast<char>(code);
        } else if (code < 0x800) {
            out += static_cast<char>(0xC0 | (code >> 6));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += static_cast<char>(0xE0 | (code >> 12));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (code >> 18));
            out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (code & 0x3F));
        }
    }

    unsigned parse_hex4() {
        unsigned code = 0;
        if (at_ + 4 > text_.size()) {
            fail("short \\u escape");
        }
        const auto [end, error] =
            std::from_chars(text_.data() + at_, text_.data() + at_ + 4, code, 16);
        if (error != std::errc{} || end != text_.data() + at_ + 4) {
            fail("malformed \\u escape");
        }
        at_ += 4;
        return code;
    }

    std::string parse_string() {
        ++at_;  // the opening quote
        std::string out;
        for (;;) {
            if (at_ >= text_.size()) {
                fail("unterminated string");
            }
            const char c = text_[at_++];
            if (c == '"') {
                return out;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                fail("control character in a string");
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= text_.size()) {
                fail("unterminated escape");
            }
            const char escaped = text_[at_++];
            switch (escaped) {
                case '"':
                case '\\':
                case '/':
                    out += escaped;
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    unsigned code = parse_hex4();
                    if (code >= 0xD800 && code < 0xDC00 && text_.substr(at_, 2) == "\\u") {
                        at_ += 2;
                        const unsigned low = parse_hex4();
                        if (low < 0xDC00 || low >= 0xE000) {
                            fail("unpaired surrogate");
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    }
                    append_utf8(out, code);
                    break;
                }
                default:
                    fail("invalid escape");
            }
        }
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

}  // namespace detail

// Parses a whole JSON text; throws HarnessError with the offset on anything malformed.
[[nodiscard]] inline Json parse_json(std::string_view text) {
    return detail::JsonParser(text).parse_document();
}

}  // namespace ringlb::test
