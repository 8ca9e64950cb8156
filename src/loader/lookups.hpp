// SPDX-License-Identifier: MIT
// What the loader asks the system about: user and group names, and the files a config names.
// Private to src/loader/.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

namespace ringlb::config::loader {

// A config is a few kilobytes; the cap only stops `--config /dev/zero` from eating memory.
inline constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

// The uid and primary gid of a user name, from the system's user database.
[[nodiscard]] std::optional<std::pair<unsigned, unsigned>> lookup_user(const std::string& name);

// The gid of a group name, from the system's group database.
[[nodiscard]] std::optional<unsigned> lookup_group(const std::string& name);

// Reads the whole file at `path` into `text`; returns why it could not, or "" on success.
// With `regular_only`, anything but a regular file is refused before a read could block on
// it (a FIFO, a terminal).
[[nodiscard]] std::string read_file(const std::string& path, std::string& text,
                                    std::size_t max_bytes = kMaxFileBytes,
                                    bool regular_only = false);

}  // namespace ringlb::config::loader
