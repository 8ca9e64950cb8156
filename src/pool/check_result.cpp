// SPDX-License-Identifier: MIT
// Names and descriptions of health probe results.
#include "ringlb/pool/check_result.hpp"

#include <cerrno>
#include <cstring>

namespace ringlb {

std::string_view check_result_name(CheckResult result) noexcept {
    switch (result) {
        case CheckResult::none:
            return "none";
        case CheckResult::passed:
            return "passed";
        case CheckResult::refused:
            return "refused";
        case CheckResult::connect_timeout:
            return "connect_timeout";
        case CheckResult::reply_timeout:
            return "reply_timeout";
        case CheckResult::error:
            return "error";
        case CheckResult::closed:
            return "closed";
        case CheckResult::unexpected_reply:
            return "unexpected_reply";
        case CheckResult::bad_status:
            return "bad_status";
        case CheckResult::count_:
            break;
    }
    return "?";
}

std::string describe_check(CheckResult result, std::uint32_t detail) {
    switch (result) {
        case CheckResult::none:
            return "not checked yet";
        case CheckResult::passed:
            return "passed";
        // Connect failures keep the kernel's words, as the logs said before protocol checks.
        case CheckResult::refused:
            return std::strerror(ECONNREFUSED);
        case CheckResult::connect_timeout:
            return std::strerror(ETIMEDOUT);
        case CheckResult::reply_timeout:
            return "reply timeout";
        case CheckResult::error:
            return std::strerror(static_cast<int>(detail));
        case CheckResult::closed:
            return "closed before the reply passed";
        case CheckResult::unexpected_reply:
            return "unexpected reply";
        case CheckResult::bad_status:
            return "status " + std::to_string(detail);
        case CheckResult::count_:
            break;
    }
    return "?";
}

}  // namespace ringlb
