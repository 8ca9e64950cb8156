// SPDX-License-Identifier: MIT
// Log line formatting and the process-wide log level.
#include "ringlb/base/log.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <ctime>

namespace ringlb {

namespace detail {
std::atomic<int> g_log_level{static_cast<int>(LogLevel::info)};

void write_log_line(LogLevel level, std::string_view message) noexcept {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    std::array<char, 1024> line{};
    std::string_view name = log_level_name(level);
    auto result = fmt::format_to_n(line.data(), line.size() - 1,
                                   "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} {}\n",
                                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                                   utc.tm_min, utc.tm_sec, now.tv_nsec / 1000000, name, message);
    std::size_t length = std::min(result.size, line.size() - 1);
    if (result.size > line.size() - 1) {
        line[length - 1] = '\n';  // an over-long message is cut but still ends its line
    }
    const char* data = line.data();
    while (length > 0) {
        ssize_t written = ::write(STDERR_FILENO, data, length);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return;
        }
        data += written;
        length -= static_cast<std::size_t>(written);
    }
}
}  // namespace detail

void set_log_level(LogLevel level) noexcept {
    detail::g_log_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

std::optional<LogLevel> parse_log_level(std::string_view text) noexcept {
    if (text == "trace")
        return LogLevel::trace;
    if (text == "debug")
        return LogLevel::debug;
    if (text == "info")
        return LogLevel::info;
    if (text == "warn")
        return LogLevel::warn;
    if (text == "error")
        return LogLevel::error;
    return std::nullopt;
}

std::string_view log_level_name(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::trace:
            return "trace";
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "?";
}

}  // namespace ringlb
