// SPDX-License-Identifier: MIT
// HTTP status ranges for pool.health.expect_status: "200", "200-299", "200-299,301".
#include <charconv>

#include "ringlb/base/escape.hpp"
#include "ringlb/base/trim.hpp"
#include "ringlb/config/config.hpp"

namespace ringlb::config {

namespace {

// A three-digit status code 100..599, or nullopt.
std::optional<unsigned> status_code(std::string_view text) noexcept {
    unsigned value = 0;
    if (text.size() != 3) {
        return std::nullopt;
    }
    auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (problem != std::errc{} || end != text.data() + text.size() || value < 100 || value > 599) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<std::vector<StatusRange>> parse_status_ranges(std::string_view text,
                                                            std::string& error) {
    std::vector<StatusRange> ranges;
    for (;;) {
        const std::size_t comma = text.find(',');
        const std::string_view item = trim_blanks(text.substr(0, comma));
        const std::size_t dash = item.find('-');
        const auto low = status_code(trim_blanks(item.substr(0, dash)));
        const auto high =
            dash == std::string_view::npos ? low : status_code(trim_blanks(item.substr(dash + 1)));
        if (!low || !high) {
            error = "\"" + json_escape(item) +
                    "\" is not a status code (100..599) nor a range of them such as \"200-399\"";
            return std::nullopt;
        }
        if (*high < *low) {
            error = "\"" + json_escape(item) + "\" runs backwards";
            return std::nullopt;
        }
        ranges.push_back({*low, *high});
        if (comma == std::string_view::npos) {
            return ranges;
        }
        text.remove_prefix(comma + 1);
    }
}

bool status_in(const std::vector<StatusRange>& ranges, unsigned status) noexcept {
    for (const StatusRange& range : ranges) {
        if (status >= range.low && status <= range.high) {
            return true;
        }
    }
    return false;
}

}  // namespace ringlb::config
