// SPDX-License-Identifier: MIT
// docs/CONFIG.md documents every key the loader accepts, each written as `table.key`.
#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "ringlb/loader/loader.hpp"

namespace {

std::string read_config_reference() {
    std::ifstream file(RINGLB_SOURCE_DIR "/docs/CONFIG.md", std::ios::binary);
    REQUIRE(file);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

}  // namespace

TEST_CASE("every key the loader accepts is documented in docs/CONFIG.md") {
    const std::string reference = read_config_reference();
    const auto keys = ringlb::config::known_keys();
    REQUIRE_FALSE(keys.empty());
    for (const std::string& key : keys) {
        INFO("docs/CONFIG.md does not mention `" << key << "`");
        CHECK(reference.find('`' + key + '`') != std::string::npos);
    }
}

TEST_CASE("the reference names no key the loader does not accept") {
    // A `table.key` in the reference that the loader would reject is stale or misspelt.
    const std::string reference = read_config_reference();
    const auto keys = ringlb::config::known_keys();
    auto is_key_char = [](char c) { return (c >= 'a' && c <= 'z') || c == '_' || c == '.'; };
    int checked = 0;
    for (std::size_t at = reference.find('`'); at != std::string::npos;
         at = reference.find('`', at + 1)) {
        std::size_t end = at + 1;
        while (end < reference.size() && is_key_char(reference[end])) {
            ++end;
        }
        if (end >= reference.size() || reference[end] != '`') {
            continue;
        }
        const std::string word = reference.substr(at + 1, end - at - 1);
        const bool dotted_key = word.find('.') != std::string::npos &&
                                (word.rfind("global.", 0) == 0 || word.rfind("admin.", 0) == 0 ||
                                 word.rfind("listener.", 0) == 0 || word.rfind("pool.", 0) == 0);
        // [pool.health] and [[pool.backend]] are tables, not keys.
        if (!dotted_key || word == "pool.health" || word == "pool.backend") {
            continue;
        }
        ++checked;
        INFO("docs/CONFIG.md mentions `" << word << "`, which the loader does not accept");
        CHECK(std::find(keys.begin(), keys.end(), word) != keys.end());
        at = end;
    }
    CHECK(checked >= static_cast<int>(keys.size()));
}
