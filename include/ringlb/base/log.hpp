// SPDX-License-Identifier: MIT
// Levelled, line-atomic logging to stderr with fmt, plus a rate limiter for the data path.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace ringlb {

enum class LogLevel : int { trace = 0, debug = 1, info = 2, warn = 3, error = 4 };

[[nodiscard]] std::optional<LogLevel> parse_log_level(std::string_view text) noexcept;
[[nodiscard]] std::string_view log_level_name(LogLevel level) noexcept;

namespace detail {
extern std::atomic<int> g_log_level;
// Writes one whole line (time, level, message) with a single write(2), so that lines from
// different threads never interleave. Safe to call from any thread.
void write_log_line(LogLevel level, std::string_view message) noexcept;
}  // namespace detail

void set_log_level(LogLevel level) noexcept;

[[nodiscard]] inline bool log_enabled(LogLevel level) noexcept {
    return static_cast<int>(level) >= detail::g_log_level.load(std::memory_order_relaxed);
}

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) noexcept {
    if (!log_enabled(level)) {
        return;
    }
    try {
        fmt::memory_buffer buffer;
        fmt::format_to(std::back_inserter(buffer), format, std::forward<Args>(args)...);
        detail::write_log_line(level, std::string_view(buffer.data(), buffer.size()));
    } catch (...) {
        // Logging must never take the process down; a line lost to OOM is acceptable.
    }
}

#define RINGLB_LOG_FN(name, level)                                           \
    template <typename... Args>                                              \
    void name(fmt::format_string<Args...> format, Args&&... args) noexcept { \
        log(LogLevel::level, format, std::forward<Args>(args)...);           \
    }
RINGLB_LOG_FN(log_trace, trace)
RINGLB_LOG_FN(log_debug, debug)
RINGLB_LOG_FN(log_info, info)
RINGLB_LOG_FN(log_warn, warn)
RINGLB_LOG_FN(log_error, error)
#undef RINGLB_LOG_FN

// Lets at most one message through per interval; counts what it suppressed so the next
// message can say how many were dropped. One instance per thread (not shared): no atomics.
class RateLimiter final {
  public:
    explicit RateLimiter(std::uint64_t interval_ms) noexcept
        : interval_ns_(interval_ms * 1000000) {}

    // Returns true when the caller may log now; `suppressed` then holds how many calls were
    // refused since the last allowed one.
    [[nodiscard]] bool allow(std::uint64_t now_ns, std::uint64_t& suppressed) noexcept {
        if (now_ns - last_ns_ < interval_ns_ && last_ns_ != 0) {
            ++suppressed_;
            return false;
        }
        last_ns_ = now_ns;
        suppressed = suppressed_;
        suppressed_ = 0;
        return true;
    }

  private:
    std::uint64_t interval_ns_;
    std::uint64_t last_ns_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace ringlb
