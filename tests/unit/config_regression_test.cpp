// SPDX-License-Identifier: MIT
// Config loader regressions found by fuzzing (tests/fuzz): each input once crashed or tripped a
// sanitizer, and must now give a plain diagnostic (its seed is in tests/fuzz/corpus/config/).
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ringlb/loader/loader.hpp"

namespace {

using ringlb::config::LoadResult;

LoadResult load(std::string_view text) {
    return ringlb::config::load_config_string(text, "test.toml");
}

std::string utf8(char32_t c) {
    std::string out;
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
    return out;
}

// The code points that toml++ 3.3.0's is_non_ascii_horizontal_whitespace() sends to
// TOML_UNREACHABLE (marzer/tomlplusplus#190, #295): undefined behaviour in the library when
// one stands where the parser looks for whitespace.
std::vector<char32_t> toml_unreachable_code_points() {
    std::vector<char32_t> points;
    for (char32_t c = 0xA1; c <= 0x499; ++c) {
        points.push_back(c);
    }
    for (char32_t c = 0x2C5E; c <= 0x3057; ++c) {
        if (c != 0x3000) {
            points.push_back(c);
        }
    }
    for (char32_t c = 0xFB26; c <= 0xFEFE; ++c) {
        points.push_back(c);
    }
    return points;
}

// The only error of `result`, which must be a TOML syntax error on line 1.
void require_toml_error(const LoadResult& result) {
    REQUIRE_FALSE(result.config.has_value());
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].line == 1);
    CHECK(result.errors[0].message.rfind("not valid TOML: ", 0) == 0);
}

}  // namespace

TEST_CASE("a table header opening on a character no key starts with is a TOML error") {
    // toml++ 3.3.0 asserts here when built with assertions; the shipped library reports it.
    for (std::string_view text : {std::string_view("[\0", 2), std::string_view("[\\"),
                                  std::string_view("[=]\n"), std::string_view("[[#]]\n"),
                                  std::string_view("[ ,]\n"), std::string_view("[[\x01]]\n")}) {
        INFO("text: " << text);
        LoadResult result = load(text);
        require_toml_error(result);
    }
    LoadResult result = load(std::string_view("[\0", 2));
    CHECK(result.errors[0].to_string().rfind("test.toml:1:2: not valid TOML: ", 0) == 0);
}

TEST_CASE("a code point toml++ mistakes in its whitespace table is a TOML error outside strings") {
    for (char32_t c : toml_unreachable_code_points()) {
        std::string point = utf8(c);
        for (const std::string& text :
             {"a = " + point + "\n", "[" + point + "]\n", point + " = 1\n", "a = 1 " + point + "\n",
              "gl" + point + "ob = 1\n", "a = { " + point + " = 1 }\n"}) {
            INFO("U+" << std::hex << static_cast<unsigned>(c) << " in: " << text);
            require_toml_error(load(text));
        }
    }
}

TEST_CASE("a line-ending backslash in a multi-line string keeps the code point after it") {
    // The line-ending backslash trims the whitespace that follows; these code points are not
    // whitespace and must stay part of the string.
    for (char32_t c : toml_unreachable_code_points()) {
        std::string name = utf8(c) + "p";
        std::string text = "[[listener]]\nbind = \"127.0.0.1:1\"\npool = \"" + name +
                           "\"\n[[pool]]\nname = \"\"\"\\\n   " + name +
                           "\"\"\"\n[[pool.backend]]\naddress = \"127.0.0.1:2\"\n";
        INFO("U+" << std::hex << static_cast<unsigned>(c));
        LoadResult result = load(text);
        REQUIRE(result.errors.empty());
        REQUIRE(result.config.has_value());
        CHECK(result.config->pools.at(0).name == name);
    }
}
