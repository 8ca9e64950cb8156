// SPDX-License-Identifier: MIT
// CheckResult: how a backend's last health probe ended, as /status and /metrics show it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ringlb {

// `none`: not probed yet (or the pool has no [pool.health]).
enum class CheckResult : std::uint8_t {
    none,
    passed,
    refused,           // the connect was refused
    connect_timeout,   // the connect did not finish within timeout_ms
    reply_timeout,     // connected, but no (complete) reply within timeout_ms
    error,             // another socket error; the detail is the errno
    closed,            // the backend closed before its reply could pass
    unexpected_reply,  // send_expect: `expect` not in the reply; http: no status line
    bad_status,        // http: the status (the detail) is not in expect_status
    count_
};

inline constexpr std::size_t kCheckResults = static_cast<std::size_t>(CheckResult::count_);

// The metric label: "none", "passed", "refused", "connect_timeout", ...
[[nodiscard]] std::string_view check_result_name(CheckResult result) noexcept;

// For people and the "backend down" log line: connect failures in the kernel's words
// ("Connection refused", "Connection timed out", "Network is unreachable"), then "reply
// timeout", "unexpected reply", "status 503"...; `detail` is the HTTP status for bad_status
// and the errno for error.
[[nodiscard]] std::string describe_check(CheckResult result, std::uint32_t detail);

}  // namespace ringlb
