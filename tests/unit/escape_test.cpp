// SPDX-License-Identifier: MIT
// The JSON and Prometheus escapers, each to its own format's rules, and the control-character
// test that keeps names fit for both.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "ringlb/base/escape.hpp"

namespace {

// A Prometheus label value read back as a scraper does: only \\, \" and \n are escapes, a
// bare `"` ends the value, and anything else after a backslash is invalid. nullopt when the
// text is not a valid label value.
std::optional<std::string> prometheus_unescape(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '"' || text[i] == '\n') {
            return std::nullopt;  // would end the value, or the line
        }
        if (text[i] != '\\') {
            out += text[i];
            continue;
        }
        if (++i == text.size()) {
            return std::nullopt;
        }
        switch (text[i]) {
            case '\\':
                out += '\\';
                break;
            case '"':
                out += '"';
                break;
            case 'n':
                out += '\n';
                break;
            default:
                return std::nullopt;
        }
    }
    return out;
}

}  // namespace

TEST_CASE("prometheus_escape uses only the three escapes of the text format") {
    CHECK(ringlb::prometheus_escape(R"(a"b\c)") == R"(a\"b\\c)");
    CHECK(ringlb::prometheus_escape("line\nbreak") == R"(line\nbreak)");
    CHECK(ringlb::prometheus_escape("café ☕") == "café ☕");
    // A tab has no escape in the format, so it stays itself: \u0009 (what the shared escaper
    // wrote) is an invalid escape that breaks the whole scrape.
    CHECK(ringlb::prometheus_escape("a\tb") == "a\tb");
    CHECK(prometheus_unescape(ringlb::prometheus_escape("a\tb")) == "a\tb");
    CHECK(ringlb::prometheus_escape("a\tb").find("\\u") == std::string::npos);
}

TEST_CASE("prometheus_escape round-trips every byte string through a scraper's reading") {
    std::mt19937 random(7);
    const std::string alphabet = std::string("ab\"\\\n\t {}=,") + "é☕";
    for (int round = 0; round < 2000; ++round) {
        std::string text;
        const int length = static_cast<int>(random() % 12);
        for (int i = 0; i < length; ++i) {
            text += alphabet[random() % alphabet.size()];
        }
        INFO("input: " << ringlb::json_escape(text));
        CHECK(prometheus_unescape(ringlb::prometheus_escape(text)) == text);
    }
}

TEST_CASE("json_escape escapes quotes, backslashes and every control character") {
    CHECK(ringlb::json_escape(R"(a"b\c)") == R"(a\"b\\c)");
    CHECK(ringlb::json_escape("\b\f\n\r\t") == R"(\b\f\n\r\t)");
    CHECK(ringlb::json_escape(std::string("\x00\x01\x1f", 3)) == R"(\u0000\u0001\u001f)");
    CHECK(ringlb::json_escape("café ☕") == "café ☕");
    // DEL and C1 (U+009B is a terminal's CSI) are legal raw in JSON, escaped all the same.
    CHECK(ringlb::json_escape("a\x7f\xc2\x9b[2J") == R"(a\u007f\u009b[2J)");
    CHECK(ringlb::json_escape("\xc2\xa0") == "\xc2\xa0");  // U+00A0 is no control character
}

TEST_CASE("find_control_character finds C0, DEL and C1 characters, and nothing else") {
    CHECK_FALSE(ringlb::find_control_character("web-1 café ☕ \"q\" \\").has_value());
    const auto tab = ringlb::find_control_character("ab\tc");
    REQUIRE(tab.has_value());
    CHECK(tab->code_point == U'\t');
    CHECK(tab->offset == 2);
    CHECK(ringlb::find_control_character("a\x7f")->code_point == 0x7f);
    const auto c1 = ringlb::find_control_character("x\xc2\x9b[2J");  // U+009B, a terminal CSI
    REQUIRE(c1.has_value());
    CHECK(c1->code_point == 0x9b);
    CHECK(c1->offset == 1);
    CHECK_FALSE(ringlb::find_control_character("\xc2\xa0").has_value());  // U+00A0 is not one
    CHECK(ringlb::find_control_character(std::string_view("a\0b", 3))->offset == 1);
}
