// SPDX-License-Identifier: MIT
// trim_blanks: text without its leading and trailing spaces and tabs.
#pragma once

#include <string_view>

namespace ringlb {

// `text` without the spaces and horizontal tabs at its start and end (HTTP's OWS, RFC 9110).
[[nodiscard]] constexpr std::string_view trim_blanks(std::string_view text) noexcept {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    return text;
}

}  // namespace ringlb
