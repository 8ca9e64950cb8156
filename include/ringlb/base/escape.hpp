// SPDX-License-Identifier: MIT
// Text escaping for the formats names travel in: JSON strings and Prometheus label values,
// and the test of a name for control characters that the config loader refuses.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace ringlb {

// `text` as the inside of a JSON string (RFC 8259): `"` and `\` escaped, control characters
// U+0000..U+001F as \b \f \n \r \t or \u00XX, and DEL and the C1 controls (U+0080..U+009F,
// which JSON allows raw but terminals act on) as \u00XX too; everything else (UTF-8
// included) as is. Also what config messages show a name as.
[[nodiscard]] std::string json_escape(std::string_view text);

// `text` as a Prometheus label value (text exposition format 0.0.4): `\`, `"` and a line
// feed escaped as \\ \" \n, the only escapes that format has; every other byte as is. It
// cannot make other control characters safe, which is why names with them are refused when
// the config is loaded.
[[nodiscard]] std::string prometheus_escape(std::string_view text);

// A control character found in a name: its code point and byte offset.
struct ControlCharacter final {
    char32_t code_point = 0;
    std::size_t offset = 0;
};

// The first control character of `text`: C0 (U+0000..U+001F), DEL (U+007F) or C1
// (U+0080..U+009F, encoded in UTF-8 as C2 80..C2 9F). None of them belongs in a name that
// logs, metrics and the admin API carry; nullopt when there is none.
[[nodiscard]] std::optional<ControlCharacter> find_control_character(
    std::string_view text) noexcept;

}  // namespace ringlb
